"""A real bittensor 10.5.0 SDK axon for the Rust dendrite interop tests.

Started by `crates/dendrite/tests/it/interop.rs`. It serves, exactly as a Python miner
would, with the //Alice hotkey on 127.0.0.1 and a free port:

* `Dummy`       (`dummy_input: int` required, `dummy_output = 2 * dummy_input`);
* `Hashed`      (every JSON type, all five fields in `required_hash_fields`; the handler
                 changes each of them in a fixed way, see `forward_hashed`);
* `TensorEcho`  (`tensor: Optional[bt.Tensor]`, multiplied by `scale`);
* `StreamCount` (a `StreamingSynapse`: writes `tok0\\n` … `tok{n-1}\\n` as separate chunks);
* `Slow`        (sleeps `delay` seconds, then answers).

Arguments: `--blacklist SS58` (repeatable) makes `Dummy` refuse that hotkey with 403.

Prints one JSON line `{"port": P, "hotkey": "<Alice SS58>"}` on stdout once the socket
listens, then serves until stdin is closed (the Rust test holds the pipe).
"""


import argparse
import asyncio
import os
import socket
import sys
import threading
import types
import time
from typing import List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (patches the SDK before use)

bt = sdkpeer.bt

import numpy as np  # noqa: E402
import pydantic  # noqa: E402


class Dummy(bt.Synapse):
    dummy_input: int
    dummy_output: Optional[int] = None


class Hashed(bt.Synapse):
    text: str = ""
    numbers: List[int] = []
    ratio: float = 0.0
    flag: bool = False
    meta: dict = {}

    required_hash_fields = ("text", "numbers", "ratio", "flag", "meta")


class TensorEcho(bt.Synapse):
    tensor: Optional[bt.Tensor] = None
    scale: float = 2.0

    required_hash_fields = ("tensor",)


class Slow(bt.Synapse):
    delay: float = 0.0
    done: bool = False


class StreamCount(bt.StreamingSynapse):
    n: int = 3
    tokens: List[str] = pydantic.Field(default_factory=list)

    async def process_streaming_response(self, response):
        async for chunk in response.content.iter_any():
            text = chunk.decode("utf-8")
            self.tokens.extend(t for t in text.split("\n") if t)
            yield text

    def extract_response_json(self, response) -> dict:
        headers = {k: v for k, v in response.headers.items()}

        def terminal(prefix: str) -> dict:
            return {
                k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)
            }

        return {
            "name": headers.get("name", ""),
            "timeout": float(headers.get("timeout", 0)),
            "dendrite": terminal("bt_header_dendrite_"),
            "axon": terminal("bt_header_axon_"),
            "n": self.n,
            "tokens": self.tokens,
        }


def forward_dummy(synapse: Dummy) -> Dummy:
    synapse.dummy_output = synapse.dummy_input * 2
    return synapse


def forward_hashed(synapse: Hashed) -> Hashed:
    synapse.text = synapse.text.upper()
    synapse.numbers = synapse.numbers + [sum(synapse.numbers)]
    synapse.ratio = synapse.ratio * 2
    synapse.flag = not synapse.flag
    synapse.meta = {**synapse.meta, "seen": True}
    return synapse


def forward_tensor(synapse: TensorEcho) -> TensorEcho:
    if synapse.tensor is not None:
        arr = synapse.tensor.deserialize()
        synapse.tensor = bt.Tensor.serialize(np.asarray(arr * synapse.scale, dtype=arr.dtype))
    return synapse


async def forward_slow(synapse: Slow) -> Slow:
    await asyncio.sleep(synapse.delay)
    synapse.done = True
    return synapse


def forward_stream(synapse: StreamCount) -> StreamCount:
    async def streamer(send):
        for i in range(synapse.n):
            await send(
                {
                    "type": "http.response.body",
                    "body": f"tok{i}\n".encode(),
                    "more_body": True,
                }
            )
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return synapse.create_streaming_response(streamer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blacklist", action="append", default=[])
    args = parser.parse_args()
    blacklisted = set(args.blacklist)

    def blacklist_dummy(synapse: Dummy) -> Tuple[bool, str]:
        hotkey = synapse.dendrite.hotkey
        if hotkey in blacklisted:
            return True, "test blacklist"
        return False, "allowed"

    alice = sdkpeer.keypair("//Alice")
    # The axon only reads `wallet.hotkey` (signing, its own SS58) and `wallet.coldkeypub`.
    wallet = types.SimpleNamespace(hotkey=alice, coldkeypub=alice)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    axon = bt.Axon(wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1")
    axon.attach(forward_fn=forward_dummy, blacklist_fn=blacklist_dummy)
    axon.attach(forward_fn=forward_hashed)
    axon.attach(forward_fn=forward_tensor)
    axon.attach(forward_fn=forward_slow)
    axon.attach(forward_fn=forward_stream)

    server = axon.fast_server
    server.config.host = "127.0.0.1"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("http_dendrite_server: uvicorn did not start")
        time.sleep(0.005)

    sdkpeer.emit({"port": port, "hotkey": alice.ss58_address})
    # Serve until the parent closes our stdin (or dies).
    sys.stdin.buffer.read()
    server.should_exit = True
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
