//! `neuron serve`: one neuron serving the example synapses (HTTP and native) and the text
//! synapses (legacy gRPC, answered by the built-in model) on one port, with gossip, until
//! SIGINT or SIGTERM.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use neuron::axon::{Axon, Caller, HandlerError};
use neuron::examples::{self as ex, model::TinyLm};
use neuron::{Neuron, NeuronConfig};

/// Nonce policy choice on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NoncePolicyArg {
    /// bittensor 10.5's exact rules.
    Sdk,
    /// Bounded, reorder-tolerant, future nonces refused (the default).
    Strict,
}

/// `serve` flags; unset ones come from the config file, the environment or the defaults.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one; the chosen address is printed) [default: 8091].
    #[arg(long, visible_alias = "axon.port")]
    pub port: Option<u16>,
    /// Address to bind [default: 127.0.0.1].
    #[arg(long = "axon.ip")]
    pub ip: Option<IpAddr>,
    /// Address advertised to other neurons [default: the bound one].
    #[arg(long = "axon.external_ip")]
    pub external_ip: Option<IpAddr>,
    /// Port advertised to other neurons [default: the bound one].
    #[arg(long = "axon.external_port")]
    pub external_port: Option<u16>,
    /// Open connections allowed from one IP address; more are closed on accept (0: no
    /// limit) [default: 1024].
    #[arg(long = "axon.max_connections_per_ip", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Requests per second one verified hotkey may make; more get 429 over HTTP and the
    /// native dialect, Backoff over legacy gRPC (0: no limit) [default: no limit].
    #[arg(long = "axon.rate_limit", value_name = "PER_SECOND", value_parser = per_second)]
    pub rate_limit: Option<f64>,
    /// Requests one hotkey may make at once under `--axon.rate_limit` [default: the rate
    /// rounded up].
    #[arg(long = "axon.rate_burst", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: Option<u32>,
    /// Nonce policy of the HTTP dialect [default: strict].
    #[arg(long = "nonce-policy", visible_alias = "axon.nonce_policy", value_enum)]
    pub nonce_policy: Option<NoncePolicyArg>,
    /// Refuse this hotkey (403 over HTTP, UNAUTHENTICATED over gRPC); repeatable.
    #[arg(long = "blacklist", value_name = "HOTKEY")]
    pub blacklist: Vec<String>,
    /// Serve Prometheus `/metrics` on this port (0 picks one; printed on stderr).
    #[arg(long = "metrics.port")]
    pub metrics_port: Option<u16>,
    /// Gossip bootstrap peer (`IP:PORT` of another neuron); repeatable.
    #[arg(long = "metagraph.bootstrap", value_name = "ADDR")]
    pub bootstrap: Vec<SocketAddr>,
    /// Seed of the built-in model's weights.
    #[arg(long = "model-seed", default_value_t = 1)]
    pub model_seed: u64,
    /// Make the `Dummy` handler wait this long and report each request on stderr (for
    /// load and shutdown tests).
    #[arg(long = "handler-delay-ms", default_value_t = 0)]
    pub handler_delay_ms: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long = "grace", default_value_t = 10.0)]
    pub grace: f64,
}

impl ServeArgs {
    /// Writes the given flags over `config`.
    pub fn apply(&self, config: &mut NeuronConfig) {
        if let Some(port) = self.port {
            config.axon.port = port;
        }
        if let Some(ip) = self.ip {
            config.axon.ip = ip;
        }
        if let Some(ip) = self.external_ip {
            config.axon.external_ip = Some(ip);
        }
        if let Some(port) = self.external_port {
            config.axon.external_port = Some(port);
        }
        if let Some(n) = self.max_connections_per_ip {
            config.axon.max_connections_per_ip = Some(n);
        }
        if let Some(rate) = self.rate_limit {
            config.axon.rate_limit = Some(rate);
        }
        if let Some(n) = self.rate_burst {
            config.axon.rate_burst = Some(n);
        }
        match self.nonce_policy {
            Some(NoncePolicyArg::Sdk) => {
                config.axon.nonce_policy = neuron::config::NoncePolicy::Sdk
            }
            Some(NoncePolicyArg::Strict) => {
                config.axon.nonce_policy = neuron::config::NoncePolicy::Strict;
            }
            None => {}
        }
        if let Some(port) = self.metrics_port {
            config.metrics.port = Some(port);
        }
        if !self.bootstrap.is_empty() {
            config.metagraph.bootstrap.clone_from(&self.bootstrap);
        }
    }
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
/// A rate in requests per second: a finite number, 0 or more.
fn per_second(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "expected requests per second, 0 or more, got {s:?}"
        )),
    }
}

pub async fn run(args: &ServeArgs, mut config: NeuronConfig) -> anyhow::Result<()> {
    args.apply(&mut config);
    let grace = Duration::from_secs_f64(args.grace.max(0.0));
    // The per-hotkey rate limit covers the legacy gRPC dialect too.
    let rate_limit = neuron::axon_config(&config).rate_limit;
    let mut builder = Neuron::from_config(config)?;
    let keypair = builder.keypair().clone();
    let blacklist: Arc<HashSet<String>> = Arc::new(args.blacklist.iter().cloned().collect());
    attach_examples(
        builder.axon(),
        blacklist.clone(),
        Duration::from_millis(args.handler_delay_ms),
    );
    let model = Arc::new(TinyLm::new(args.model_seed).context("building the model")?);
    let mut legacy = crate::model::legacy_service(keypair, model, blacklist);
    if let Some(limit) = rate_limit {
        legacy = legacy.with_rate_limit(limit);
    }
    let neuron = builder
        .legacy(legacy)
        .start()
        .await
        .context("starting the neuron")?;
    // One machine-readable line: scripts and tests wait for it.
    println!("serving {} hotkey {}", neuron.local_addr(), neuron.hotkey());
    eprintln!("dialects: {}", neuron.protocols().join(", "));
    if let Some(addr) = neuron.metrics_addr() {
        eprintln!("metrics http://{addr}/metrics");
    }
    wait_for_signal().await?;
    eprintln!("shutting down: finishing in-flight requests");
    neuron.shutdown(grace).await;
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
