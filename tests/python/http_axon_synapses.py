"""The example synapses of the `neuron-examples` crate, as a Python user writes them.

Import after ``sdkpeer`` (it patches bittensor before the classes are built):

    import sdkpeer
    from http_axon_synapses import Dummy, TensorEcho, Hashed, StreamCount
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional, Tuple

import bittensor as bt


class Dummy(bt.Synapse):
    """Doubles an integer."""

    dummy_input: int
    dummy_output: Optional[int] = None

    def deserialize(self) -> Optional[int]:
        return self.dummy_output


class TensorEcho(bt.Synapse):
    """Returns ``tensor * scale`` in the tensor's own dtype."""

    tensor: Optional[bt.Tensor] = None
    scale: float = 2.0

    required_hash_fields: ClassVar[Tuple[str, ...]] = ("tensor",)

    def deserialize(self) -> Optional[bt.Tensor]:
        return self.tensor


class Hashed(bt.Synapse):
    """Every JSON type in the body hash; the output summarises the inputs."""

    text: str
    numbers: List[int]
    ratio: float
    flag: bool
    meta: Dict[str, Any]
    output: Optional[str] = None

    required_hash_fields: ClassVar[Tuple[str, ...]] = ("text", "numbers", "ratio", "flag", "meta")

    def deserialize(self) -> Optional[str]:
        return self.output


def hashed_output(text: str, numbers: List[int], ratio: float, flag: bool, meta: Dict[str, Any]) -> str:
    """What the Rust handler must answer for a `Hashed` request."""
    return f"{text}|{sum(numbers)}|{ratio!r}|{flag}|{len(meta)}"


class StreamCount(bt.StreamingSynapse):
    """The axon streams ``n`` chunks ``tok<i>\\n``."""

    n: int

    async def process_streaming_response(self, response):
        # Chunk boundaries are not preserved by TCP; yield complete lines.
        pending = b""
        async for chunk in response.content.iter_any():
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line.decode("utf-8")
        if pending:
            yield pending.decode("utf-8")

    def extract_response_json(self, response) -> dict:
        headers = {k.decode("utf-8"): v.decode("utf-8") for k, v in response.__dict__["_raw_headers"]}

        def terminal(prefix: str) -> dict:
            return {k[len(prefix) + 1 :]: v for k, v in headers.items() if k.startswith(prefix + "_")}

        return {
            "name": headers.get("name", ""),
            "timeout": float(headers.get("timeout", 0)),
            "total_size": int(headers.get("total_size", 0)),
            "header_size": int(headers.get("header_size", 0)),
            "dendrite": terminal("bt_header_dendrite"),
            "axon": terminal("bt_header_axon"),
            "n": self.n,
        }
