//! The legacy gRPC benchmarks (`fanout/common.rs`) with the system allocator (glibc malloc),
//! for library users who keep Rust's default.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "fanout/common.rs"]
mod common;
#[path = "fanout/timing.rs"]
mod timing;

fn main() {
    common::main("system allocator");
}
