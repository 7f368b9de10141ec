"""Random agreement cases between the real SDK (bittensor 10.5.0) and the Rust protocol crate.

    python agree_cases.py emit --seed 7 [--cases 600] [--sigs 200]
    python agree_cases.py verify < pairs.json

`emit` defines real `bittensor.Synapse` subclasses with random fields, fills them with
random values (hostile strings, float extremes, nested containers), and prints one JSON
document with, per case: every field's value as a typed tree (exact floats, see
`sdkpeer.to_typed`), `str()` of each dumped field, `synapse.body_hash`,
`synapse.to_headers()` (without the CPython memory sizes), the JSON body as the SDK client
sends it, and the dendrite's signing message. It also prints messages signed by //Bob
(and a few that must not verify) for the Rust side to check, and the harness's keys.

`verify` reads `{"pairs": [{"ss58", "message_hex", "signature"}...]}` (signatures made in
Rust) and prints `{"results": [{"sdk": bool, "strict": bool}...]}`: `sdk` is
bittensor-wallet's `Keypair.verify` (what an SDK axon runs; it also accepts
`<Bytes>`-wrapped messages), `strict` is py-sr25519-bindings' raw verify.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
import sys
import time
import unicodedata
from typing import Any, Callable, Optional

import sdkpeer

bt = sdkpeer.bt

import sr25519  # noqa: E402  (py-sr25519-bindings)
from bittensor.utils import get_hash  # noqa: E402
from bittensor_wallet import Keypair  # noqa: E402

# ---------------------------------------------------------------------------------
# Random strings


ASCII_PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
QUOTES = ["'", '"', "\\", "'", '"', "\\\\", "\\n", "\\x41"]
CONTROL = [chr(c) for c in range(0x00, 0x20)] + ["\x7f"]
C1_AND_LATIN1_SPECIAL = [chr(c) for c in range(0x80, 0xA0)] + ["\xa0", "\xad"]
PRINTABLE_NON_ASCII = list("éöüßñÆøÿΩπλЖжЯ中文字アイ한국אבעربيةहिंदीไทย€£¥©®°±µ¶·¿×÷‰™←→∀∂∑√∞≠≤")
COMBINING = ["\u0300", "\u0301", "\u0308", "\u0327", "\u0489", "\u20dd", "\u0e31", "\u093f"]
FORMAT_AND_SPACES = [
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029", "\u2060",
    "\ufeff", "\u3000", "\u1680", "\u2000", "\u202f", "\u205f", "\u061c", "\u180e",
]
PRIVATE_AND_NONCHAR = [
    "\ue000", "\uf8ff", "\U000f0000", "\U0010fffd", "\U00100000",
    "\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\U000effff",
]
ASTRAL = [
    "\U0001f600", "\U0001f9e0", "\U0001f44d\U0001f3fd", "\U0001f1fa\U0001f1f8",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U00020000", "\U0001d518", "\U00010348",
    "\U000e0001", "\U000e0020", "\U0001f3fb", "\U0002a6d6", "\U0001f4a9",
]


def random_assigned_char(rng: random.Random) -> str:
    """A code point that is assigned (or a surrogate-free private/nonchar) in Python's tables.

    Unassigned (Cn) code points are skipped: one assigned in a later Unicode version is
    printable there, so its repr depends on the peer's Python version.
    """
    while True:
        cp = rng.choice([rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x10000),
                         rng.randrange(0x10000, 0x110000)])
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat not in ("Cn", "Cs"):
            return c


POOLS: list[tuple[int, Callable[[random.Random], str]]] = [
    (30, lambda r: r.choice(ASCII_PRINTABLE)),
    (8, lambda r: r.choice(QUOTES)),
    (5, lambda r: r.choice(CONTROL)),
    (3, lambda r: r.choice(C1_AND_LATIN1_SPECIAL)),
    (8, lambda r: r.choice(PRINTABLE_NON_ASCII)),
    (3, lambda r: r.choice(COMBINING)),
    (3, lambda r: r.choice(FORMAT_AND_SPACES)),
    (2, lambda r: r.choice(PRIVATE_AND_NONCHAR)),
    (4, lambda r: r.choice(ASTRAL)),
    (6, random_assigned_char),
]
POOL_WEIGHTS = [w for w, _ in POOLS]


def random_string(rng: random.Random, max_len: int = 24) -> str:
    shape = rng.random()
    if shape < 0.05:
        return ""
    if shape < 0.12:  # quote-kind edge cases for repr's quote choice
        return rng.choice(["'", '"', "'\"", "it's", 'say "hi"', "'\"'", "\\", "\\'", "a\\\"b'"])
    n = rng.randrange(1, max_len + 1)
    parts = []
    for _ in range(n):
        (_, pick) = rng.choices(POOLS, weights=POOL_WEIGHTS)[0]
        parts.append(pick(rng))
    return "".join(parts)


def random_key(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(["k", "n", "f", "l", "none", "weights", "x y", "ключ", "it's", 'q"'])
    return random_string(rng, 8)


# ---------------------------------------------------------------------------------
# Random numbers

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


def bits_to_float(bits: int) -> float:
    return struct.unpack(">d", bits.to_bytes(8, "big"))[0]


SPECIAL_FLOATS = [
    0.0, -0.0, math.inf, -math.inf, math.nan, bits_to_float(0xFFF8000000000000),
    bits_to_float(0x7FF0000000000001), 5e-324, -5e-324, 2.2250738585072014e-308,
    2.225073858507201e-308, 1.7976931348623157e308, -1.7976931348623157e308,
    1e16, -1e16, 9999999999999998.0, 1e16 + 2, 1.0000000000000002e16, 123456789012345.0,
    1234567890123456.0, 12345678901234567.0, 1e15, 1e17, 1e22, 1e23, 1e-4, 0.0001,
    9.999999999999999e-05, 1e-5, 0.00011, 1e-7, 0.1, 0.2, 0.30000000000000004, 1 / 3,
    2.0 / 3, 1.5, 2.0, 100.0, 0.5, 2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63), 2.0**64,
    1e308, 1e-308, 1e-320, 4.9406564584124654e-324, 1.1, 3.14159, 2.718281828459045,
    12.0, 0.001, 123.456, 1e21, 1e-6, 5e-5, math.pi * 1e15, math.pi * 1e16,
    # two shortest candidates equally near: repr takes the even one (…0.2, not …0.3)
    1000000000000000.25, 1000000000000000.75, 2.5e-323, 4.4e-323,
]


def random_float(rng: random.Random) -> float:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(SPECIAL_FLOATS)
    if kind == 1:  # any bit pattern: every exponent, NaN payloads, infinities
        return bits_to_float(rng.getrandbits(64))
    if kind == 2:  # subnormal
        return bits_to_float((rng.getrandbits(1) << 63) | rng.randrange(1, 1 << 52))
    if kind == 3:  # integral
        return float(rng.randrange(-(2**60), 2**60) >> rng.randrange(0, 60))
    if kind == 4 and rng.random() < 0.25:  # ties between two 17-digit shortest candidates
        return float(rng.randrange(10**15, 2**50)) + rng.choice([0.25, 0.75])
    if kind == 4:  # around the repr exponent switches
        base = rng.choice([1e16, 1e-4, 1e-5, 1e15, 1e17])
        x = base
        for _ in range(rng.randrange(0, 4)):
            x = math.nextafter(x, rng.choice([0.0, math.inf]))
        return -x if rng.random() < 0.3 else x
    if kind == 5:  # short decimals
        return round(rng.uniform(-1e6, 1e6), rng.randrange(0, 8))
    if kind == 6:  # decimal mantissa × power of ten
        return float(f"{rng.randrange(1, 10**rng.randrange(1, 18))}e{rng.randrange(-330, 310)}")
    if kind == 7:
        return rng.choice([10.0, 2.0, 0.1]) ** rng.randrange(-60, 60)
    return rng.uniform(-1.0, 1.0) * 10.0 ** rng.randrange(-20, 20)


def random_int(rng: random.Random) -> int:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice([0, 1, -1, I64_MAX, I64_MIN, I64_MIN + 1, 2**53, 2**53 + 1, -(2**53) - 1,
                           2**31, -(2**31), 2**32, 10**15, 10**16, 10**18, 255, 256])
    if kind == 1:
        return rng.randrange(-1000, 1000)
    bits = rng.randrange(1, 64)
    return rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))


# ---------------------------------------------------------------------------------
# Random nested values


def random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["none", "bool", "int", "float", "str"] + (["list", "dict"] if depth > 0 else [])
    weights = [1, 1, 3, 3, 3] + ([2, 2] if depth > 0 else [])
    kind = rng.choices(kinds, weights=weights)[0]
    return make_value(rng, kind, depth)


def make_value(rng: random.Random, kind: str, depth: int) -> Any:
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return random_int(rng)
    if kind == "float":
        return random_float(rng)
    if kind == "str":
        return random_string(rng)
    if kind == "list":
        return [random_value(rng, depth - 1) for _ in range(rng.randrange(0, 6))]
    if kind == "dict":
        out: dict[str, Any] = {}
        for _ in range(rng.randrange(0, 6)):
            out[random_key(rng)] = random_value(rng, depth - 1)
        return out
    raise ValueError(kind)


# ---------------------------------------------------------------------------------
# Synapse classes and cases

PY_TYPES = {"str": str, "float": float, "int": int, "bool": bool, "list": list, "dict": dict}
FIELD_WORDS = ["text", "value", "numbers", "ratio", "meta", "flag", "payload", "items",
               "score", "query", "answer", "weights", "opts", "label", "count", "camelCase"]
# How a field is declared: required `T`, `Optional[T] = None`, or required `Optional[T]`.
DECLS = ["required", "optional", "required_optional"]


def field_value(rng: random.Random, kind: str, decl: str) -> Any:
    if decl != "required" and rng.random() < 0.3:
        return None
    if kind == "float" and rng.random() < 0.1:
        return random_int(rng)  # pydantic coerces to float; hashed as float (spec §4)
    return make_value(rng, kind, depth=rng.randrange(1, 4))


def define_class(name: str, fields: list[dict], hash_fields: tuple[str, ...]) -> type:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"required_hash_fields": hash_fields}
    for f in fields:
        t = PY_TYPES[f["kind"]]
        if f["decl"] == "required":
            annotations[f["name"]] = t
        else:
            annotations[f["name"]] = Optional[t]
            if f["decl"] == "optional":
                namespace[f["name"]] = None
    namespace["__annotations__"] = annotations
    namespace["__module__"] = __name__
    return type(name, (bt.Synapse,), namespace)


def random_timeout(rng: random.Random) -> float:
    return rng.choice([12.0, 12.0, 1.0, 0.5, 30, 1e16, 1e-05, 123456789012345.0, 0.1,
                       rng.uniform(0.0, 600.0), float(rng.randrange(1, 10**6))])


def random_ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    return ":".join(f"{rng.getrandbits(16):x}" for _ in range(8))


def random_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-1{h[13:16]}-{h[16:20]}-{h[20:]}"


HOTKEYS = [sdkpeer.keypair(u).ss58_address for u in ("//Alice", "//Bob", "//Charlie", "//Dave")]


def terminals(rng: random.Random) -> tuple[dict, dict]:
    dendrite = {
        "ip": random_ip(rng),
        "version": rng.choice([10005000, 7002000, 6000000, rng.randrange(0, 2**31)]),
        "nonce": rng.choice([1_700_000_000_000_000_000 + rng.randrange(10**17), 1795310834565781717, rng.randrange(0, 2**63)]),
        "uuid": random_uuid(rng),
        "hotkey": rng.choice(HOTKEYS),
        "signature": "0x" + f"{rng.getrandbits(512):0128x}",
    }
    axon = {"ip": random_ip(rng), "port": rng.randrange(1, 65536), "hotkey": rng.choice(HOTKEYS)}
    if rng.random() < 0.25:  # occasionally the fields a response carries
        axon["status_code"] = rng.choice([100, 200, 401, 500])
        axon["status_message"] = rng.choice(["Success", "Not Verified", random_string(rng, 12)])
        axon["process_time"] = rng.choice([random_float(rng), rng.uniform(0, 2)])
        if not math.isfinite(axon["process_time"]):
            axon["process_time"] = 0.25
    return dendrite, axon


def random_fields(rng: random.Random) -> list[dict]:
    n = rng.randrange(1, 7)
    words = rng.sample(FIELD_WORDS, n)
    return [
        {"name": f"{w}_{i}" if rng.random() < 0.5 else w, "kind": rng.choice(list(PY_TYPES)),
         "decl": rng.choice(DECLS)}
        for i, w in enumerate(words)
    ]


def hash_order(rng: random.Random, names: list[str]) -> tuple[str, ...]:
    r = rng.random()
    if r < 0.05:
        return ()
    order = list(names)
    rng.shuffle(order)
    if r < 0.15:
        order = order[: rng.randrange(1, len(order) + 1)]
    return tuple(order)


def build_case(case_id: int, cls: type, fields: list[dict], values: dict[str, Any],
               timeout: float, dendrite: dict, axon: dict) -> dict:
    syn = cls(timeout=timeout, dendrite=bt.TerminalInfo(**dendrite),
              axon=bt.TerminalInfo(**axon), **values)
    dumped = syn.model_dump()
    body = json.dumps(dumped)  # what aiohttp sends: json.dumps defaults, NaN tokens allowed
    body_hash = syn.body_hash
    headers = syn.to_headers()
    headers.pop("header_size", None)
    headers.pop("total_size", None)
    # Same set as the JSON schema's "required" list that `to_headers` reads, but cheap.
    required = [n for n, info in cls.model_fields.items() if info.is_required()]
    out_fields = []
    for f in fields:
        v = dumped[f["name"]]
        text = str(v)
        out_fields.append({
            "name": f["name"], "kind": f["kind"], "decl": f["decl"],
            "required": f["name"] in required,
            "value": sdkpeer.to_typed(v),
            "python_str": text,
            "field_hash": get_hash(text),
        })
    d, a = syn.dendrite, syn.axon
    finite = not sdkpeer.has_non_finite(dumped)
    return {
        "id": case_id,
        "class": cls.__name__,
        "timeout": sdkpeer.to_typed(dumped["timeout"]),
        "required_hash_fields": list(cls.required_hash_fields),
        "fields": out_fields,
        "dendrite": dendrite,
        "axon": axon,
        "finite": finite,
        "body": body,
        # what an SDK axon (FastAPI/Starlette JSONResponse) writes; JSON cannot carry NaN/inf
        "body_compact": json.dumps(dumped, ensure_ascii=False, allow_nan=False,
                                   separators=(",", ":")) if finite else None,
        "body_hash": body_hash,
        "headers": headers,
        "signing_message": f"{d.nonce}.{d.hotkey}.{a.hotkey}.{d.uuid}.{body_hash}",
    }


def spec_example() -> dict:
    """The worked example of spec §4.2; its hash is known (3301b5f7…8567)."""
    fields = [{"name": "text", "kind": "str", "decl": "required"},
              {"name": "numbers", "kind": "list", "decl": "required"},
              {"name": "ratio", "kind": "float", "decl": "required"},
              {"name": "flag", "kind": "bool", "decl": "required"},
              {"name": "meta", "kind": "dict", "decl": "required"}]
    cls = define_class("Hashed", fields, ("text", "numbers", "ratio", "flag", "meta"))
    values = {"text": "héllo wörld", "numbers": [1, 2, 3], "ratio": 0.1, "flag": True,
              "meta": {"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": None}}
    dendrite = {"ip": "127.0.0.1", "version": 10005000, "nonce": 1795310834565781717,
                "uuid": "d90fcadc-e613-11f1-b657-02fc00000001", "hotkey": HOTKEYS[1],
                "signature": "0x00"}
    axon = {"ip": "127.0.0.1", "port": 8091, "hotkey": HOTKEYS[0]}
    return build_case(0, cls, fields, values, 12.0, dendrite, axon)


def random_case(rng: random.Random, case_id: int) -> dict:
    fields = random_fields(rng)
    cls = define_class(f"Agree{case_id}", fields, hash_order(rng, [f["name"] for f in fields]))
    values = {f["name"]: field_value(rng, f["kind"], f["decl"]) for f in fields}
    for f in fields:  # leave some optional fields at their default
        if f["decl"] == "optional" and values[f["name"]] is None and rng.random() < 0.5:
            del values[f["name"]]
    dendrite, axon = terminals(rng)
    return build_case(case_id, cls, fields, values, random_timeout(rng), dendrite, axon)


# ---------------------------------------------------------------------------------
# Signatures


def signature_cases(rng: random.Random, n: int, cases: list[dict]) -> list[dict]:
    bob, alice = sdkpeer.keypair("//Bob"), sdkpeer.keypair("//Alice")
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4 and cases:
            msg = rng.choice(cases)["signing_message"].encode()
        elif r < 0.7:
            msg = random_string(rng, 40).encode("utf-8")
        else:
            msg = rng.randbytes(rng.randrange(0, 200))
        # `raw`: verifies over the message itself; `sdk`: verifies the SDK's way (raw,
        # then `<Bytes>`-wrapped, like bittensor-wallet's `Keypair.verify`).
        sig, raw, sdk, note = sdkpeer.sign_hex(bob, msg), True, True, "bob"
        shown = msg
        t = rng.random()
        if t < 0.08:  # tampered message
            shown = msg + b"!" if not msg else bytes([msg[0] ^ 1]) + msg[1:]
            raw, sdk, note = False, False, "tampered"
        elif t < 0.14:  # signed by Alice, claimed as Bob's
            sig, raw, sdk, note = sdkpeer.sign_hex(alice, msg), False, False, "wrong_key"
        elif t < 0.18:  # polkadot.js wrapping: the SDK accepts it, a raw verify does not
            sig = sdkpeer.sign_hex(bob, b"<Bytes>" + msg + b"</Bytes>")
            raw, sdk, note = False, True, "bytes_wrapped"
        out.append({"ss58": bob.ss58_address, "message_hex": shown.hex(), "signature": sig,
                    "raw": raw, "sdk": sdk, "note": note})
    return out


def keys_report() -> dict:
    out = {}
    for uri in sdkpeer.SEEDS:
        kp = sdkpeer.keypair(uri)
        by_uri = Keypair.create_from_mnemonic(sdkpeer.DEV_PHRASE) if uri == "" else Keypair.create_from_uri(uri)
        out[uri] = {"seed": sdkpeer.SEEDS[uri], "public_key": kp.public_key.hex(),
                    "ss58": kp.ss58_address, "sdk_uri_public_key": by_uri.public_key.hex()}
    return out


def self_check() -> dict:
    """Evidence that the sdkpeer patches are in force (no real connection is attempted)."""
    import socket

    class FakeSock:
        family = socket.AF_INET

    def refused(event: str, *args: Any) -> bool:
        try:
            sys.audit(event, *args)
        except PermissionError:
            return True
        return False

    import numpy as np
    t = bt.Tensor.serialize(np.array([0.0, 0.5, 1.0, 1.5], dtype=np.float32))
    return {
        "refuses_remote_connect": refused("socket.connect", FakeSock(), ("192.0.2.1", 80)),
        "allows_loopback_connect": not refused("socket.connect", FakeSock(), ("127.0.0.1", 80)),
        "refuses_dns": refused("socket.getaddrinfo", "example.com", 80, 0, 0, 0),
        "external_ip": bt.utils.networking.get_external_ip(),
        "tensor_buffer": t.buffer,
    }


# ---------------------------------------------------------------------------------


def cmd_emit(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    started = time.monotonic()
    cases = [spec_example()] + [random_case(rng, i) for i in range(1, args.cases)]
    sigs = signature_cases(rng, args.sigs, cases)
    sdkpeer.emit({
        "sdk_version": bt.__version__,
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "seed": args.seed,
        "keys": keys_report(),
        "self_check": self_check(),
        "cases": cases,
        "signatures": sigs,
        "seconds": round(time.monotonic() - started, 3),
    })


def cmd_verify(_: argparse.Namespace) -> None:
    pairs = sdkpeer.read_stdin_json()["pairs"]
    results = []
    for p in pairs:
        msg = bytes.fromhex(p["message_hex"])
        kp = Keypair(ss58_address=p["ss58"])
        sig_hex = p["signature"]
        try:
            sdk = bool(kp.verify(msg, sig_hex))
        except Exception:  # the SDK raises on malformed input; that is a "no"
            sdk = False
        try:
            raw = bytes.fromhex(sig_hex[2:] if sig_hex.startswith("0x") else sig_hex)
            strict = bool(sr25519.verify(raw, msg, kp.public_key))
        except Exception:
            strict = False
        results.append({"sdk": sdk, "strict": strict})
    sdkpeer.emit({"results": results})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("emit")
    e.add_argument("--seed", type=int, required=True)
    e.add_argument("--cases", type=int, default=600)
    e.add_argument("--sigs", type=int, default=200)
    sub.add_parser("verify")
    args = ap.parse_args()
    {"emit": cmd_emit, "verify": cmd_verify}[args.cmd](args)


if __name__ == "__main__":
    main()
