//! `cargo xtask codegen` (owned by the protocol-auth helper, in progress).

/// Runs the codegen command.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("codegen is being written")
}
