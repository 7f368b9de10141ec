//! `cargo xtask venv` and `cargo xtask test` (owned by the interop helper, in progress).

/// Creates the Python venv.
pub fn venv(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("venv is being written")
}

/// Runs the test suite.
pub fn test(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("test is being written")
}
