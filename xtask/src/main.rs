//! Project automation, in the rust-analyzer mould: `cargo xtask <command>`.
//!
//! * `codegen [--check]`: regenerate the protobuf code from `proto/` with a pure-Rust compiler.
//! * `venv`: create the Python venv used by the interop tests (`.venv/`).
//! * `test`: create the venv if needed, then run the whole test suite.
//! * `bench [--quick]`: build `neuron-bench` in release and run the HTTP-dialect benchmark.
//! * `unicode [--check]`: regenerate the table of code points whose printability differs
//!   between the CPython releases that run bittensor (needs CPython 3.10 to 3.13).

mod bench;
mod codegen;
mod interop;
mod unicode;

use std::path::{Path, PathBuf};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(rest),
        Some("codegen") => codegen::run(rest),
        Some("venv") => interop::venv(rest),
        Some("test") => interop::test(rest),
        Some("unicode") => unicode::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <codegen [--check] | venv | test | bench [--quick] | unicode [--check]>"
            );
            std::process::exit(2);
        }
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
