//! `cargo xtask venv` and `cargo xtask test`.
//!
//! The interop tests run the real Python SDK (`bittensor==10.5.0`) as a peer. `venv` makes
//! `<root>/.venv` with `python3 -m venv` and installs `tests/python/requirements.txt` into
//! it; a stamp file (`.venv/.requirements.sha256`) holding the requirements' hash skips the
//! pip step when nothing changed. `test` runs `venv`, then `cargo test --workspace` with
//! `NEURON_PYTHON` pointing at the venv's interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::project_root;

const REQUIREMENTS: &str = "tests/python/requirements.txt";
const STAMP: &str = ".requirements.sha256";

/// `cargo xtask venv [--force]`: creates `.venv` if missing (or anew with `--force`) and
/// installs the Python requirements unless the stamp says they are in already.
pub fn venv(args: &[String]) -> anyhow::Result<()> {
    let mut force = false;
    for arg in args {
        match arg.as_str() {
            "--force" => force = true,
            other => bail!("venv: unknown argument `{other}` (usage: cargo xtask venv [--force])"),
        }
    }
    ensure_venv(&project_root(), force).map(drop)
}

/// `cargo xtask test [-- <cargo test args>]`: `venv`, then the whole suite.
pub fn test(args: &[String]) -> anyhow::Result<()> {
    let extra = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    let root = project_root();
    let python = ensure_venv(&root, false)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("xtask: cargo test --workspace {}", extra.join(" "));
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["test", "--workspace"])
        .args(extra)
        .env("NEURON_PYTHON", &python)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// Makes the venv usable and returns its interpreter.
fn ensure_venv(root: &Path, force: bool) -> anyhow::Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv_python(&venv);
    if force || !runs(&python) {
        create_venv(&venv, force)?;
    }
    let requirements = root.join(REQUIREMENTS);
    let want = sha256_hex(&python, &requirements)?;
    let stamp = venv.join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have.trim() == want) {
        println!("xtask: venv up to date ({})", python.display());
        return Ok(python);
    }
    println!("xtask: installing {REQUIREMENTS} into .venv (a minute or two on a fresh venv)");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements))
    .context("pip install failed")?;
    std::fs::write(&stamp, format!("{want}\n"))
        .with_context(|| format!("could not write {}", stamp.display()))?;
    println!("xtask: venv ready ({})", python.display());
    Ok(python)
}

fn create_venv(venv: &Path, force: bool) -> anyhow::Result<()> {
    let base = std::env::var_os("NEURON_BASE_PYTHON").unwrap_or_else(|| "python3".into());
    if force && venv.exists() {
        println!("xtask: removing {}", venv.display());
        std::fs::remove_dir_all(venv)
            .with_context(|| format!("could not remove {}", venv.display()))?;
    }
    println!(
        "xtask: creating {} with {} -m venv",
        venv.display(),
        base.to_string_lossy()
    );
    // `--clear` also repairs a venv whose interpreter no longer runs.
    run(Command::new(&base)
        .args(["-m", "venv", "--clear"])
        .arg(venv))
    .with_context(|| {
        format!(
            "could not create the venv: is `{}` (Python 3.11 with venv) installed?",
            base.to_string_lossy()
        )
    })
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Whether `python` exists and starts.
fn runs(python: &Path) -> bool {
    python.exists()
        && Command::new(python)
            .args(["-c", "pass"])
            .status()
            .is_ok_and(|s| s.success())
}

/// SHA-256 of a file, through the venv's own `hashlib` (keeps xtask free of a hash crate).
fn sha256_hex(python: &Path, file: &Path) -> anyhow::Result<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        ])
        .arg(file)
        .output()
        .context("could not run the venv's python")?;
    if !out.status.success() {
        bail!(
            "could not hash {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} exited with {status}", cmd.get_program());
    }
    Ok(())
}
