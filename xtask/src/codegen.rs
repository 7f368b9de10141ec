//! `cargo xtask codegen [--check]`: regenerate the protobuf code from `proto/`.
//!
//! Pure Rust all the way: `protox` parses the `.proto` files into a descriptor set and
//! `tonic-prost-build` turns it into Rust; no `protoc` is needed on any machine. The output
//! is run through `rustfmt` so the committed files are stable under `cargo fmt`, and it is
//! committed: building the workspace never runs code generation.
//!
//! Every generated file is one row of [`TARGETS`]. To generate code for another `.proto`,
//! add a row; the same row can appear with different settings (messages in one crate,
//! the gRPC service in another crate that refers to them through `extern_path`).
//!
//! `--check` generates into a temporary directory and fails, with a short summary per
//! file, if anything differs from the committed files (CI runs it).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::project_root;

/// What to generate for one `.proto` file.
struct Target {
    /// The `.proto` file, relative to `proto/` (also the include root).
    proto: &'static str,
    /// The generated Rust file, relative to the workspace root.
    output: &'static str,
    /// Generate the tonic client and server for the file's services.
    services: bool,
    /// Generate no message types: refer to them under this Rust path instead
    /// (for a service file whose messages live in another crate).
    extern_messages: Option<&'static str>,
}

/// The table of generated files.
const TARGETS: &[Target] = &[
    // The legacy messages, shared by every crate that speaks the legacy dialect.
    Target {
        proto: "bittensor.proto",
        output: "crates/protocol/src/generated/bittensor.rs",
        services: false,
        extern_messages: None,
    },
    // The legacy `Bittensor` service (client and server) over the shared messages.
    Target {
        proto: "bittensor.proto",
        output: "crates/transport/src/generated/bittensor_grpc.rs",
        services: true,
        extern_messages: Some("::neuron_protocol::legacy"),
    },
    // The native dialect (messages, client and server), shared by the axon and dendrite.
    Target {
        proto: "native.proto",
        output: "crates/transport/src/generated/native.rs",
        services: true,
        extern_messages: None,
    },
    // The gossip metagraph: messages, client and server.
    Target {
        proto: "metagraph.proto",
        output: "crates/metagraph/src/generated/metagraph.rs",
        services: true,
        extern_messages: None,
    },
];

/// Runs the codegen command.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask codegen [--check]"),
    };
    let root = project_root();
    let mut stale = Vec::new();
    for target in TARGETS {
        let fresh = generate(&root, target)
            .with_context(|| format!("generating {} from proto/{}", target.output, target.proto))?;
        let path = root.join(target.output);
        let committed = fs::read_to_string(&path).unwrap_or_default();
        if committed == fresh {
            continue;
        }
        if check {
            stale.push(summary(target.output, &committed, &fresh));
        } else {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("codegen: wrote {}", target.output);
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated code is out of date; run `cargo xtask codegen`\n{}",
            stale.join("\n")
        );
    }
    if check {
        eprintln!("codegen: {} generated files are up to date", TARGETS.len());
    }
    Ok(())
}

/// Generates the formatted Rust source of one target.
fn generate(root: &Path, target: &Target) -> anyhow::Result<String> {
    let proto_dir = root.join("proto");
    let fds = protox::compile([target.proto], [&proto_dir])
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("compiling the .proto file")?;

    let scratch = ScratchDir::new()?;
    let mut builder = tonic_prost_build::configure()
        .build_client(target.services)
        .build_server(target.services)
        .bytes(".")
        .emit_rerun_if_changed(false)
        .out_dir(scratch.path());
    if let Some(rust_root) = target.extern_messages {
        // `extern_path(".", ..)` is rejected by prost-build, so map every top-level type
        // of the file; nested types follow their parent.
        let file = fds
            .file
            .iter()
            .find(|f| f.name() == target.proto)
            .context("the descriptor set lacks the compiled file")?;
        let package = file.package().to_owned();
        let prefix = if package.is_empty() {
            String::new()
        } else {
            format!(".{package}")
        };
        let names = file
            .message_type
            .iter()
            .map(|m| m.name())
            .chain(file.enum_type.iter().map(|e| e.name()));
        for name in names {
            builder =
                builder.extern_path(format!("{prefix}.{name}"), format!("{rust_root}::{name}"));
        }
    }
    builder
        .compile_fds(fds)
        .context("running tonic-prost-build")?;

    let generated = scratch.single_rust_file()?;
    let raw = fs::read_to_string(&generated)?;
    let header = format!(
        "// @generated by `cargo xtask codegen` from proto/{}. Do not edit by hand.\n\n",
        target.proto
    );
    rustfmt(root, &(header + &raw))
}

/// Formats Rust source with the toolchain's `rustfmt` (reading stdin, so the workspace's
/// rustfmt configuration, if any, applies).
fn rustfmt(root: &Path, source: &str) -> anyhow::Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running rustfmt (install it with `rustup component add rustfmt`)")?;
    let mut stdin = child.stdin.take().context("rustfmt stdin")?;
    let input = source.to_owned();
    // Write from another thread so a large file cannot deadlock on full pipes.
    let writer =
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let output = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("rustfmt writer panicked"))??;
    if !output.status.success() {
        bail!("rustfmt failed with {}", output.status);
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// A one-line-per-file description of how the committed file differs.
fn summary(output: &str, committed: &str, fresh: &str) -> String {
    if committed.is_empty() {
        return format!(
            "  {output}: missing (would be {} lines)",
            fresh.lines().count()
        );
    }
    let old: Vec<&str> = committed.lines().collect();
    let new: Vec<&str> = fresh.lines().collect();
    let first = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    let changed =
        old.iter().zip(&new).filter(|(a, b)| a != b).count() + old.len().abs_diff(new.len());
    let mut s = format!(
        "  {output}: differs ({} committed lines, {} generated, about {changed} changed); first at line {}",
        old.len(),
        new.len(),
        first + 1
    );
    let _ = write!(
        s,
        "\n    committed: {}\n    generated: {}",
        old.get(first).unwrap_or(&"<end of file>"),
        new.get(first).unwrap_or(&"<end of file>")
    );
    s
}

/// A temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xtask-codegen-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The one `.rs` file that prost-build wrote (`_.rs` for a file without a package).
    fn single_rust_file(&self) -> anyhow::Result<PathBuf> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.0)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        match files.as_slice() {
            [one] => Ok(one.clone()),
            _ => bail!("expected one generated file, found {files:?}"),
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
