"""A bittensor 3.7-style grpcio receptor against `neuron serve`: the legacy gRPC dialect on
the same port as the HTTP dialect, answered by the built-in model.

Reuses the receptor of `grpc_client_peer.py` (written from spec wire-legacy.md).

stdin: {"port", "axon_hotkey", "seed" (hex), "tokens": [[int]]}
stdout: one JSON object.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import grpc_client_peer as peer


def main() -> None:
    args = json.load(sys.stdin)
    r = peer.Receptor(args["port"], args["seed"], args["axon_hotkey"])
    x = np.array(args["tokens"], dtype=np.int64)
    B, S = x.shape
    synapses = [
        peer.syn("TEXT_LAST_HIDDEN_STATE"),
        peer.syn("TEXT_CAUSAL_LM", topk=4),
        peer.syn("TEXT_CAUSAL_LM_NEXT", topk=3),
        peer.syn("TEXT_SEQ_2_SEQ", topk=50, num_to_generate=3, num_beams=1, no_repeat_ngram_size=2,
                 num_return_sequences=1, top_p=0.95, temperature=1.0, repetition_penalty=1.0,
                 length_penalty=1.0, max_time=150.0, num_beam_groups=1),
    ]
    out: dict = {}
    res = r.call("forward", r.message([peer.serialize(x)] * len(synapses), synapses))
    reply = res.pop("reply")
    hidden = peer.deserialize(reply.tensors[0])
    phrases = peer.unravel(peer.deserialize(reply.tensors[2]), B, 3)
    res.update(
        shapes=[list(t.shape) for t in reply.tensors],
        hidden_first=[float(v) for v in hidden[0, -1, :4]],
        phrases_shape=list(phrases.shape),
        generated=peer.deserialize(reply.tensors[3]).tolist(),
    )
    out["forward"] = res

    # Backward: the gradient of sum(hidden) is all ones; the model takes one SGD step.
    grad = np.ones((B, S, peer.NETWORK_DIM), dtype=np.float32)
    one = [peer.syn("TEXT_LAST_HIDDEN_STATE")]
    out["backward"] = peer.public(
        r.call("backward", r.message([peer.serialize(x), peer.serialize(grad)], one), request_type="2")
    )
    res = r.call("forward", r.message([peer.serialize(x)], one))
    after = peer.deserialize(res.pop("reply").tensors[0])
    res.update(hidden_sum_before=float(hidden.sum()), hidden_sum_after=float(after.sum()))
    out["after_backward"] = res

    md = r.metadata()
    msg = r.message([peer.serialize(x)], one)
    out["replay"] = [peer.public(r.call("forward", msg, md)), peer.public(r.call("forward", msg, md))]

    peer.OUT.write(json.dumps(out))
    peer.OUT.flush()


if __name__ == "__main__":
    main()
