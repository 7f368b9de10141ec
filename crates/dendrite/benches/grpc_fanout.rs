//! The legacy gRPC benchmarks (`fanout/common.rs`) with mimalloc as the global allocator,
//! as the `neuron` binary ships.
#![allow(clippy::unwrap_used, missing_docs)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "fanout/common.rs"]
mod common;
#[path = "fanout/timing.rs"]
mod timing;

fn main() {
    common::main("mimalloc");
}
