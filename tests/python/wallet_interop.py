"""Cross-language checks for the neuron-wallet crate, driven by
crates/wallet/tests/python_interop.rs.

Reads one JSON request on stdin, runs it against the real Python `bittensor_wallet`
package, writes one JSON answer on stdout. Byte strings travel as lowercase hex without
0x (messages) or in the SDK's own form (signatures "0x…", addresses SS58).

Nothing here needs the network; an audit hook refuses any socket connection that is not
to a loopback address anyway.
"""

import ipaddress
import json
import sys


def _loopback_only(event, args):
    if event not in ("socket.connect", "socket.sendto", "socket.connect_ex"):
        return
    address = args[1] if len(args) > 1 else None
    if isinstance(address, (str, bytes)):  # AF_UNIX paths
        return
    host = address[0] if isinstance(address, tuple) and address else None
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            return
    except ValueError:
        pass
    raise RuntimeError(f"wallet_interop: refusing non-loopback connection to {address!r}")


sys.addaudithook(_loopback_only)

from bittensor_wallet import Keypair, Wallet  # noqa: E402  (after the hook on purpose)


def op_create_hotkey(req):
    w = Wallet(name=req["name"], hotkey=req["hotkey"], path=req["root"])
    w.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    kp = w.hotkey
    return {"ss58": kp.ss58_address, "public_key": kp.public_key.hex()}


def op_create_hotkey_from_uri(req):
    w = Wallet(name=req["name"], hotkey=req["hotkey"], path=req["root"])
    w.create_hotkey_from_uri(req["uri"], use_password=False, overwrite=True, suppress=True)
    return {"ss58": w.hotkey.ss58_address}


def op_load_hotkey_and_sign(req):
    w = Wallet(name=req["name"], hotkey=req["hotkey"], path=req["root"])
    kp = w.hotkey
    sigs = ["0x" + kp.sign(bytes.fromhex(m)).hex() for m in req["messages"]]
    out = {"ss58": kp.ss58_address, "signatures": sigs}
    try:
        out["hotkeypub_ss58"] = w.hotkeypub.ss58_address
    except Exception as e:  # older layouts have no pub file
        out["hotkeypub_error"] = str(e)
    return out


def op_coldkeypub(req):
    w = Wallet(name=req["name"], hotkey="default", path=req["root"])
    return {"ss58": w.coldkeypub.ss58_address}


def op_sign_uri(req):
    kp = Keypair.create_from_uri(req["uri"])
    sigs = ["0x" + kp.sign(bytes.fromhex(m)).hex() for m in req["messages"]]
    return {"ss58": kp.ss58_address, "signatures": sigs}


def op_verify(req):
    results = []
    for item in req["items"]:
        verifier = Keypair(ss58_address=item["ss58"])
        results.append(bool(verifier.verify(bytes.fromhex(item["message"]), item["signature"])))
    return {"results": results}


def op_uris(req):
    return {"ss58": [Keypair.create_from_uri(u).ss58_address for u in req["uris"]]}


def op_ss58_decode(req):
    out = []
    for address in req["addresses"]:
        try:
            out.append(Keypair(ss58_address=address).public_key.hex())
        except Exception:
            out.append(None)
    return {"public_keys": out}


OPS = {
    "create_hotkey": op_create_hotkey,
    "create_hotkey_from_uri": op_create_hotkey_from_uri,
    "load_hotkey_and_sign": op_load_hotkey_and_sign,
    "coldkeypub": op_coldkeypub,
    "sign_uri": op_sign_uri,
    "verify": op_verify,
    "uris": op_uris,
    "ss58_decode": op_ss58_decode,
}


def main():
    req = json.load(sys.stdin)
    answer = OPS[req["op"]](req)
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
