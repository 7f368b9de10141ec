"""A bittensor 3.7-style receptor, written from spec wire-legacy.md, against a Rust axon.

grpcio channel, `proto/bittensor.proto` compiled at start-up with grpcio-tools,
msgpack-numpy tensors, sr25519 signatures (bittensor-wallet) in the metadata exactly as a
3.7 receptor sends them: `rpc-auth-header`, `bittensor-signature`, `bittensor-version`,
`request_type`, in that order. Signature v2 ("{nonce}.{sender}.{receiver}.{uid}") or v1
("{nonce}{sender}{uid}", header parts joined by `bitxx`); nonce `time.monotonic_ns()`,
uid a `uuid1` per receptor.

stdin: {"port", "axon_hotkey", "seed" (hex), "blacklisted_seed" (hex), "tokens": {name: int}}
stdout: one JSON object, one entry per scenario.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
import time
import uuid

import grpc
import msgpack
import msgpack_numpy
import numpy as np
from bittensor_wallet import Keypair
from grpc_tools import protoc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = sys.stdout
sys.stdout = sys.stderr  # keep stdout for the JSON report


def load_proto():
    out = tempfile.mkdtemp(prefix="bittensor_pb_")
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{os.path.join(ROOT, 'proto')}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "bittensor.proto",
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed: {rc}")
    sys.path.insert(0, out)
    import bittensor_pb2  # noqa: E402
    import bittensor_pb2_grpc  # noqa: E402

    return bittensor_pb2, bittensor_pb2_grpc


pb, pb_grpc = load_proto()
VERSION = 370
NETWORK_DIM = 1024
VOCAB = 50258
DTYPES = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 4, np.dtype("float16"): 6}
TORCH = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.int64, 6: np.float16}


# ---- tensors (spec §3) ----------------------------------------------------------------

def serialize(arr: np.ndarray, serializer: int = 0) -> "pb.Tensor":
    payload = arr.astype(np.float16) if serializer == 1 else arr
    buffer = msgpack.packb(payload, default=msgpack_numpy.encode)
    return pb.Tensor(
        version=VERSION, buffer=buffer, shape=list(arr.shape), serializer=serializer,
        tensor_type=0, dtype=DTYPES[arr.dtype], requires_grad=False,
    )


def deserialize(t: "pb.Tensor") -> np.ndarray:
    arr = msgpack.unpackb(t.buffer, object_hook=msgpack_numpy.decode)
    return np.asarray(arr).reshape(list(t.shape)).astype(TORCH[t.dtype])


def object_array_tensor() -> "pb.Tensor":
    """msgpack-numpy's layout of an object array: `kind` b'O', data a pickle. Never loaded here."""
    packed = msgpack.packb(
        {b"nd": True, b"type": "|O", b"kind": b"O", b"shape": [1, 3], b"data": pickle.dumps([1, 2, 3])}
    )
    return pb.Tensor(version=VERSION, buffer=packed, shape=[1, 3], dtype=4)


# ---- synapses (spec §2) -------------------------------------------------------------------

def syn(kind: str, **args) -> "pb.Synapse":
    cls = {
        "TEXT_LAST_HIDDEN_STATE": pb.Synapse.TextLastHiddenState,
        "TEXT_CAUSAL_LM": pb.Synapse.TextCausalLM,
        "TEXT_CAUSAL_LM_NEXT": pb.Synapse.TextCausalLMNext,
        "TEXT_SEQ_2_SEQ": pb.Synapse.TextSeq2Seq,
    }[kind]
    return pb.Synapse(synapse_data=cls(**args).SerializeToString(), synapse_type=pb.Synapse.SynapseType.Value(kind))


def unravel(flat: np.ndarray, batch: int, topk: int) -> np.ndarray:
    """Compact phrases → [batch, topk + 1, maxlen] (spec §5 TEXT_CAUSAL_LM_NEXT)."""
    atol = 1e-6
    idx = np.where((flat > -atol) & (flat < 1 + atol))[0]
    assert len(idx) == batch * (topk + 1), (len(idx), batch, topk)
    lens = np.append(idx[1:] - idx[:-1], 1)
    width = int(lens.max())
    out = np.full((len(idx), width), -100.0, dtype=np.float32)
    for r, (start, n) in enumerate(zip(idx, lens)):
        out[r, 0] = min(max(flat[start], 0.0), 1.0)
        out[r, 1:n] = flat[start + 1 : start + n] - 2
    return out.reshape(batch, topk + 1, width)


