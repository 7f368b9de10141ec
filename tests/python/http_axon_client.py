"""Real SDK dendrite (//Bob, or //Charlie for the blacklist case) against a Rust axon.

Driven by crates/axon/tests/it/interop.rs. Reads one JSON object on stdin:

    {"port": <rust axon port>, "axon_hotkey": "<ss58 of the Rust axon>",
     "other_hotkey": "<ss58 of some other key>"}

and writes one JSON object with the outcome of every case (status, message, outputs).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (must precede bittensor)

bt = sdkpeer.bt

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402

from http_axon_synapses import Dummy, Hashed, StreamCount, TensorEcho, hashed_output  # noqa: E402


class Slow(bt.Synapse):
    """Test-only synapse: the Rust handler sleeps `delay_ms` before answering."""

    delay_ms: int
    done: Optional[bool] = None


class Unknown(bt.Synapse):
    """A synapse the Rust axon does not serve."""

    value: int = 0


def axon_info(port: int, hotkey: str) -> Any:
    return bt.AxonInfo(version=10005000, ip="127.0.0.1", port=port, ip_type=4, hotkey=hotkey, coldkey=hotkey)


def outcome(syn: Any, **extra: Any) -> Dict[str, Any]:
    out = {
        "status": syn.dendrite.status_code,
        "message": syn.dendrite.status_message,
        "axon_status": syn.axon.status_code,
    }
    out.update(extra)
    return out


async def run(args: Dict[str, Any]) -> Dict[str, Any]:
    port = args["port"]
    target = axon_info(port, args["axon_hotkey"])
    bob = bt.Dendrite(wallet=sdkpeer.keypair("//Bob"))
    charlie = bt.Dendrite(wallet=sdkpeer.keypair("//Charlie"))
    results: Dict[str, Any] = {}

    syn = await bob.call(target, Dummy(dummy_input=21), timeout=10.0, deserialize=False)
    results["dummy"] = outcome(syn, output=syn.dummy_output, input=syn.dummy_input)

    # U+1FAE8 (Unicode 15.0) inside a container: this CPython's repr() escapes it, a 3.12
    # would not, so the hash checks that the axon renders like the caller's Python.
    meta = {"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": None, "nested": {"q": "it's"},
            "new": ["face \U0001fae8"]}
    req = Hashed(text="héllo wörld \"quoted\" 'x'", numbers=[1, 2, 3, -7], ratio=1e-05, flag=True, meta=meta)
    syn = await bob.call(target, req, timeout=10.0, deserialize=False)
    results["hashed"] = outcome(
        syn,
        output=syn.output,
        expected=hashed_output(req.text, req.numbers, req.ratio, req.flag, req.meta),
        body_hash=req.body_hash,
    )

    tensor = bt.Tensor.serialize(np.array([0.0, 0.5, 1.0, 1.5], dtype=np.float32))
    syn = await bob.call(target, TensorEcho(tensor=tensor, scale=2.0), timeout=10.0, deserialize=False)
    got = syn.tensor.deserialize() if syn.tensor is not None else None
    results["tensor_f32"] = outcome(
        syn,
        values=None if got is None else [float(x) for x in got.reshape(-1)],
        dtype=None if syn.tensor is None else syn.tensor.dtype,
        shape=None if syn.tensor is None else list(syn.tensor.shape),
    )

    tensor = bt.Tensor.serialize(np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int64))
    syn = await bob.call(target, TensorEcho(tensor=tensor, scale=3.0), timeout=10.0, deserialize=False)
    got = syn.tensor.deserialize() if syn.tensor is not None else None
    results["tensor_i64"] = outcome(
        syn,
        values=None if got is None else [int(x) for x in got.reshape(-1)],
        dtype=None if syn.tensor is None else syn.tensor.dtype,
        shape=None if syn.tensor is None else list(syn.tensor.shape),
    )

    chunks: List[Any] = []
    final = None
    async for item in bob.call_stream(target, StreamCount(n=3), timeout=10.0, deserialize=False):
        if isinstance(item, bt.Synapse):
            final = item
        else:
            chunks.append(item)
    results["stream"] = outcome(final, chunks=chunks) if final is not None else {"status": None, "chunks": chunks}

    wrong = axon_info(port, args["other_hotkey"])
    syn = await bob.call(wrong, Dummy(dummy_input=1), timeout=10.0, deserialize=False)
    results["wrong_axon"] = outcome(syn)

    syn = await charlie.call(target, Dummy(dummy_input=1), timeout=10.0, deserialize=False)
    results["blacklisted"] = outcome(syn)

    syn = await bob.call(target, Unknown(value=1), timeout=10.0, deserialize=False)
    results["unknown"] = outcome(syn)

    syn = await bob.call(target, Slow(delay_ms=5000), timeout=1.0, deserialize=False)
    results["slow"] = outcome(syn)

    # Replay: the dendrite never repeats a nonce, so capture one signed request and send
    # it twice by hand.
    signed = bob.preprocess_synapse_for_request(target, Dummy(dummy_input=4), 10.0)
    url = f"http://127.0.0.1:{port}/Dummy"
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(url, headers=signed.to_headers(), json=signed.model_dump()) as resp:
                await resp.read()
                statuses.append(
                    {"http": resp.status, "header": resp.headers.get("bt_header_axon_status_code")}
                )
    results["replay"] = statuses

    await bob.aclose_session()
    await charlie.aclose_session()
    return results


def main() -> None:
    args = sdkpeer.read_stdin_json()
    sdkpeer.emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
