//! `cargo xtask unicode [--check]`: regenerate the table of code points whose printability
//! differs between the CPython releases that run bittensor.
//!
//! Python's `repr()` escapes a character that `str.isprintable()` calls non-printable, and
//! that answer comes from the Unicode tables compiled into each CPython: 3.10 has Unicode
//! 13.0, 3.11 has 14.0, 3.12 has 15.0, 3.13 has 15.1 and 3.14 has 16.0. A character
//! assigned in a newer Unicode is printed literally by the newer Python and escaped by the
//! older one, so the SDK's body hash of the same text differs between Python releases.
//!
//! This command asks each of CPython 3.10 to 3.13 (found under `$PYENV_ROOT/versions` or as
//! `python3.1x` on `PATH`) for its printable ranges, through the same helper script the
//! pystr tests use, takes Unicode 16.0 from the `unicode-general-category` crate (the
//! tables behind `neuron_protocol::pystr::is_printable`), and writes every run of code
//! points whose answers differ, with one bit per version, to
//! `crates/protocol/src/generated/unicode_versions.rs`.
//!
//! `--check` generates in memory and fails if the committed file differs. It needs the
//! four interpreters, so CI does not run it; the live pystr test checks the table against
//! the venv's CPython on every run.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use unicode_general_category::{GeneralCategory, get_general_category};

use crate::project_root;

/// The generated file, relative to the workspace root.
const OUTPUT: &str = "crates/protocol/src/generated/unicode_versions.rs";

/// The helper script that reports a CPython's printable ranges.
const SCRIPT: &str = "crates/protocol/tests/core_pyrepr.py";

/// CPython minor version and the Unicode version it must report, in the bit order of
/// `neuron_protocol::pystr::Unicode` (bit 4, Unicode 16.0, comes from the crate).
const PYTHONS: [(u32, &str); 4] = [
    (10, "13.0.0"),
    (11, "14.0.0"),
    (12, "15.0.0"),
    (13, "15.1.0"),
];

/// Entry point.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask unicode [--check]"),
    };
    let root = project_root();
    let mut columns = Vec::new();
    let mut sources = Vec::new();
    for (minor, unicode) in PYTHONS {
        let python = find_python(minor)
            .with_context(|| format!("CPython 3.{minor} not found (pyenv or python3.{minor})"))?;
        let report = printable_ranges(&python, &root.join(SCRIPT))?;
        if report.unicode != unicode {
            bail!(
                "{} reports Unicode {}, expected {unicode}",
                python.display(),
                report.unicode
            );
        }
        sources.push(format!(
            "CPython {} (Unicode {})",
            report.python, report.unicode
        ));
        columns.push(report.ranges);
    }
    let text = render(&table(&columns), &sources);
    let path = root.join(OUTPUT);
    if check {
        let old = fs::read_to_string(&path).with_context(|| format!("read {OUTPUT}"))?;
        if old != text {
            bail!("{OUTPUT} is out of date: run `cargo xtask unicode`");
        }
        eprintln!("xtask: {OUTPUT} is up to date");
    } else {
        fs::write(&path, text).with_context(|| format!("write {OUTPUT}"))?;
        eprintln!("xtask: wrote {OUTPUT}");
    }
    Ok(())
}

/// `python3.{minor}` from pyenv's versions directory, else from `PATH`.
fn find_python(minor: u32) -> Option<PathBuf> {
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let mut candidates = Vec::new();
    if let Some(dir) = pyenv.map(|p| p.join("versions"))
        && let Ok(entries) = fs::read_dir(&dir)
    {
        let prefix = format!("3.{minor}.");
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path().join("bin/python3"))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates.push(PathBuf::from(format!("python3.{minor}")));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "pass"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// What one CPython reports.
struct Report {
    /// `sys.version`, first word.
    python: String,
    /// `unicodedata.unidata_version`.
    unicode: String,
    /// Printable code points as `[start, end)` ranges.
    ranges: Vec<(u32, u32)>,
}

/// Asks one CPython for its printable ranges.
fn printable_ranges(python: &Path, script: &Path) -> anyhow::Result<Report> {
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", python.display()))?;
    child
        .stdin
        .take()
        .context("python stdin")?
        .write_all(br#"{"printable": true}"#)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{} {} failed", python.display(), script.display());
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let text = |k: &str| answer[k].as_str().map(str::to_owned).context(k.to_owned());
    let ranges = answer["printable"]
        .as_array()
        .context("printable")?
        .iter()
        .map(|r| {
            let n = |i: usize| r[i].as_u64().and_then(|v| u32::try_from(v).ok());
            n(0).zip(n(1)).context("range")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Report {
        python: text("python")?,
        unicode: text("unicode")?,
        ranges,
    })
}

/// `str.isprintable()` under the crate's Unicode 16.0 tables: the rule of
/// `neuron_protocol::pystr::is_printable` (a test in that crate checks the table's
/// Unicode 16.0 bit against it for every code point).
fn printable_16(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

/// Runs `(first, last, mask)` of code points whose printability is not the same in every
/// version; bit `i` of `mask` is set when the code point is printable in version `i`.
fn table(columns: &[Vec<(u32, u32)>]) -> Vec<(u32, u32, u8)> {
    let all: u8 = (1 << (columns.len() + 1)) - 1;
    let mut runs: Vec<(u32, u32, u8)> = Vec::new();
    let mut cursors = vec![0usize; columns.len()];
    for cp in 0..0x11_0000u32 {
        let Some(c) = char::from_u32(cp) else {
            continue; // surrogates: never printable, and no `char` can hold one
        };
        let mut mask = 0u8;
        for (bit, (ranges, at)) in columns.iter().zip(cursors.iter_mut()).enumerate() {
            while ranges.get(*at).is_some_and(|&(_, end)| end <= cp) {
                *at += 1;
            }
            if ranges.get(*at).is_some_and(|&(start, _)| start <= cp) {
                mask |= 1 << bit;
            }
        }
        if printable_16(c) {
            mask |= 1 << columns.len();
        }
        if mask == 0 || mask == all {
            continue;
        }
        match runs.last_mut() {
            Some((_, last, m)) if *m == mask && *last + 1 == cp => *last = cp,
            _ => runs.push((cp, cp, mask)),
        }
    }
    runs
}

/// The generated Rust file.
fn render(runs: &[(u32, u32, u8)], sources: &[String]) -> String {
    let mut out = String::new();
    out.push_str("// @generated by `cargo xtask unicode`. Do not edit by hand. Sources:\n");
    for source in sources {
        let _ = writeln!(out, "// - {source}");
    }
    out.push_str("// - the unicode-general-category crate (Unicode 16.0)\n\n");
    let _ = writeln!(
        out,
        "/// Runs of code points whose `str.isprintable()` differs between the Unicode versions\n\
         /// of [`super::Unicode`]: `(first, last, mask)`, inclusive, sorted; bit `i` of `mask`\n\
         /// is set when the code points are printable in `Unicode::ALL[i]`.\n\
         pub(crate) static VERSIONED_PRINTABLE: &[(u32, u32, u8)] = &["
    );
    for (first, last, mask) in runs {
        let _ = writeln!(out, "    (0x{first:05X}, 0x{last:05X}, 0b{mask:05b}),");
    }
    out.push_str("];\n");
    out
}
