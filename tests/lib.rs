//! Shared support for the cross-crate and interop tests.
//!
//! The interop tests run the real Python SDK as a peer. [`python`] finds the interpreter of
//! the project's venv (`$NEURON_PYTHON`, else `<root>/.venv/bin/python`) and fails with
//! "run `cargo xtask venv`" when there is none: a missing peer is a failed test, never a
//! skipped one. [`run_python`] runs one script of `tests/python/` to completion and parses
//! the single JSON document it prints; [`spawn_python`] starts a long-running peer that is
//! killed when its handle drops.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;

/// The environment variable naming the Python interpreter of the interop peers.
pub const PYTHON_ENV: &str = "NEURON_PYTHON";

/// How long [`run_python`] lets a script run before killing it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The workspace root (the parent of `tests/`).
pub fn project_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The directory of the Python peers, `<root>/tests/python`.
pub fn python_dir() -> PathBuf {
    project_root().join("tests").join("python")
}

/// The interpreter of the interop peers: `$NEURON_PYTHON`, else `<root>/.venv/bin/python`.
///
/// # Errors
/// When the interpreter does not exist; the message says to run `cargo xtask venv`.
pub fn python() -> anyhow::Result<PathBuf> {
    let (path, from) = match std::env::var_os(PYTHON_ENV) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), format!("${PYTHON_ENV}")),
        _ => (default_venv_python(), "the project venv".to_owned()),
    };
    if !path.is_file() {
        bail!(
            "no Python interop peer: {} ({from}) does not exist; run `cargo xtask venv` \
             (or `cargo xtask test`, which creates it)",
            path.display()
        );
    }
    Ok(path)
}

fn default_venv_python() -> PathBuf {
    let venv = project_root().join(".venv");
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// A `Command` running `tests/python/<script>` with the venv interpreter, unbuffered, with
/// a fixed hash seed and without writing bytecode next to the sources.
///
/// # Errors
/// As [`python`], or if the script does not exist.
pub fn python_command(script: &str) -> anyhow::Result<Command> {
    let path = python_dir().join(script);
    if !path.is_file() {
        bail!("no such Python peer: {}", path.display());
    }
    let mut cmd = Command::new(python()?);
    cmd.arg(path)
        .current_dir(python_dir())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Ok(cmd)
}

/// What a finished script produced.
#[derive(Debug)]
pub struct PythonOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything printed on stderr (SDK logs, tracebacks).
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

/// Runs `tests/python/<script> <args…>`, feeding `stdin`, and waits up to
/// [`DEFAULT_TIMEOUT`].
///
/// # Errors
/// If the script cannot start, times out, or exits non-zero (the error carries its stderr).
pub fn run_python_raw(script: &str, args: &[&str], stdin: &[u8]) -> anyhow::Result<PythonOutput> {
    run_python_with_timeout(script, args, stdin, DEFAULT_TIMEOUT)
}

/// [`run_python_raw`] with an explicit time limit.
///
/// # Errors
/// As [`run_python_raw`].
pub fn run_python_with_timeout(
    script: &str,
    args: &[&str],
    stdin: &[u8],
    timeout: Duration,
) -> anyhow::Result<PythonOutput> {
    let started = Instant::now();
    let mut child = python_command(script)?
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {script}"))?;
    let writer = child.stdin.take().map(|pipe| feed(pipe, stdin.to_vec()));
    let stdout = child.stdout.take().map(|mut pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).map(|_| buf)
        })
    });
    let stderr = child.stderr.take().map(|mut pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).map(|_| buf)
        })
    });
    let status = wait_with_deadline(&mut child, started + timeout)
        .with_context(|| format!("{script} did not finish within {timeout:?}"))?;
    if let Some(w) = writer {
        // A script may exit without reading all its input; that is its business.
        let _ = w.join();
    }
    let stdout = join_pipe(stdout)?;
    let stderr = String::from_utf8_lossy(&join_pipe(stderr)?).into_owned();
    let out = PythonOutput {
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    };
    if !out.status.success() {
        bail!(
            "{script} {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            out.stderr
        );
    }
    Ok(out)
}

