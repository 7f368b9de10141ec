//! `cargo xtask bench [--quick]`: the load generator (`bench/`, package `neuron-bench`),
//! built in release and run once: the HTTP dialect (Rust and SDK stacks), then the native
//! dialect against the HTTP dialect and a bare tonic echo; then the legacy gRPC fan-out
//! bench (`cargo bench -p neuron-dendrite --bench grpc_fanout`: `text_causal_lm` to 256
//! axons, with mimalloc as the `neuron` binary ships, and the single-endpoint legacy/HTTP
//! comparison).
//!
//! It makes sure the Python venv exists (`cargo xtask venv`) so that the SDK columns can be
//! measured, then runs `cargo run --release -p neuron-bench -- --python <venv python>`.
//! `--quick` shortens every case to about a second (a smoke run). Targets are reported as
//! PASS/MISS in the output and never fail the command; failed requests or a failed Python
//! run do. Results and how to read them: `docs/PERFORMANCE.md`.

use std::process::Command;

use anyhow::{Context, bail};

use crate::project_root;

/// Runs the benchmark; `args` may hold `--quick`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => {
                bail!("bench: unknown argument `{other}` (usage: cargo xtask bench [--quick])")
            }
        }
    }
    let root = project_root();
    let venv = root.join(".venv");
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    let python = match crate::interop::venv(&[]) {
        Ok(()) => Some(python),
        Err(e) => {
            eprintln!("xtask: bench: no Python venv ({e:#}); the SDK columns will be skipped");
            None
        }
    };

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["run", "--release", "-p", "neuron-bench", "--"]);
    if quick {
        cmd.arg("--quick");
    }
    if let Some(python) = &python {
        cmd.arg("--python").arg(python);
    }
    cmd.arg("--script")
        .arg(root.join("tests").join("python").join("bench_sdk.py"));
    println!(
        "xtask: cargo run --release -p neuron-bench{}",
        if quick { " -- --quick" } else { "" }
    );
    let status = cmd.status().context("could not run cargo")?;
    if !status.success() {
        bail!("neuron-bench failed ({status})");
    }

    // The legacy dialect: 256 axons, 30 rounds (10 with --quick), 3 s (1 s) per single-
    // endpoint case.
    let (rounds, secs) = if quick { ("10", "1") } else { ("30", "3") };
    let mut fanout = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    fanout.current_dir(&root).args([
        "bench",
        "-p",
        "neuron-dendrite",
        "--bench",
        "grpc_fanout",
        "--",
        "256",
        rounds,
        secs,
    ]);
    println!("xtask: cargo bench -p neuron-dendrite --bench grpc_fanout -- 256 {rounds} {secs}");
    let status = fanout.status().context("could not run cargo")?;
    if !status.success() {
        bail!("grpc_fanout failed ({status})");
    }
    Ok(())
}
