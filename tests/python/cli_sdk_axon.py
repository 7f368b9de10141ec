"""A real bittensor 10.5.0 ``bt.Axon`` serving the example synapses, for `neuron query`.

Started by crates/cli/tests/sdk_interop.rs. It serves the four example synapses exactly as
a Python miner writes them (the classes of ``http_axon_synapses``), with the handlers of
the `neuron-examples` crate written in Python:

* ``Dummy``:       ``dummy_output = 2 * dummy_input``;
* ``Hashed``:      ``output = hashed_output(text, numbers, ratio, flag, meta)``;
* ``TensorEcho``:  ``tensor * scale`` in the tensor's own dtype (numpy ``astype``);
* ``StreamCount``: the chunks ``tok0\\n`` … ``tok{n-1}\\n``, one body chunk each.

The hotkey is //Alice, the address 127.0.0.1 and a free port. ``--blacklist SS58``
(repeatable) makes every synapse refuse that hotkey with 403.

No ``from __future__ import annotations`` here: ``Axon.attach`` inspects the handlers'
annotations and needs the classes, not strings.

Prints one JSON line ``{"port": P, "hotkey": "<Alice SS58>", "sdk_version": "10.5.0"}`` on
stdout once the server listens, then serves until stdin closes (the test process holds
the pipe).
"""

import argparse
import os
import socket
import sys
import threading
import types
from typing import Any, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (patches the SDK before use)

bt = sdkpeer.bt

import numpy as np  # noqa: E402

from http_axon_synapses import Dummy, Hashed, StreamCount, TensorEcho, hashed_output  # noqa: E402

STARTUP_TIMEOUT = 60.0


def forward_dummy(synapse: Dummy) -> Dummy:
    synapse.dummy_output = synapse.dummy_input * 2
    return synapse


def forward_hashed(synapse: Hashed) -> Hashed:
    synapse.output = hashed_output(synapse.text, synapse.numbers, synapse.ratio, synapse.flag, synapse.meta)
    return synapse


def forward_tensor(synapse: TensorEcho) -> TensorEcho:
    if synapse.tensor is not None:
        arr = synapse.tensor.deserialize()
        synapse.tensor = bt.Tensor.serialize(np.asarray(arr * synapse.scale, dtype=arr.dtype))
    return synapse


def forward_stream(synapse: StreamCount) -> bt.StreamingSynapse.BTStreamingResponse:
    count = max(0, synapse.n)

    async def streamer(send: Any) -> None:
        for i in range(count):
            await send({"type": "http.response.body", "body": f"tok{i}\n".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return synapse.create_streaming_response(streamer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blacklist", action="append", default=[])
    args = parser.parse_args()
    refused = frozenset(args.blacklist)

    def blacklist(synapse: bt.Synapse) -> Tuple[bool, str]:
        if synapse.dendrite.hotkey in refused:
            return True, "hotkey is on the test blacklist"
        return False, "allowed"

    # `attach` reads the synapse class from each function's first parameter annotation.
    def blacklist_dummy(synapse: Dummy) -> Tuple[bool, str]:
        return blacklist(synapse)

    def blacklist_hashed(synapse: Hashed) -> Tuple[bool, str]:
        return blacklist(synapse)

    def blacklist_tensor(synapse: TensorEcho) -> Tuple[bool, str]:
        return blacklist(synapse)

    def blacklist_stream(synapse: StreamCount) -> Tuple[bool, str]:
        return blacklist(synapse)

    alice = sdkpeer.keypair("//Alice")
    # The axon only reads `wallet.hotkey` (signing, its own SS58) and `wallet.coldkeypub`.
    wallet = types.SimpleNamespace(hotkey=alice, coldkeypub=alice)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    axon = bt.Axon(wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1")
    axon.attach(forward_fn=forward_dummy, blacklist_fn=blacklist_dummy)
    axon.attach(forward_fn=forward_hashed, blacklist_fn=blacklist_hashed)
    axon.attach(forward_fn=forward_tensor, blacklist_fn=blacklist_tensor)
    axon.attach(forward_fn=forward_stream, blacklist_fn=blacklist_stream)

    server = axon.fast_server
    server.config.host = "127.0.0.1"

    # uvicorn has no start-up event; wrap `startup` to signal when it has returned.
    listening = threading.Event()
    startup = server.startup

    async def startup_then_signal(sockets: Any = None) -> None:
        try:
            await startup(sockets=sockets)
        finally:
            listening.set()

    server.startup = startup_then_signal  # type: ignore[method-assign]

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            listening.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not listening.wait(STARTUP_TIMEOUT) or not server.started:
        raise SystemExit("cli_sdk_axon: the SDK axon did not start")

    sdkpeer.emit({"port": port, "hotkey": alice.ss58_address, "sdk_version": bt.__version__})
    # Serve until the parent closes our stdin (or dies).
    sys.stdin.buffer.read()
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
