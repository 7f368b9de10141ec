"""CPython's side of the pystr tests (crates/protocol/tests/core_pystr.rs).

Reads a JSON request on stdin and prints CPython's answers as JSON:

  {"floats": ["<16 hex digits of the f64 bits, big-endian>", ...],
   "strings": ["...", ...],
   "values": [<any JSON value>, ...],
   "printable": true}

  -> {"floats": [repr(x), ...], "strings": [repr(s), ...], "values": [str(v), ...],
      "printable": [[start, end), ...], "unassigned": [[start, end), ...]}

"printable" lists the ranges of code points for which str.isprintable() is true, and
"unassigned" the ranges whose category is Cn in this CPython's Unicode tables (so that
the Rust side can tell a real mismatch from a character assigned in a newer Unicode).

With --fixture it prints the committed fixture core_pyrepr.json instead: the inputs of
FIXTURE below, each paired with CPython's answer.
"""

import json
import struct
import sys
import unicodedata


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append([start, cp])
            start = None
    if start is not None:
        out.append([start, 0x110000])
    return out


def answer(req):
    res = {
        "floats": [repr(struct.unpack(">d", bytes.fromhex(h))[0]) for h in req.get("floats", [])],
        "strings": [repr(s) for s in req.get("strings", [])],
        "values": [str(v) for v in req.get("values", [])],
    }
    if req.get("printable"):
        res["python"] = sys.version.split()[0]
        res["unicode"] = unicodedata.unidata_version
        res["printable"] = ranges(lambda cp: chr(cp).isprintable())
        res["unassigned"] = ranges(lambda cp: unicodedata.category(chr(cp)) == "Cn")
    return res


def bits(x):
    return struct.pack(">d", x).hex()


FIXTURE = {
    "floats": [bits(x) for x in [
        1e-5, 0.0001, 1e16, 123456789012345.0, 1e22, 5e-324, 1.7976931348623157e308, -0.0,
        0.1 + 0.2, 0.0, 1.0, 12.0, 0.1, 1e15, 9999999999999998.0, 0.00009999999999999999,
        2.5e-5, 1.5e300, -1.5e-300, float("inf"), float("-inf"), float("nan"), 2.0**53,
        2.0**53 + 2, 3.790855407714844e-05, 0.5, 100.0, 1234.5678, 1e-7, 123456789.123,
        2.2250738585072014e-308, 1e100, 1e-100, 9.999999999999999e15, 1.2345678901234567e15,
        -123.456, 1e-4, 0.001, 1e17, 4.35, 2.675, 1 / 3,
    ]],
    "strings": [
        "", "a", "it's", 'say "hi"', "both ' and \"", "back\\slash", "\n\r\t", "\x00\x01\x1f\x7f",
        "\x80\x9f\xa0\xad", "héllo wörld", "😀", "🏳️‍🌈", "\u2028\u2029", "\u3000", "\ue000",
        "\U000f0000", "\U0010ffff", "\ufeff", "日本語", "\U0001f600x", "\u0378", "e\u0301",
        "\u200b", "\u1680", "\x85", "tab\there", "'", '"', "\\'", "\x0b\x0c", "ÿ",
    ],
    "values": [
        {"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": None},
        [1, 2.0, "x", None, True],
        {"a": {"b": [1, 2.0, "x", None, True]}, "c": []},
        {"it's": '"', "é": "\n"},
        [[], {}],
        1e16,
        -0.0,
        12345678901234567890,
        -5,
        "top-level str",
        "it's top",
        True,
        None,
        [0.1, 1e-05, "\x00"],
    ],
}


def main():
    if sys.argv[1:] == ["--fixture"]:
        res = answer(FIXTURE)
        fixture = {
            "python": sys.version.split()[0],
            "floats": list(zip(FIXTURE["floats"], res["floats"])),
            "strings": list(zip(FIXTURE["strings"], res["strings"])),
            "values": list(zip(FIXTURE["values"], res["values"])),
        }
        json.dump(fixture, sys.stdout, ensure_ascii=True, indent=1)
        print()
        return
    json.dump(answer(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
