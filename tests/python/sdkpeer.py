"""Shared set-up for every Python peer of the interop suite.

Import this module *before* anything from bittensor:

    import sdkpeer
    bt = sdkpeer.bt

Importing it, once per process:

* installs an audit hook that refuses outbound connections (``socket.connect``,
  ``socket.sendto``, name look-ups) to anything but the loopback host, and refuses to
  spawn ``curl``/``wget`` (the SDK shells out to them to find its external IP);
* imports bittensor and replaces ``bittensor.utils.networking.get_external_ip``
  (and every module-level alias of it) with a function returning ``"127.0.0.1"``;
* makes ``bittensor.Tensor`` work without torch (spec wire-modern.md §10: the SDK's
  dtype table adds torch dtypes on first use and raises ``ImportError`` without torch);
* points ``sys.stdout`` at stderr so that SDK log lines cannot corrupt the JSON that a
  peer writes with :func:`emit` (which uses the real stdout).

Keys come from the 32-byte mini-secret seeds (spec §14.1), never from
py-sr25519-bindings' hard derivation, which does not follow substrate's ``//`` junctions.
"""

from __future__ import annotations

import importlib.util
import json
import math
import socket
import struct
import sys
from typing import Any

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# The SDK dendrite dials `0.0.0.0:{port}` when the target axon's IP equals its own
# external IP (spec §1), which is 127.0.0.1 here; on Linux that reaches the local host.
_ALLOWED_HOSTS = LOOPBACK_HOSTS | {"0.0.0.0", ""}
_FORBIDDEN_PROGRAMS = ("curl", "wget")

_REAL_STDOUT = sys.stdout


