"""The real SDK dendrite (bittensor 10.5.0 ``bt.Dendrite``) against `neuron serve`.

Driven by crates/cli/tests/sdk_interop.rs. Reads one JSON object on stdin and writes one
JSON object with the outcome of every case. Three modes:

``{"mode": "examples", "axon": {"port": P, "hotkey": "<ss58>"}}``
    //Bob queries every example synapse once or more: `Dummy`, `Hashed`, `TensorEcho`
    (several dtypes) and `StreamCount` (through ``call_stream``). Each result carries what
    the SDK decoded and what a Python user of these synapses expects (computed here with
    numpy and ``hashed_output``).

``{"mode": "blacklist", "axon": {...}}``
    The axon is a `neuron serve --blacklist <//Charlie>`: //Bob and //Charlie each call it.

``{"mode": "nonces", "sdk": {...}, "strict": {...}}``
    ``sdk`` is a `neuron serve --nonce-policy sdk`, ``strict`` one with the default
    policy. On each, two requests signed by //Bob are sent in reverse nonce order (the
    SDK rule refuses the earlier nonce once the later one was processed; the strict rule
    tolerates the reordering), and one signed request is sent twice.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (must precede bittensor)

bt = sdkpeer.bt

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402

from http_axon_synapses import Dummy, Hashed, StreamCount, TensorEcho, hashed_output  # noqa: E402

TIMEOUT = 20.0


def axon_info(target: Dict[str, Any]) -> Any:
    return bt.AxonInfo(
        version=10005000,
        ip="127.0.0.1",
        port=int(target["port"]),
        ip_type=4,
        hotkey=target["hotkey"],
        coldkey=target["hotkey"],
    )


def outcome(syn: Any, **extra: Any) -> Dict[str, Any]:
    out = {
        "status": syn.dendrite.status_code,
        "message": syn.dendrite.status_message,
        "axon_status": syn.axon.status_code,
        "axon_hotkey": syn.axon.hotkey,
    }
    out.update(extra)
    return out


def plain(values: np.ndarray) -> List[Any]:
    """Array values as JSON numbers (floats as floats, integers as integers)."""
    flat = values.reshape(-1)
    if flat.dtype.kind in "iu":
        return [int(x) for x in flat]
    if flat.dtype.kind == "b":
        return [bool(x) for x in flat]
    return [float(x) for x in flat]


# (case name, input array, scale)
TENSOR_CASES = [
    ("f32", np.array([0.0, 0.5, 1.0, 1.5], dtype=np.float32), 2.0),
    ("f64_2d", np.array([[1.25, -2.5, 3.0], [0.1, 1e300, -0.0]], dtype=np.float64), -1.5),
    ("f16", np.array([1.0, -2.0, 0.25, 65504.0], dtype=np.float16), 0.5),
    ("i64", np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int64), 3.0),
    ("i32_trunc", np.array([3, -3, 7], dtype=np.int32), 0.5),
    ("u8", np.array([0, 1, 127], dtype=np.uint8), 2.0),
]

HASHED_CASES = [
    (
        "unicode",
        dict(
            text="héllo wörld \"quoted\" 'x' \u2603",
            numbers=[1, 2, 3, -7],
            ratio=1e-05,
            flag=True,
            meta={"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": None, "nested": {"q": "it's"}},
        ),
    ),
    (
        "plain",
        dict(text="", numbers=[], ratio=0.1, flag=False, meta={}),
    ),
    (
        "big",
        dict(text="x" * 300, numbers=[2**62, 2**62, -5], ratio=1.5e300, flag=True, meta={"a": {"b": [None]}}),
    ),
]


async def examples(args: Dict[str, Any]) -> Dict[str, Any]:
    target = axon_info(args["axon"])
    bob = bt.Dendrite(wallet=sdkpeer.keypair("//Bob"))
    results: Dict[str, Any] = {"sdk_version": bt.__version__, "dendrite_hotkey": bob.keypair.ss58_address}

    dummies = []
    for value in (21, -1234567, 0):
        syn = await bob.call(target, Dummy(dummy_input=value), timeout=TIMEOUT, deserialize=False)
        dummies.append(outcome(syn, input=syn.dummy_input, output=syn.dummy_output))
    results["dummy"] = dummies

    hashed = {}
    for name, fields in HASHED_CASES:
        req = Hashed(**fields)
        expected = hashed_output(req.text, req.numbers, req.ratio, req.flag, req.meta)
        syn = await bob.call(target, req, timeout=TIMEOUT, deserialize=False)
        hashed[name] = outcome(syn, output=syn.output, expected=expected)
    results["hashed"] = hashed

    tensors = {}
    for name, array, scale in TENSOR_CASES:
        expected = np.asarray(array * scale, dtype=array.dtype)
        want = bt.Tensor.serialize(expected)
        req = TensorEcho(tensor=bt.Tensor.serialize(array), scale=scale)
        syn = await bob.call(target, req, timeout=TIMEOUT, deserialize=False)
        got = syn.tensor.deserialize() if syn.tensor is not None else None
        tensors[name] = outcome(
            syn,
            input=plain(array),
            values=None if got is None else plain(got),
            expected=plain(expected),
            dtype=None if syn.tensor is None else syn.tensor.dtype,
            decoded_dtype=None if got is None else str(got.dtype),
            shape=None if syn.tensor is None else list(syn.tensor.shape),
            expected_shape=list(want.shape),
            buffer_is_sdk_bytes=syn.tensor is not None and syn.tensor.buffer == want.buffer,
        )
    results["tensor"] = tensors

    streams = {}
    for n in (3, 0, 40):
        chunks: List[Any] = []
        final = None
        async for item in bob.call_stream(target, StreamCount(n=n), timeout=TIMEOUT, deserialize=False):
            if isinstance(item, bt.Synapse):
                final = item
            else:
                chunks.append(item)
        if final is None:
            streams[str(n)] = {"status": None, "chunks": chunks}
        else:
            streams[str(n)] = outcome(final, chunks=chunks, n=final.n)
    results["stream"] = streams

    await bob.aclose_session()
    return results


async def post(session: aiohttp.ClientSession, port: int, signed: Any) -> Dict[str, Any]:
    url = f"http://127.0.0.1:{port}/{signed.name}"
    async with session.post(url, headers=signed.to_headers(), json=signed.model_dump()) as resp:
        body = await resp.read()
        return {
            "http": resp.status,
            "status": resp.headers.get("bt_header_axon_status_code"),
            "message": resp.headers.get("bt_header_axon_status_message"),
            "body": body.decode("utf-8", "replace"),
        }


async def reordered(dendrite: Any, target_json: Dict[str, Any]) -> Dict[str, Any]:
    """Two requests signed in order (nonces n1 < n2), sent as n2 then n1."""
    target = axon_info(target_json)
    first = dendrite.preprocess_synapse_for_request(target, Dummy(dummy_input=1), TIMEOUT)
    second = dendrite.preprocess_synapse_for_request(target, Dummy(dummy_input=2), TIMEOUT)
    n1, n2 = first.dendrite.nonce, second.dendrite.nonce
    async with aiohttp.ClientSession() as session:
        later = await post(session, target.port, second)
        earlier = await post(session, target.port, first)
    return {"nonces_increase": n2 > n1, "later_first": later, "earlier_second": earlier}


async def replayed(dendrite: Any, target_json: Dict[str, Any]) -> List[Dict[str, Any]]:
    target = axon_info(target_json)
    signed = dendrite.preprocess_synapse_for_request(target, Dummy(dummy_input=4), TIMEOUT)
    async with aiohttp.ClientSession() as session:
        return [await post(session, target.port, signed) for _ in range(2)]


async def blacklist(args: Dict[str, Any]) -> Dict[str, Any]:
    target = axon_info(args["axon"])
    bob = bt.Dendrite(wallet=sdkpeer.keypair("//Bob"))
    charlie = bt.Dendrite(wallet=sdkpeer.keypair("//Charlie"))
    results: Dict[str, Any] = {
        "sdk_version": bt.__version__,
        "bob_hotkey": bob.keypair.ss58_address,
        "charlie_hotkey": charlie.keypair.ss58_address,
    }
    syn = await bob.call(target, Dummy(dummy_input=5), timeout=TIMEOUT, deserialize=False)
    results["bob"] = outcome(syn, output=syn.dummy_output)
    syn = await charlie.call(target, Dummy(dummy_input=5), timeout=TIMEOUT, deserialize=False)
    results["charlie"] = outcome(syn, output=syn.dummy_output)
    syn = await charlie.call(target, Hashed(**HASHED_CASES[1][1]), timeout=TIMEOUT, deserialize=False)
    results["charlie_hashed"] = outcome(syn, output=syn.output)
    await bob.aclose_session()
    await charlie.aclose_session()
    return results


async def nonces(args: Dict[str, Any]) -> Dict[str, Any]:
    sdk, strict = args["sdk"], args["strict"]
    # A dendrite per case: each has its own uuid, so its own nonce key on the axon.
    return {
        "sdk_version": bt.__version__,
        "reorder_sdk": await reordered(bt.Dendrite(wallet=sdkpeer.keypair("//Bob")), sdk),
        "reorder_strict": await reordered(bt.Dendrite(wallet=sdkpeer.keypair("//Bob")), strict),
        "replay_sdk": await replayed(bt.Dendrite(wallet=sdkpeer.keypair("//Bob")), sdk),
        "replay_strict": await replayed(bt.Dendrite(wallet=sdkpeer.keypair("//Bob")), strict),
    }


MODES = {"examples": examples, "blacklist": blacklist, "nonces": nonces}


def main() -> None:
    args = sdkpeer.read_stdin_json()
    mode = MODES.get(args.get("mode"))
    if mode is None:
        raise SystemExit(f"cli_sdk_dendrite: unknown mode {args.get('mode')!r}; known: {sorted(MODES)}")
    sdkpeer.emit(asyncio.run(mode(args)))


if __name__ == "__main__":
    main()