/// Runs a script (as [`run_python_raw`]) and parses the JSON document it printed on stdout.
///
/// # Errors
/// As [`run_python_raw`], or if stdout is not one JSON document of type `T`.
pub fn run_python<T: DeserializeOwned>(
    script: &str,
    args: &[&str],
    stdin: &[u8],
) -> anyhow::Result<T> {
    let out = run_python_raw(script, args, stdin)?;
    parse_json(script, &out)
}

/// Parses a finished script's stdout as JSON.
///
/// # Errors
/// If stdout is not one JSON document of type `T` (the error quotes stdout's start and stderr).
pub fn parse_json<T: DeserializeOwned>(script: &str, out: &PythonOutput) -> anyhow::Result<T> {
    serde_json::from_slice(&out.stdout).with_context(|| {
        let head: String = String::from_utf8_lossy(&out.stdout)
            .chars()
            .take(400)
            .collect();
        format!(
            "{script} printed no valid JSON document: {head:?}\nstderr:\n{}",
            out.stderr
        )
    })
}

/// A long-running Python peer (a server), killed when dropped.
#[derive(Debug)]
pub struct PythonPeer {
    child: Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// Starts `tests/python/<script> <args…>` with piped stdin/stdout (stderr is inherited, so
/// the peer's logs show up in the test output on failure).
///
/// # Errors
/// As [`python_command`], or if the process cannot start.
pub fn spawn_python(script: &str, args: &[&str]) -> anyhow::Result<PythonPeer> {
    let mut child = python_command(script)?
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("could not start {script}"))?;
    let stdout = child
        .stdout
        .take()
        .context("the peer's stdout is not piped")?;
    Ok(PythonPeer {
        child,
        stdout: std::io::BufReader::new(stdout),
    })
}

impl PythonPeer {
    /// Reads one line of the peer's stdout and parses it as JSON (peers announce their
    /// port this way). Blocks until the line arrives or stdout closes.
    ///
    /// # Errors
    /// If stdout closes first or the line is not JSON of type `T`.
    pub fn read_json_line<T: DeserializeOwned>(&mut self) -> anyhow::Result<T> {
        use std::io::BufRead;
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .context("reading the peer's stdout")?;
        if n == 0 {
            bail!("the Python peer closed stdout (it probably crashed; see stderr above)");
        }
        serde_json::from_str(line.trim_end()).with_context(|| format!("not JSON: {line:?}"))
    }

    /// Writes `bytes` to the peer's stdin.
    ///
    /// # Errors
    /// If the peer has closed its stdin.
    pub fn write_stdin(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let pipe = self
            .child
            .stdin
            .as_mut()
            .context("the peer's stdin is closed")?;
        pipe.write_all(bytes)?;
        pipe.flush()?;
        Ok(())
    }

    /// Closes the peer's stdin (peers that serve "until stdin closes" then exit).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits up to `timeout` for the peer to exit by itself.
    ///
    /// # Errors
    /// If it is still running after `timeout` (it is then killed).
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        wait_with_deadline(&mut self.child, Instant::now() + timeout)
    }

    /// The peer's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn feed(mut pipe: ChildStdin, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    })
}

fn join_pipe(
    handle: Option<thread::JoinHandle<std::io::Result<Vec<u8>>>>,
) -> anyhow::Result<Vec<u8>> {
    match handle {
        None => Ok(Vec::new()),
        Some(h) => match h.join() {
            Ok(read) => read.context("reading a pipe of the Python peer"),
            Err(_) => bail!("the pipe reader thread panicked"),
        },
    }
}

/// Polls `child` until it exits or `deadline` passes; kills it in the latter case.
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out; the process was killed");
        }
        thread::sleep(Duration::from_millis(10));
    }
}
