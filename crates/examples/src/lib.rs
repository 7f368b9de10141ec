//! Example synapses, named exactly as Python users know them, with pure handlers.
//!
//! | synapse | Python | handler |
//! |---|---|---|
//! | [`Dummy`] | `dummy_input: int`, `dummy_output: Optional[int] = None` | [`dummy`]: output = input × 2 |
//! | [`TensorEcho`] | `tensor: Optional[bt.Tensor] = None`, `scale: float = 2.0`, hash fields `("tensor",)` | [`tensor_echo`]: tensor × scale, same dtype |
//! | [`Hashed`] | `text`, `numbers`, `ratio`, `flag`, `meta` required and hashed, `output: Optional[str]` | [`hashed`]: `"{text}\|{sum}\|{ratio}\|{flag}\|{len(meta)}"` |
//! | [`StreamCount`] | `StreamingSynapse` with `n: int` | [`stream_count`]: chunks `tok<i>\n` |
//!
//! [`model::TinyLm`] is a tiny seeded candle language model that serves the legacy text
//! synapses in `neuron localnet`.
//!
//! The matching Python classes are in `tests/python/http_axon_synapses.py`.

mod dummy;
mod hashed;
pub mod model;
mod stream;
mod tensor_echo;

pub use dummy::{Dummy, dummy};
pub use hashed::{Hashed, hashed};
pub use stream::{StreamCount, stream_count};
pub use tensor_echo::{TensorEcho, TensorEchoError, tensor_echo};
