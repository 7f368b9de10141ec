"""Throughput of the bittensor 10.5 SDK over the HTTP dialect, for `cargo xtask bench`.

Run by `neuron-bench` (bench/src/main.rs). Two modes:

* no `--port`: **SDK → SDK**. Starts an SDK axon (//Alice, 127.0.0.1, free port) in this
  process (uvicorn on its own thread, as `bt.Axon.start()` does) and drives it with SDK
  dendrites (//Bob) from this process's asyncio loop;
* `--port P --hotkey SS58`: **SDK → Rust**. The same dendrites against the Rust axon of the
  bench process on 127.0.0.1:P.

Cases (names shared with the Rust side):

* `hashed_1k_c1`   ~1 KB `Hashed` synapse, 1 request in flight;
* `hashed_1k_c64`  the same, 64 in flight (`asyncio.gather` of 64 workers);
* `tensor_1mib_c1` 1 MiB float32 `TensorEcho` (`arange(262144) * 0.001`), 1 in flight.

Each case runs `--duration` seconds after a 0.3 s warm-up; requests in flight at the deadline
finish and count. Every worker has its own `bt.Dendrite` (same //Bob key, its own uuid):
the SDK axon refuses a nonce not larger than the last one seen per (hotkey, uuid), so one
dendrite with 64 requests in flight would see reordered requests refused with 401.

Writes one JSON document on stdout:
`{"mode": ..., "cases": {name: {"ok", "errors", "seconds", "rps", "first_error"}}}`.
"""

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
import types
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (patches the SDK before use)

bt = sdkpeer.bt

import numpy as np  # noqa: E402

TENSOR_ELEMENTS = 256 * 1024
WARMUP = 0.3


class Hashed(bt.Synapse):
    text: str = ""
    numbers: List[int] = []
    ratio: float = 0.0
    flag: bool = False
    meta: dict = {}
    output: Optional[str] = None

    required_hash_fields = ("text", "numbers", "ratio", "flag", "meta")


class TensorEcho(bt.Synapse):
    tensor: Optional[bt.Tensor] = None
    scale: float = 2.0

    required_hash_fields = ("tensor",)


def forward_hashed(synapse: Hashed) -> Hashed:
    synapse.output = (
        f"{synapse.text}|{sum(synapse.numbers)}|{synapse.ratio!r}|{synapse.flag}|{len(synapse.meta)}"
    )
    return synapse


def forward_tensor(synapse: TensorEcho) -> TensorEcho:
    if synapse.tensor is not None:
        arr = synapse.tensor.deserialize()
        synapse.tensor = bt.Tensor.serialize(np.asarray(arr * synapse.scale, dtype=arr.dtype))
    return synapse


HASHED_FIELDS: Dict[str, Any] = dict(
    text="0123456789abcdef" * 56,
    numbers=list(range(16)),
    ratio=0.5,
    flag=True,
    meta={"bench": "hashed", "size": "1k"},
)
HASHED_OUTPUT = forward_hashed(Hashed(**HASHED_FIELDS)).output


def start_sdk_axon() -> tuple:
    """An SDK axon serving Hashed and TensorEcho as //Alice; returns (port, hotkey, server)."""
    alice = sdkpeer.keypair("//Alice")
    wallet = types.SimpleNamespace(hotkey=alice, coldkeypub=alice)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    axon = bt.Axon(wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1")
    axon.attach(forward_fn=forward_hashed)
    axon.attach(forward_fn=forward_tensor)
    server = axon.fast_server
    server.config.host = "127.0.0.1"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("bench_sdk: uvicorn did not start")
        time.sleep(0.005)
    return port, alice.ss58_address, (server, thread)


async def drive(
    dendrites: List[Any],
    target: Any,
    make: Callable[[], Any],
    check: Callable[[Any], bool],
    seconds: float,
) -> Dict[str, Any]:
    """Each dendrite runs calls back to back until `seconds` are over."""
    ok = 0
    errors = 0
    first_error: Optional[str] = None
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(d: Any) -> None:
        nonlocal ok, errors, first_error
        while time.perf_counter() < deadline:
            syn = await d.call(target, make(), timeout=30.0, deserialize=False)
            if syn.dendrite.status_code == 200 and check(syn):
                ok += 1
            else:
                errors += 1
                if first_error is None:
                    first_error = f"status {syn.dendrite.status_code} {syn.dendrite.status_message}"

    await asyncio.gather(*(worker(d) for d in dendrites))
    elapsed = time.perf_counter() - start
    return {
        "ok": ok,
        "errors": errors,
        "seconds": elapsed,
        "rps": ok / elapsed if elapsed > 0 else 0.0,
        "first_error": first_error,
    }


async def run(port: int, hotkey: str, seconds: float) -> Dict[str, Any]:
    target = bt.AxonInfo(
        version=10005000, ip="127.0.0.1", port=port, ip_type=4, hotkey=hotkey, coldkey=hotkey
    )
    bob = sdkpeer.keypair("//Bob")
    dendrites = [bt.Dendrite(wallet=bob) for _ in range(64)]

    tensor = bt.Tensor.serialize(np.arange(TENSOR_ELEMENTS, dtype=np.float32) * np.float32(0.001))

    def make_hashed() -> Hashed:
        return Hashed(**HASHED_FIELDS)

    def check_hashed(syn: Hashed) -> bool:
        return syn.output == HASHED_OUTPUT

    def make_tensor() -> TensorEcho:
        return TensorEcho(tensor=tensor, scale=2.0)

    def check_tensor(syn: TensorEcho) -> bool:
        return syn.tensor is not None and list(syn.tensor.shape) == [TENSOR_ELEMENTS]

    plan = [
        ("hashed_1k_c1", dendrites[:1], make_hashed, check_hashed),
        ("hashed_1k_c64", dendrites, make_hashed, check_hashed),
        ("tensor_1mib_c1", dendrites[:1], make_tensor, check_tensor),
    ]
    cases: Dict[str, Any] = {}
    for name, ds, make, check in plan:
        print(f"bench_sdk: {name}", file=sys.stderr, flush=True)
        warm = await drive(ds, target, make, check, WARMUP)
        if warm["errors"]:
            cases[name] = warm
            continue
        cases[name] = await drive(ds, target, make, check, seconds)
    for d in dendrites:
        await d.aclose_session()
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--port", type=int)
    parser.add_argument("--hotkey")
    args = parser.parse_args()

    if args.port is None:
        port, hotkey, (server, thread) = start_sdk_axon()
        mode = "sdk->sdk"
    else:
        if not args.hotkey:
            raise SystemExit("bench_sdk: --port needs --hotkey")
        port, hotkey, server, thread = args.port, args.hotkey, None, None
        mode = "sdk->rust"

    cases = asyncio.run(run(port, hotkey, args.duration))
    if server is not None:
        server.should_exit = True
        thread.join(timeout=5)
    sdkpeer.emit({"mode": mode, "cases": cases})


if __name__ == "__main__":
    main()
