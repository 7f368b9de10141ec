"""Reference tensor encodings from the Python SDK, for crates/tensor/tests/python_agreement.rs.

    tensor_cases.py gen SEED   -> JSON on stdout: {"cases": [...], "casts": [...]}
    tensor_cases.py check      -> reads {"cases": [...]} (Rust output) on stdin,
                                  JSON on stdout: {"results": [...]}

`gen` builds numpy arrays of every dtype of the bittensor.Tensor table with random shapes
(0-d, empty, non-contiguous, large, NaN/inf/-0.0/subnormal floats, integer extremes) and
emits, per array: its dtype, shape, C-order element bytes, `msgpack.packb(a,
default=msgpack_numpy.encode)` and `bittensor.Tensor.serialize(a).model_dump_json()`.
`casts` are bittensor.Tensor JSONs whose `dtype`/`shape` differ from the payload's, with
the bytes of `Tensor.deserialize()` (reshape + astype) as the expected result.

`check` receives Rust-encoded tensors and verifies that `bittensor.Tensor(**json)
.deserialize()` and `msgpack.unpackb(..., object_hook=msgpack_numpy.decode)` give exactly
the expected array (dtype, shape and bytes), and that re-serializing it in Python gives
the same JSON.

The SDK's bt.Tensor raises ImportError without torch (wire-modern.md §10): its dtype table
is patched to numpy-only before use. The wire format is unaffected.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import msgpack
import msgpack_numpy
import numpy as np

import bittensor.core.tensor as bt_tensor

if importlib.util.find_spec("torch") is None:
    # `DTypes._add_torch` runs on every lookup and imports torch dtypes: keep the table
    # numpy-only.
    bt_tensor.DTypes._add_torch = lambda self: None

Tensor = bt_tensor.Tensor

DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]


def special_values(dtype: np.dtype) -> list:
    if dtype.kind == "f":
        fi = np.finfo(dtype)
        return [0.0, -0.0, 1.0, -1.5, np.nan, np.inf, -np.inf, fi.max, fi.min, fi.tiny,
                fi.smallest_subnormal, -fi.smallest_subnormal, fi.eps]
    if dtype.kind in "iu":
        ii = np.iinfo(dtype)
        return [0, 1, ii.max, ii.min, ii.max - 1, ii.min + 1]
    return [True, False]


def random_array(rng: np.random.Generator, dtype: np.dtype, shape: tuple) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if dtype.kind == "f":
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)
        a = a.astype(dtype)
    elif dtype.kind in "iu":
        ii = np.iinfo(dtype)
        a = rng.integers(ii.min, ii.max, n, dtype=dtype, endpoint=True)
    else:
        a = rng.integers(0, 2, n).astype(bool)
    specials = np.array(special_values(dtype), dtype=dtype)
    if n:
        k = min(n, len(specials))
        idx = rng.choice(n, k, replace=False)
        a[idx] = specials[:k]
    return a.reshape(shape)


def shapes(rng: np.random.Generator) -> list:
    out = [(), (0,), (1,), (4,), (3, 0, 2), (2, 3), (1, 1, 1, 1)]
    for _ in range(6):
        rank = int(rng.integers(1, 5))
        out.append(tuple(int(d) for d in rng.integers(0, 6, rank)))
    out.append((300,))  # data > 255 bytes for wide dtypes: bin16
    out.append((200, 130))  # dims > 127: uint8 shape ints
    return out


def describe(name: str, a: np.ndarray) -> dict:
    t = Tensor.serialize(a)
    return {
        "name": name,
        "dtype": str(a.dtype),
        "shape": list(a.shape),
        "data_hex": np.ascontiguousarray(a).tobytes().hex(),
        "msgpack_hex": msgpack.packb(a, default=msgpack_numpy.encode).hex(),
        "bt_json": t.model_dump_json(),
    }


def gen(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    cases = []
    for dname in DTYPES:
        dtype = np.dtype(dname)
        for shape in shapes(rng):
            a = random_array(rng, dtype, shape)
            cases.append(describe(f"{dname}{list(shape)}", a))
        # non-contiguous inputs: the SDK packs their C-order copy
        a = random_array(rng, dtype, (3, 5))
        cases.append(describe(f"{dname} transposed", a.T))
        cases.append(describe(f"{dname} fortran", np.asfortranarray(random_array(rng, dtype, (4, 3)))))
        cases.append(describe(f"{dname} strided", random_array(rng, dtype, (10,))[::3]))
    # > 64 KiB of data: bin32; dims > 65535: uint32 shape ints
    cases.append(describe("uint8[70000]", random_array(rng, np.dtype("uint8"), (70000,))))
    cases.append(describe("float32[128,130]", random_array(rng, np.dtype("float32"), (128, 130))))
    # rank > 15: array16 header for the shape
    cases.append(describe("int8 rank16", random_array(rng, np.dtype("int8"), (1,) * 15 + (2,))))
    # numpy scalars (not arrays): msgpack-numpy writes {nd: False, type, data}
    scalars = []
    for dname in DTYPES:
        s = random_array(rng, np.dtype(dname), (1,))[0]
        t = Tensor.serialize(s)
        try:
            t.deserialize()
            python_ok = True
        except AttributeError:
            # np.float64 is a Python float: msgpack packs a plain float and the SDK's
            # `.copy()` fails on it. The Rust decoder must refuse it too.
            python_ok = False
        scalars.append({
            "python_ok": python_ok,
            "name": f"{dname} numpy scalar",
            "dtype": dname,
            "shape": [],
            "data_hex": np.asarray(s).tobytes().hex(),
            "msgpack_hex": msgpack.packb(s, default=msgpack_numpy.encode).hex(),
            "bt_json": t.model_dump_json(),
        })

    casts = []
    for src in DTYPES:
        for dst in DTYPES:
            sd, dd = np.dtype(src), np.dtype(dst)
            for shape, target_shape in [((2, 12), [24]), ((3, 8), [4, 6]), ((), [0]), ((5,), [0])]:
                a = random_array(rng, sd, shape)
                if sd.kind == "f" and dd.kind in "iub":
                    # also cover truncation of in-range values explicitly
                    a = a.copy()
                    flat = a.reshape(-1)
                    if flat.size >= 4:
                        flat[:4] = np.array([2.7, -2.7, 100.5, -0.4], dtype=sd)
                ser = Tensor.serialize(a)
                t = Tensor(buffer=ser.buffer, dtype=dst, shape=target_shape)
                with np.errstate(all="ignore"):
                    out = t.deserialize()
                casts.append({
                    "name": f"{src}{list(shape)} -> {dst}{target_shape}",
                    "bt_json": t.model_dump_json(),
                    "dtype": str(out.dtype),
                    "shape": list(out.shape),
                    "data_hex": np.ascontiguousarray(out).tobytes().hex(),
                })
    return {"cases": cases, "scalars": scalars, "casts": casts}


def check(doc: dict) -> dict:
    results = []
    for case in doc["cases"]:
        name = case["name"]
        try:
            expected = np.frombuffer(bytes.fromhex(case["data_hex"]), dtype=np.dtype(case["dtype"]))
            expected = expected.reshape(tuple(case["shape"]))
            fields = json.loads(case["bt_json"])
            t = Tensor(**fields)
            got = t.deserialize()
            problems = []
            if got.dtype != expected.dtype:
                problems.append(f"bt dtype {got.dtype} != {expected.dtype}")
            if got.shape != expected.shape:
                problems.append(f"bt shape {got.shape} != {expected.shape}")
            if got.tobytes() != expected.tobytes():
                problems.append("bt bytes differ")
            again = Tensor.serialize(got).model_dump_json()
            if again != case["bt_json"]:
                problems.append(f"python re-serializes to {again[:120]}")
            unpacked = msgpack.unpackb(bytes.fromhex(case["msgpack_hex"]), object_hook=msgpack_numpy.decode)
            if not isinstance(unpacked, np.ndarray):
                problems.append(f"msgpack decodes to {type(unpacked).__name__}")
            elif (unpacked.dtype, unpacked.shape, unpacked.tobytes()) != (
                expected.dtype, expected.shape, expected.tobytes()):
                problems.append("msgpack array differs")
            results.append({"name": name, "ok": not problems, "error": "; ".join(problems)})
        except Exception as e:  # noqa: BLE001 - report everything to the Rust side
            results.append({"name": name, "ok": False, "error": f"{type(e).__name__}: {e}"})
    return {"results": results}


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "gen":
        seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
        out = gen(seed)
    elif len(sys.argv) >= 2 and sys.argv[1] == "check":
        out = check(json.loads(sys.stdin.buffer.read().decode("utf-8")))
    else:
        sys.exit(__doc__)
    sys.stdout.write(json.dumps(out))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
