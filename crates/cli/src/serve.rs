//! `neuron serve`: one axon serving the example synapses until SIGINT or SIGTERM.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use neuron_axon::{Axon, Caller, Config, HandlerError};
use neuron_examples as ex;

use crate::opts::WalletOpts;

/// Nonce policy choice on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NoncePolicyArg {
    /// bittensor 10.5's exact rules.
    Sdk,
    /// Bounded, reorder-tolerant, future nonces refused (the default).
    Strict,
}

/// `serve` flags.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one; the chosen address is printed).
    #[arg(long, visible_alias = "axon.port", default_value_t = 8091)]
    pub port: u16,
    /// Address to bind.
    #[arg(long = "axon.ip", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Nonce policy.
    #[arg(long = "nonce-policy", value_enum, default_value = "strict")]
    pub nonce_policy: NoncePolicyArg,
    /// Refuse this hotkey (403); repeatable.
    #[arg(long = "blacklist", value_name = "HOTKEY")]
    pub blacklist: Vec<String>,
    /// Make the `Dummy` handler wait this long and report each request on stderr (for
    /// load and shutdown tests).
    #[arg(long = "handler-delay-ms", default_value_t = 0)]
    pub handler_delay_ms: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long = "grace", default_value_t = 10.0)]
    pub grace: f64,
}

/// Attaches the example synapses, each behind the same blacklist.
pub fn attach_examples(axon: &mut Axon, blacklist: Arc<HashSet<String>>, delay: Duration) {
    let deny = move |caller: &Caller| {
        if blacklist.contains(&caller.hotkey) {
            Err("hotkey is on the --blacklist list".to_string())
        } else {
            Ok(())
        }
    };
    let _ = axon
        .attach::<ex::Dummy, _, _>(move |_caller, s| async move {
            if !delay.is_zero() {
                eprintln!("handling Dummy {}", s.dummy_input);
                tokio::time::sleep(delay).await;
            }
            Ok(ex::dummy(s))
        })
        .blacklist(deny.clone());
    let _ = axon
        .attach::<ex::Hashed, _, _>(|_caller, s| async move { Ok(ex::hashed(s)) })
        .blacklist(deny.clone());
    let _ = axon
        .attach_blocking::<ex::TensorEcho, _>(|_caller, s| {
            ex::tensor_echo(s).map_err(|e| HandlerError::new(e.to_string()))
        })
        .blacklist(deny.clone());
    let _ = axon
        .attach_stream::<ex::StreamCount, _, _>(|_caller, s| ex::stream_count(s))
        .blacklist(deny);
}

/// Runs the server until a signal arrives, then shuts down gracefully.
pub async fn run(args: &ServeArgs, wallet: &WalletOpts) -> anyhow::Result<()> {
    let keypair = wallet.keypair()?;
    let mut config = Config::new().with_ip(args.ip).with_port(args.port);
    if matches!(args.nonce_policy, NoncePolicyArg::Sdk) {
        config = config.with_sdk_nonces();
    }
    let mut axon = Axon::new(keypair, config);
    let blacklist = Arc::new(args.blacklist.iter().cloned().collect());
    attach_examples(
        &mut axon,
        blacklist,
        Duration::from_millis(args.handler_delay_ms),
    );
    let hotkey = axon.hotkey().to_string();
    let running = axon.serve().await.context("starting the axon")?;
    // One machine-readable line: scripts and tests wait for it.
    println!("serving {} hotkey {hotkey}", running.local_addr());
    wait_for_signal().await?;
    eprintln!("shutting down: finishing in-flight requests");
    running
        .shutdown(Duration::from_secs_f64(args.grace.max(0.0)))
        .await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