def _host_allowed(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    return host in _ALLOWED_HOSTS


def _command_text(args: Any) -> str:
    if isinstance(args, (list, tuple)):
        return " ".join(_command_text(a) for a in args)
    if isinstance(args, bytes):
        return args.decode("utf-8", "replace")
    return str(args)


def _audit(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            if not _host_allowed(address[0]):
                raise PermissionError(f"sdkpeer: refused {event} to {address!r} (loopback only)")
    elif event == "socket.getaddrinfo":
        if not _host_allowed(args[0]):
            raise PermissionError(f"sdkpeer: refused name look-up of {args[0]!r} (loopback only)")
    elif event == "socket.gethostbyname":
        if not _host_allowed(args[0]):
            raise PermissionError(f"sdkpeer: refused name look-up of {args[0]!r} (loopback only)")
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"):
        text = _command_text(args[:2]).lower()
        if any(p in text for p in _FORBIDDEN_PROGRAMS):
            raise PermissionError(f"sdkpeer: refused to run {text!r} (no network tools)")


def _install_guard() -> None:
    if getattr(sys, "_sdkpeer_guard", False):
        return
    sys.addaudithook(_audit)
    sys._sdkpeer_guard = True  # type: ignore[attr-defined]


_install_guard()
# SDK log lines go to stdout; keep stdout for the peer's JSON (see `emit`).
sys.stdout = sys.stderr

import bittensor as bt  # noqa: E402  (must come after the guard)
import bittensor.core.tensor as _bt_tensor  # noqa: E402
import bittensor.utils.networking as _bt_networking  # noqa: E402
from bittensor_wallet import Keypair  # noqa: E402

EXTERNAL_IP = "127.0.0.1"


def _fake_external_ip() -> str:
    return EXTERNAL_IP


def _patch_external_ip() -> None:
    original = _bt_networking.get_external_ip
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "bittensor" or name.startswith("bittensor.")):
            continue
        if getattr(module, "get_external_ip", None) is original:
            setattr(module, "get_external_ip", _fake_external_ip)
    _bt_networking.get_external_ip = _fake_external_ip


def _patch_tensor_dtypes() -> None:
    if importlib.util.find_spec("torch") is not None:
        return
    # `DTypes._add_torch` runs on every lookup and touches `torch.*`; make it a no-op
    # so the table stays numpy-only. The wire format is unaffected.
    _bt_tensor.DTypes._add_torch = lambda self: None


_patch_external_ip()
_patch_tensor_dtypes()

# ---------------------------------------------------------------------------------
# Keys (spec §14.1; the others computed with sp-core `from_string_with_seed`).

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

SEEDS = {
    "": "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e",
    "//Alice": "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
    "//Bob": "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
    "//Charlie": "bc1ede780f784bb6991a585e4f6e61522c14e1cae6ad0895fb57b9a205a8f938",
    "//Dave": "868020ae0687dda7d57565093a69090211449845a7e11453612800b663307246",
    "//Eve": "786ad0e2df456fe43dd1f91ebca22e235bc162e0bb8d53c633e8c85b2af68b7a",
    "//Ferdie": "42438b7883391c05512a938e36c2df0131e088b3756d6aa7a755fbff19d2f842",
    "//Alice//hotkey": "9fd9d873c7bf70254ed1ac92ba853b1ee29f8c1d0fd0c1429fe47ee22fa544bf",
}


def keypair(uri: str) -> Keypair:
    """The sr25519 keypair of a dev URI (``//Bob``, ``Bob`` or ``""`` for the bare phrase)."""
    if uri and not uri.startswith("//"):
        uri = "//" + uri
    try:
        seed = SEEDS[uri]
    except KeyError:
        raise KeyError(f"sdkpeer: no seed for {uri!r}; known: {sorted(SEEDS)}") from None
    return Keypair.create_from_seed(seed)


def sign_hex(kp: Keypair, message: bytes) -> str:
    """``0x`` + hex of an sr25519 signature, as the SDK puts it on the wire."""
    return "0x" + kp.sign(message).hex()


# ---------------------------------------------------------------------------------
# Values with exact floats: JSON cannot carry NaN/inf, nor tell 2 from 2.0 once a
# parser has had it. A "typed" tree tags every node:
#   {"t": "none"} | {"t": "bool", "v": b} | {"t": "int", "v": i}
#   {"t": "str", "v": s, "repr": "<python repr>"}
#   {"t": "float", "bits": "<16 hex digits of the IEEE-754 bits>", "repr": "<python repr>"}
#   {"t": "list", "v": [typed...]} | {"t": "dict", "v": [[key, typed]...]}  (insertion order)


def float_bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def float_from_bits(bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(bits))[0]


def to_typed(v: Any) -> dict:
    if v is None:
        return {"t": "none"}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": v}
    if isinstance(v, float):
        return {"t": "float", "bits": float_bits(v), "repr": repr(v)}
    if isinstance(v, str):
        return {"t": "str", "v": v, "repr": repr(v)}
    if isinstance(v, (list, tuple)):
        return {"t": "list", "v": [to_typed(x) for x in v]}
    if isinstance(v, dict):
        return {"t": "dict", "v": [[str(k), to_typed(x)] for k, x in v.items()]}
    raise TypeError(f"sdkpeer: cannot encode {type(v).__name__}")


def from_typed(t: dict) -> Any:
    kind = t["t"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return t["v"]
    if kind == "float":
        return float_from_bits(t["bits"])
    if kind == "list":
        return [from_typed(x) for x in t["v"]]
    if kind == "dict":
        return {k: from_typed(x) for k, x in t["v"]}
    raise ValueError(f"sdkpeer: unknown typed node {kind!r}")


def has_non_finite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return any(has_non_finite(x) for x in v)
    if isinstance(v, dict):
        return any(has_non_finite(x) for x in v.values())
    return False


# ---------------------------------------------------------------------------------
# I/O with the Rust side: one JSON document per run.


def emit(obj: Any) -> None:
    """Write one JSON document to the real stdout (strict JSON: no NaN tokens)."""
    _REAL_STDOUT.write(json.dumps(obj, ensure_ascii=True, allow_nan=False))
    _REAL_STDOUT.write("\n")
    _REAL_STDOUT.flush()


def read_stdin_json() -> Any:
    return json.loads(sys.stdin.buffer.read().decode("utf-8"))
