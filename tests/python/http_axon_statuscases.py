"""A real bittensor 10.5.0 SDK axon that answers raw requests, for status comparison.

Driven by crates/axon/tests/it/statuscases.rs. Starts an SDK axon with the //Alice hotkey
on 127.0.0.1 and a free port serving `Dummy` and `Hashed` (tests/python/http_axon_synapses.py),
prints `{"port": P, "hotkey": "<Alice SS58>"}`, then for every line read on stdin (a JSON
list of raw requests `{"id", "method", "path", "headers": [[name, value], ...], "body"}`)
sends the requests in order, byte for byte, and prints one JSON line
`[{"id": ..., "status": <HTTP status>}, ...]`. Exits when stdin closes.
"""


import http.client
import json
import os
import socket
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdkpeer  # noqa: E402  (patches the SDK before use)

bt = sdkpeer.bt

from http_axon_synapses import Dummy, Hashed  # noqa: E402


def forward_dummy(synapse: Dummy) -> Dummy:
    synapse.dummy_output = synapse.dummy_input * 2
    return synapse


def forward_hashed(synapse: Hashed) -> Hashed:
    synapse.output = "ok"
    return synapse


def send(port: int, req: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(req["method"], req["path"], skip_host=False, skip_accept_encoding=True)
        body = req["body"].encode("utf-8")
        for name, value in req["headers"]:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def main() -> None:
    alice = sdkpeer.keypair("//Alice")
    wallet = types.SimpleNamespace(hotkey=alice, coldkeypub=alice)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    axon = bt.Axon(wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1")
    axon.attach(forward_fn=forward_dummy)
    axon.attach(forward_fn=forward_hashed)

    server = axon.fast_server
    server.config.host = "127.0.0.1"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("http_axon_statuscases: uvicorn did not start")
        time.sleep(0.005)

    sdkpeer.emit({"port": port, "hotkey": alice.ss58_address})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        requests = json.loads(line)
        sdkpeer.emit([{"id": r["id"], "status": send(port, r)} for r in requests])
    server.should_exit = True
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