# ---- the receptor (spec §4, §8) -----------------------------------------------------------

class Receptor:
    def __init__(self, port: int, seed: str, axon_hotkey: str):
        self.keypair = Keypair.create_from_seed(seed)
        self.axon_hotkey = axon_hotkey
        self.uid = str(uuid.uuid1())
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        self.stub = pb_grpc.BittensorStub(self.channel)

    @property
    def hotkey(self) -> str:
        return self.keypair.ss58_address

    def signature(self, fmt: str = "v2", nonce: int | None = None, receiver: str | None = None) -> str:
        nonce = time.monotonic_ns() if nonce is None else nonce
        me = self.hotkey
        if fmt == "v2":
            message = f"{nonce}.{me}.{receiver or self.axon_hotkey}.{self.uid}"
            return f"{nonce}.{me}.0x{self.keypair.sign(message).hex()}.{self.uid}"
        message = f"{nonce}{me}{self.uid}"
        return f"{nonce}bitxx{me}bitxx0x{self.keypair.sign(message).hex()}bitxx{self.uid}"

    def metadata(self, request_type: str = "1", signature: str | None = None, version: str = "370"):
        md = [("rpc-auth-header", "Bittensor")]
        if signature != "":
            md.append(("bittensor-signature", signature or self.signature()))
        md += [("bittensor-version", version), ("request_type", request_type)]
        return md

    def message(self, tensors, synapses) -> "pb.TensorMessage":
        return pb.TensorMessage(version=VERSION, hotkey=self.hotkey, tensors=tensors, synapses=synapses, requires_grad=True)

    def call(self, method: str, message, metadata=None, request_type: str = "1") -> dict:
        rpc = self.stub.Forward if method == "forward" else self.stub.Backward
        try:
            reply = rpc(message, timeout=20, metadata=metadata or self.metadata(request_type))
        except grpc.RpcError as e:
            return {"grpc": e.code().name, "details": e.details()}
        return {
            "grpc": "OK",
            "code": reply.return_code,
            "codes": [s.return_code for s in reply.synapses],
            "messages": [s.message for s in reply.synapses],
            "version": reply.version,
            "hotkey": reply.hotkey,
            "n_tensors": len(reply.tensors),
            "reply": reply,
        }


def public(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "reply"}


