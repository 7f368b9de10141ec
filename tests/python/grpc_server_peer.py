"""A bittensor 3.7-style legacy gRPC axon, written from shared/spec/wire-legacy.md, for
the Rust receptor/dendrite interop tests (crates/dendrite/tests/grpc.rs).

Usage: ``python grpc_server_peer.py --record FILE [--hotkey //Alice]``

* binds ``127.0.0.1:0``, prints one JSON line ``{"port": P, "hotkey": SS58}`` and serves
  until its stdin is closed;
* generates the Python stubs from ``proto/bittensor.proto`` into a temp dir at start-up;
* authenticates every call like the 3.7 ``AuthInterceptor`` (spec §8): version >= 370,
  v2 (receiver = own hotkey) or v1 signatures checked with py-sr25519-bindings, nonces
  strictly increasing per ``sender:uid``; any failure aborts with UNAUTHENTICATED;
* answers Forward per spec §5/§6 from a tiny deterministic model, Backward with
  Success and no tensors;
* appends one JSON line per authenticated call to FILE *before* answering: rpc, signature
  format, nonce, metadata keys in order, synapse types, and for Backward every tensor
  (shape, dtype, values).

The tiny model (ids = the request's int64 ``[B, S]`` tokens):

* last hidden state: ``h[b, s, d] = ((ids[b, s] * 31 + d) % 97) / 97``;
* causal LM: for each position the top-k ids ``(ids[b, s] + k) % V`` with probabilities
  ``0.5 ** (k + 1)``;
* causal LM next: per batch row, phrase k = ``[(last + k) % V]`` (and a second token
  ``(last + k + 1) % V`` when k is odd), probability ``0.5 ** (k + 1)``, then the floor;
* seq2seq: echoes each row, cut to ``num_to_generate``.

Messages without synapses are the 2.x modality calls (spec §17): a Forward with one
tensor whose ``modality`` picks the model, answered with ``[B, S, 1024]`` (modality
TENSOR) and one top-level code (no tensor or an empty batch -> EmptyRequest, undecodable
-> RequestDeserializationException, wrong rank for the modality -> RequestShapeException);
a Backward with the inputs and the output's gradient, answered with the gradient of the
inputs. The models: TEXT as the hidden state above; IMAGE and TENSOR
``h[b, s, d] = sum(x[b, s, ...])``, whose input gradient is ``sum_d g[b, s, d]`` at every
input element of (b, s).

Behaviours selected by the first token ``ids[0, 0]`` (to reach every code of spec §6):

====== ==============================================================================
 7777   every synapse sleeps 3 s (timeouts)
 6666   every callback raises -> UnknownException (22), all failed
 5555   TEXT_CAUSAL_LM_NEXT has no callback -> NotImplemented (5), others succeed
 1010   request decode fails with a shape error -> RequestShapeException (10)
 1111   callback returns a wrongly shaped tensor -> ResponseShapeException (11)
 7070   callback returns nothing -> EmptyResponse (7)
 1313   response encoding fails -> ResponseSerializationException (13)
 2020   priority pool wait timed out -> Timeout (2) for all
 9090   top-level UnknownException with *no* synapses (wrong count, spec §7 rule 1)
 9191   top-level Success but one tensor missing (spec §7 rule 2)
 1515   Success with an undecodable buffer
====== ==============================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import sdkpeer  # noqa: F401  (loopback-only audit hook; must come first)

import grpc
import msgpack
import msgpack_numpy
import numpy as np
import sr25519
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
VERSION = 370
NETWORK_DIM = 1024
VOCAB = 50258
SER = {}


def load_stubs():
    out = tempfile.mkdtemp(prefix="bt_legacy_stubs_")
    proto_dir = ROOT / "proto"
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={out}",
            str(proto_dir / "bittensor.proto"),
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed: {rc}")
    sys.path.insert(0, out)
    import bittensor_pb2  # noqa: E402

    return bittensor_pb2


pb = load_stubs()
RC = pb.ReturnCode
ST = pb.Synapse.SynapseType


# ---------------------------------------------------------------------------------
# tensors (spec §3)

NP_TO_DT = {np.float32: 1, np.float64: 2, np.int32: 3, np.int64: 4, np.float16: 6}
DT_TO_NP = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.int64, 6: np.float16}


def serialize(arr: np.ndarray, serializer: int = 0) -> "pb.Tensor":
    dtype = NP_TO_DT[arr.dtype.type]
    payload = arr.astype(np.float16) if serializer == 1 else arr
    buf = msgpack.packb(payload, default=msgpack_numpy.encode)
    return pb.Tensor(
        version=VERSION,
        buffer=buf,
        shape=list(arr.shape),
        serializer=serializer,
        dtype=dtype,
        requires_grad=False,
    )


def deserialize(t: "pb.Tensor") -> np.ndarray:
    raw = msgpack.unpackb(t.buffer, object_hook=msgpack_numpy.decode)
    if raw.dtype.kind == "O":
        raise ValueError("object arrays refused")
    return np.asarray(raw).reshape(tuple(t.shape)).astype(DT_TO_NP[t.dtype])


# ---------------------------------------------------------------------------------
# authentication (spec §8)

class Auth:
    def __init__(self, own_ss58: str):
        self.own = own_ss58
        self.nonces: dict[str, int] = {}
        self.lock = threading.Lock()

    @staticmethod
    def public_key(ss58: str) -> bytes:
        return bytes(sdkpeer.bt.Keypair(ss58_address=ss58).public_key)

    @staticmethod
    def verify(pk: bytes, message: str, sig_hex: str) -> bool:
        if not sig_hex.startswith("0x"):
            return False
        try:
            sig = bytes.fromhex(sig_hex[2:])
        except ValueError:
            return False
        msg = message.encode()
        return sr25519.verify(sig, msg, pk) or sr25519.verify(sig, b"<Bytes>" + msg + b"</Bytes>", pk)

    def check(self, md: dict) -> tuple[str | None, dict]:
        sig = md.get("bittensor-signature")
        if sig is None:
            return "Request signature missing", {}
        try:
            if int(md.get("bittensor-version", "x")) < 370:
                return "Incorrect Version", {}
        except ValueError:
            return "Incorrect Version", {}
        parts = sig.split(".")
        info: dict = {}
        if len(parts) == 4 and parts[0].isdigit():
            nonce, sender, sighex, uid = int(parts[0]), parts[1], parts[2], parts[3]
            message = f"{nonce}.{sender}.{self.own}.{uid}"
            info["format"] = "v2"
        else:
            parts = sig.split("bitxx")
            if len(parts) < 4 or not parts[0].isdigit():
                return "Unknown signature format", {}
            nonce, sender, sighex, uid = int(parts[0]), "bitxx".join(parts[1:-2]), parts[-2], parts[-1]
            message = f"{nonce}{sender}{uid}"
            info["format"] = "v1"
        info.update(nonce=nonce, sender=sender, uid=uid)
        key = f"{sender}:{uid}"
        with self.lock:
            if key in self.nonces and nonce <= self.nonces[key]:
                return "Nonce is too small", info
            try:
                pk = self.public_key(sender)
            except Exception:  # noqa: BLE001
                return "Signature mismatch", info
            if not self.verify(pk, message, sighex):
                return "Signature mismatch", info
            self.nonces[key] = nonce
        return None, info


class Interceptor(grpc.ServerInterceptor):
    def __init__(self, auth: Auth, calls: threading.local):
        self.auth = auth
        self.calls = calls

    def intercept_service(self, continuation, handler_call_details):
        entries = list(handler_call_details.invocation_metadata)
        md = dict(entries)
        err, info = self.auth.check(md)
        if err is not None:
            msg = err

            def abort(request, context):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, msg)

            return grpc.unary_unary_rpc_method_handler(abort)
        info["metadata_keys"] = [k for k, _ in entries]
        info["metadata"] = [[k, v] for k, v in entries if k != "user-agent"]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        inner = handler.unary_unary

        def wrapped(request, context):
            return inner(request, context, info)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


# ---------------------------------------------------------------------------------
# the tiny model (spec §5)

class Failure(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def args_of(syn: "pb.Synapse"):
    kinds = {
        ST.TEXT_LAST_HIDDEN_STATE: pb.Synapse.TextLastHiddenState,
        ST.TEXT_CAUSAL_LM: pb.Synapse.TextCausalLM,
        ST.TEXT_CAUSAL_LM_NEXT: pb.Synapse.TextCausalLMNext,
        ST.TEXT_SEQ_2_SEQ: pb.Synapse.TextSeq2Seq,
    }
    cls = kinds.get(syn.synapse_type)
    if cls is None:
        return None
    return cls.FromString(syn.synapse_data)


def hidden(ids, args):
    b, s = ids.shape
    d = np.arange(NETWORK_DIM)
    h = ((ids[:, :, None] * 31 + d[None, None, :]) % 97).astype(np.float32) / np.float32(97)
    mask = list(args.mask)
    if not mask:
        return h
    rows = [bb * s + (m % s) for bb in range(b) for m in mask]
    return h.reshape(b * s, NETWORK_DIM)[rows]


def causal_lm(ids, args):
    k = np.arange(args.topk)
    probs = (0.5 ** (k + 1)).astype(np.float32)
    idx = (ids[:, :, None] + k[None, None, :]) % VOCAB
    vals = np.broadcast_to(probs, idx.shape)
    return np.concatenate([vals, idx.astype(np.float32)], axis=-1).astype(np.float32)


def causal_lm_next(ids, args):
    out = []
    for row in ids:
        last = int(row[-1])
        total = 0.0
        for k in range(args.topk):
            p = 0.5 ** (k + 1)
            total += p
            phrase = [(last + k) % VOCAB]
            if k % 2 == 1:
                phrase.append((last + k + 1) % VOCAB)
            out.append(p)
            out.extend(t + 2 for t in phrase)
        out.append(min(max(1.0 - total, 1e-40), 1.0) / (VOCAB - args.topk))
    return np.asarray(out, dtype=np.float32)


def seq2seq(ids, args):
    return ids[:, : args.num_to_generate].astype(np.int64)


def check_response(kind, ids, args, out):
    b, s = ids.shape
    if kind == ST.TEXT_LAST_HIDDEN_STATE:
        mask = list(args.mask)
        ok = out.shape == (b, s, NETWORK_DIM) or (
            out.ndim == 2 and out.shape == (b * (len(mask) or s), NETWORK_DIM)
        )
    elif kind == ST.TEXT_CAUSAL_LM:
        ok = out.shape == (b, s, 2 * args.topk)
    elif kind == ST.TEXT_CAUSAL_LM_NEXT:
        ok = out.ndim == 1 and out.shape[0] >= b * (2 * args.topk + 1)
    else:
        ok = out.ndim == 2 and out.shape[0] == b and out.shape[1] <= args.num_to_generate
    if not ok:
        raise Failure(RC.ResponseShapeException, f"bad response shape {out.shape}")


CALLBACKS = {
    ST.TEXT_LAST_HIDDEN_STATE: hidden,
    ST.TEXT_CAUSAL_LM: causal_lm,
    ST.TEXT_CAUSAL_LM_NEXT: causal_lm_next,
    ST.TEXT_SEQ_2_SEQ: seq2seq,
}


def run_synapse(syn, tensor, magic):
    args = args_of(syn)
    if magic == 1010:
        raise Failure(RC.RequestShapeException, "Input must be rank 2")
    try:
        ids = deserialize(tensor)
    except Exception as e:  # noqa: BLE001
        raise Failure(RC.RequestDeserializationException, str(e)) from e
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise Failure(RC.RequestShapeException, f"bad request shape {ids.shape}")
    if args is None or (magic == 5555 and syn.synapse_type == ST.TEXT_CAUSAL_LM_NEXT):
        raise Failure(RC.NotImplemented, "Not Implemented")
    if magic == 7777:
        time.sleep(3)
    if magic == 6666:
        raise Failure(RC.UnknownException, "model exploded")
    if magic == 7070:
        raise Failure(RC.EmptyResponse, "Empty Response")
    out = CALLBACKS[syn.synapse_type](ids, args)
    if magic == 1111:
        out = np.zeros((1, 2, 3), dtype=np.float32)
    check_response(syn.synapse_type, ids, args, out)
    if magic == 1313:
        raise Failure(RC.ResponseSerializationException, "cannot serialize")
    ser = getattr(args, "forward_response_serializer_type", 0)
    t = serialize(out, ser)
    if magic == 1515:
        t.buffer = b"\x93\x01\x02"
    return t


# ---------------------------------------------------------------------------------
# the 2.x modality calls (spec §17)

MODALITY_RANK = {0: 2, 1: 5, 2: 3}
TENSOR_MODALITY = 2


def modality_inputs(t: "pb.Tensor") -> np.ndarray:
    x = deserialize(t)
    if x.ndim < 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise Failure(RC.EmptyRequest, f"empty batch or sequence: {list(x.shape)}")
    if x.ndim != MODALITY_RANK.get(t.modality, -1):
        raise Failure(RC.RequestShapeException, f"rank {x.ndim} for modality {t.modality}")
    return x


def modality_forward(t: "pb.Tensor") -> "pb.Tensor":
    try:
        x = deserialize(t)
    except Exception as e:  # noqa: BLE001
        raise Failure(RC.RequestDeserializationException, str(e)) from e
    x = modality_inputs(t)
    if t.modality == 0:
        out = hidden(x.astype(np.int64), pb.Synapse.TextLastHiddenState())
    else:
        b, s = x.shape[:2]
        sums = x.reshape(b, s, -1).sum(axis=2, dtype=np.float32)
        out = np.repeat(sums[:, :, None], NETWORK_DIM, axis=2)
    reply = serialize(out.astype(np.float32))
    reply.modality = TENSOR_MODALITY
    return reply


def modality_backward(x_t: "pb.Tensor", g_t: "pb.Tensor") -> "pb.Tensor":
    x = modality_inputs(x_t)
    g = deserialize(g_t)
    b, s = x.shape[:2]
    if g.shape != (b, s, NETWORK_DIM):
        raise Failure(RC.RequestShapeException, f"gradient shape {list(g.shape)}")
    per_row = g.sum(axis=2, dtype=np.float32).reshape((b, s) + (1,) * (x.ndim - 2))
    reply = serialize(np.broadcast_to(per_row, x.shape).astype(np.float32))
    reply.modality = TENSOR_MODALITY
    return reply


# ---------------------------------------------------------------------------------
# the service (spec §6)

class Service:
    def __init__(self, own: str, record: Path):
        self.own = own
        self.record = record
        self.lock = threading.Lock()

    def log(self, entry):
        with self.lock, open(self.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()

    def envelope(self, request):
        return pb.TensorMessage(version=VERSION, hotkey=self.own, requires_grad=request.requires_grad)

    def Forward(self, request, context, info):
        self.log(
            dict(
                info,
                rpc="Forward",
                synapses=[s.synapse_type for s in request.synapses],
                modalities=[t.modality for t in request.tensors],
                hotkey=request.hotkey,
                version=request.version,
                requires_grad=request.requires_grad,
            )
        )
        reply = self.envelope(request)
        if not request.synapses and len(request.tensors) == 1:
            try:
                reply.tensors.append(modality_forward(request.tensors[0]))
                reply.return_code, reply.message = RC.Success, "Success"
            except Failure as f:
                reply.return_code, reply.message = f.code, str(f)
            return reply
        if len(request.tensors) == 0:
            reply.return_code = RC.EmptyRequest
            reply.synapses.extend(s for s in request.synapses)
            return reply
        if len(request.tensors) != len(request.synapses):
            reply.return_code = RC.RequestShapeException
            return reply
        try:
            magic = int(deserialize(request.tensors[0]).reshape(-1)[0])
        except Exception:  # noqa: BLE001
            magic = 0
        if magic == 2020:
            reply.return_code = RC.Timeout
            for s in request.synapses:
                c = pb.Synapse()
                c.CopyFrom(s)
                c.return_code, c.message = RC.Timeout, "Request reached timeout"
                reply.synapses.append(c)
            return reply
        if magic == 9090:
            reply.return_code = RC.UnknownException
            return reply
        results = []
        for syn, tensor in zip(request.synapses, request.tensors):
            try:
                results.append((RC.Success, "Success", run_synapse(syn, tensor, magic)))
            except Failure as f:
                results.append((f.code, str(f), None))
        if all(code != RC.Success for code, _, _ in results):
            reply.return_code = results[0][0]
            for syn, (code, msg, _) in zip(request.synapses, results):
                c = pb.Synapse()
                c.CopyFrom(syn)
                c.return_code, c.message = code, msg
                reply.synapses.append(c)
            return reply
        reply.return_code = RC.Success
        for syn, (code, msg, t) in zip(request.synapses, results):
            c = pb.Synapse(synapse_type=syn.synapse_type, synapse_data=syn.synapse_data)
            c.return_code, c.message = code, msg
            reply.synapses.append(c)
            reply.tensors.append(t if t is not None else pb.Tensor(version=VERSION))
        if magic == 9191:
            del reply.tensors[-1]
        return reply

    def Backward(self, request, context, info):
        tensors = []
        for t in request.tensors:
            try:
                arr = deserialize(t)
                tensors.append({"shape": list(arr.shape), "dtype": int(t.dtype), "values": arr.reshape(-1).tolist()})
            except Exception as e:  # noqa: BLE001
                tensors.append({"error": str(e)})
        self.log(
            dict(
                info,
                rpc="Backward",
                synapses=[s.synapse_type for s in request.synapses],
                hotkey=request.hotkey,
                tensors=tensors,
            )
        )
        reply = self.envelope(request)
        if not request.synapses and len(request.tensors) == 2:
            try:
                reply.tensors.append(modality_backward(request.tensors[0], request.tensors[1]))
                reply.return_code, reply.message = RC.Success, "Success"
            except Failure as f:
                reply.return_code, reply.message = f.code, str(f)
            except Exception as e:  # noqa: BLE001
                reply.return_code, reply.message = RC.RequestDeserializationException, str(e)
            return reply
        if len(request.tensors) == 0:
            reply.return_code = RC.EmptyRequest
        elif len(request.tensors) == 1:
            reply.return_code = RC.InvalidRequest
        elif len(request.tensors) != 2 * len(request.synapses):
            reply.return_code = RC.RequestShapeException
        else:
            reply.return_code = RC.Success
        for s in request.synapses:
            c = pb.Synapse()
            c.CopyFrom(s)
            c.return_code, c.message = reply.return_code, RC.Name(reply.return_code)
            reply.synapses.append(c)
        return reply


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", required=True)
    ap.add_argument("--hotkey", default="//Alice")
    a = ap.parse_args()
    own = sdkpeer.keypair(a.hotkey).ss58_address
    svc = Service(own, Path(a.record))
    interceptor = Interceptor(Auth(own), threading.local())

    def unary(fn):
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=pb.TensorMessage.FromString,
            response_serializer=pb.TensorMessage.SerializeToString,
        )

    handler = grpc.method_handlers_generic_handler(
        "Bittensor", {"Forward": unary(svc.Forward), "Backward": unary(svc.Backward)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        interceptors=[interceptor],
        maximum_concurrent_rpcs=400,
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sdkpeer.emit({"port": port, "hotkey": own})
    sys.stdin.read()
    server.stop(0)
    os._exit(0)


if __name__ == "__main__":
    main()