def main() -> None:
    args = json.load(sys.stdin)
    tok = args["tokens"]
    r = Receptor(args["port"], args["seed"], args["axon_hotkey"])
    out: dict = {"client_hotkey": r.hotkey}
    x = np.array([[10, 11, 12], [20, 21, 22]], dtype=np.int64)
    B, S = x.shape

    # Every synapse type in one message.
    synapses = [
        syn("TEXT_LAST_HIDDEN_STATE"),
        syn("TEXT_LAST_HIDDEN_STATE", mask=[-1]),
        syn("TEXT_CAUSAL_LM", topk=4),
        syn("TEXT_CAUSAL_LM_NEXT", topk=3),
        syn("TEXT_SEQ_2_SEQ", topk=50, num_to_generate=2, num_beams=5, no_repeat_ngram_size=2,
            num_return_sequences=1, top_p=0.95, temperature=1.0, repetition_penalty=1.0,
            length_penalty=1.0, max_time=150.0, num_beam_groups=1),
    ]
    res = r.call("forward", r.message([serialize(x)] * len(synapses), synapses))
    reply = res.pop("reply")
    hidden = deserialize(reply.tensors[0])
    masked = deserialize(reply.tensors[1])
    lm = deserialize(reply.tensors[2])
    phrases = unravel(deserialize(reply.tensors[3]), B, 3)
    generated = deserialize(reply.tensors[4])
    res.update(
        shapes=[list(t.shape) for t in reply.tensors],
        hidden_value=float(hidden[1, 2, 5]),
        masked_rows=[float(masked[0, 0]), float(masked[1, 0])],
        lm_top_ids=lm[:, :, 4].astype(np.int64).tolist(),
        lm_top_prob=float(lm[0, 0, 0]),
        phrases_shape=list(phrases.shape),
        phrase_1_1=phrases[1, 1].tolist(),
        generated=generated.tolist(),
        generated_dtype=str(generated.dtype),
        synapse_data_echo=[s.synapse_data.hex() for s in reply.synapses] == [s.synapse_data.hex() for s in synapses],
    )
    out["all_types"] = res

    one = [syn("TEXT_CAUSAL_LM", topk=2)]
    msg = r.message([serialize(x)], one)
    out["v1"] = public(r.call("forward", msg, r.metadata(signature=r.signature("v1"))))
    md = r.metadata()
    out["replay"] = [public(r.call("forward", msg, md)), public(r.call("forward", msg, md))]
    out["bad_signature"] = public(r.call("forward", msg, r.metadata(signature=r.signature(receiver=r.hotkey))))
    out["old_version"] = public(r.call("forward", msg, r.metadata(version="360")))
    out["no_signature"] = public(r.call("forward", msg, r.metadata(signature="")))
    eve = Receptor(args["port"], args["blacklisted_seed"], args["axon_hotkey"])
    out["blacklisted"] = public(eve.call("forward", eve.message([serialize(x)], one)))

    two = [syn("TEXT_LAST_HIDDEN_STATE"), syn("TEXT_CAUSAL_LM", topk=2)]
    out["empty_request"] = public(r.call("forward", r.message([], two)))
    out["length_mismatch"] = public(r.call("forward", r.message([serialize(x)], two)))
    out["object_array"] = public(r.call("forward", r.message([object_array_tensor(), serialize(x)], two)))
    out["bad_shape"] = public(r.call("forward", r.message([serialize(x[0]), serialize(x)], two)))
    out["float_tokens"] = public(r.call("forward", r.message([serialize(x.astype(np.float32)), serialize(x)], two)))
    out["null_synapse"] = public(r.call("forward", r.message([serialize(x)] * 2, [pb.Synapse(), two[1]])))
    for name in ("fail", "bad_shape_output", "empty_output", "hang"):
        special = x.copy()
        special[0, 0] = tok[name]
        out[name] = public(r.call("forward", r.message([serialize(special)] * 2, two)))
    # topk above the model's vocabulary: the response cannot be packed (13); topk < 0 (9).
    huge_topk = [syn("TEXT_CAUSAL_LM", topk=60_000), syn("TEXT_CAUSAL_LM", topk=-1), one[0]]
    out["bad_topk"] = public(r.call("forward", r.message([serialize(x)] * 3, huge_topk)))
    wrong_hotkey = r.message([serialize(x)], one)
    wrong_hotkey.hotkey = args["axon_hotkey"]
    out["synapse_check"] = public(r.call("forward", wrong_hotkey))
    cmp = [syn("TEXT_LAST_HIDDEN_STATE", forward_response_serializer_type=1)]
    res = r.call("forward", r.message([serialize(x)], cmp))
    t = res.pop("reply").tensors[0]
    res.update(serializer=t.serializer, dtype=t.dtype, value=float(deserialize(t)[1, 2, 0]))
    out["cmppack_response"] = res
    big = np.arange(700_000, dtype=np.int64).reshape(1, -1)
    out["oversized"] = public(r.call("forward", r.message([serialize(big)], one)))

    # Backward: inputs then gradients (spec §4, §5).
    grads = [np.full((B, S, NETWORK_DIM), 0.5, dtype=np.float32)]
    lm_grad = np.zeros((B, S, 4), dtype=np.float32)  # [values(2) | ids(2)]
    lm_grad[:, :, 0], lm_grad[:, :, 2], lm_grad[:, :, 3] = 1.0, 7, 8
    bw_synapses = [syn("TEXT_LAST_HIDDEN_STATE"), syn("TEXT_CAUSAL_LM", topk=2)]
    bw = r.message([serialize(x)] * 2 + [serialize(grads[0]), serialize(lm_grad)], bw_synapses)
    out["backward"] = public(r.call("backward", bw, request_type="2"))
    out["backward_one_tensor"] = public(r.call("backward", r.message([serialize(x)], bw_synapses[:1]), request_type="2"))
    out["backward_empty"] = public(r.call("backward", r.message([], bw_synapses), request_type="2"))

    OUT.write(json.dumps(out))
    OUT.flush()


if __name__ == "__main__":
    main()
