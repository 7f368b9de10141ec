//! `neuron-bench`: the load generator behind `cargo xtask bench`.
//!
//! One run measures, over the Synapse/HTTP dialect on real loopback sockets:
//!
//! * **Rust → Rust**: a [`Dendrite`] (//Bob) calling an [`Axon`] (//Alice), both in this
//!   process, every request signed by the dendrite and verified by the axon;
//! * **SDK → SDK**: `tests/python/bench_sdk.py` running a bittensor 10.5 dendrite and axon in
//!   one Python process;
//! * **SDK → Rust**: the same script's dendrite against the Rust axon of this process;
//! * the **sr25519 floor**: one sign plus one verify per request, timed in a tight loop on
//!   one core, times the cores available;
//!
//! for three cases (a ~1 KB `Hashed` synapse with 1 and 64 requests in flight, a 1 MiB
//! float32 `TensorEcho` with 1 in flight), then prints a table, the ratios and PASS/MISS per
//! target. Targets never change the exit status; failed requests (errors, non-200 statuses)
//! or a failed Python run do.
//!
//! It also measures the native dialect against the HTTP dialect, a bare tonic echo (the
//! transport ceiling) and a btlightning-shaped QUIC reference ([`quic`]), see [`native`].
//!
//! Usage: `neuron-bench [--quick] [--python PATH] [--script PATH]`. Without `--python` the
//! SDK columns are skipped.

mod native;
mod quic;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use neuron_axon::{Axon, HandlerError, Running};
use neuron_dendrite::{AxonInfo, Dendrite};
use neuron_examples::{Hashed, TensorEcho};
use neuron_protocol::{hash, signing};
use neuron_tensor::bt::BtTensor;
use neuron_tensor::{Dtype, WireTensor};
use neuron_wallet::Keypair;
use serde_json::Value;

/// Elements of the 1 MiB float32 tensor.
const TENSOR_ELEMENTS: usize = 256 * 1024;

/// One measured case, identified by the names `bench_sdk.py` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Hashed1,
    Hashed64,
    Tensor1,
}

impl Case {
    const ALL: [Case; 3] = [Case::Hashed1, Case::Hashed64, Case::Tensor1];

    fn key(self) -> &'static str {
        match self {
            Case::Hashed1 => "hashed_1k_c1",
            Case::Hashed64 => "hashed_1k_c64",
            Case::Tensor1 => "tensor_1mib_c1",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Case::Hashed1 => "~1 KB Hashed, 1 in flight",
            Case::Hashed64 => "~1 KB Hashed, 64 in flight",
            Case::Tensor1 => "1 MiB f32 TensorEcho, 1 in flight",
        }
    }

    fn concurrency(self) -> usize {
        match self {
            Case::Hashed64 => 64,
            Case::Hashed1 | Case::Tensor1 => 1,
        }
    }
}

/// What one case produced.
#[derive(Clone, Debug, Default)]
struct Measured {
    ok: u64,
    errors: u64,
    secs: f64,
    first_error: Option<String>,
}

impl Measured {
    fn rps(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }

    fn from_json(v: &Value) -> Measured {
        Measured {
            ok: v["ok"].as_u64().unwrap_or(0),
            errors: v["errors"].as_u64().unwrap_or(0),
            secs: v["seconds"].as_f64().unwrap_or(0.0),
            first_error: v["first_error"].as_str().map(str::to_owned),
        }
    }
}

struct Opts {
    quick: bool,
    python: Option<PathBuf>,
    script: PathBuf,
}

fn parse_args() -> anyhow::Result<Opts> {
    let mut opts = Opts {
        quick: false,
        python: None,
        script: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("tests")
            .join("python")
            .join("bench_sdk.py"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--python" => opts.python = Some(args.next().context("--python needs a path")?.into()),
            "--script" => opts.script = args.next().context("--script needs a path")?.into(),
            other => bail!(
                "unknown argument `{other}` (usage: neuron-bench [--quick] [--python PATH] [--script PATH])"
            ),
        }
    }
    Ok(opts)
}

/// The ~1 KB `Hashed` request (the same one `bench_sdk.py` builds).
fn hashed_request() -> Hashed {
    let mut meta = serde_json::Map::new();
    meta.insert("bench".into(), "hashed".into());
    meta.insert("size".into(), "1k".into());
    Hashed {
        text: "0123456789abcdef".repeat(56),
        numbers: (0..16).collect(),
        ratio: 0.5,
        flag: true,
        meta,
        output: None,
    }
}

/// The 1 MiB float32 `TensorEcho` request (`arange(262144) * 0.001`, like `bench_sdk.py`).
fn tensor_request() -> anyhow::Result<TensorEcho> {
    let data: Vec<u8> = (0..TENSOR_ELEMENTS)
        .flat_map(|i| (i as f32 * 0.001).to_le_bytes())
        .collect();
    let wire = WireTensor {
        dtype: Dtype::F32,
        shape: vec![TENSOR_ELEMENTS],
        data: data.into(),
    };
    Ok(TensorEcho {
        tensor: Some(BtTensor::from_wire(&wire)?),
        scale: 2.0,
    })
}

/// The sr25519 cost of one request: one sign (dendrite) and one verify (axon).
struct Floor {
    sign_us: f64,
    verify_us: f64,
    cores: usize,
}

impl Floor {
    fn per_request_us(&self) -> f64 {
        self.sign_us + self.verify_us
    }

    /// Requests per second if the cores did nothing but sign and verify.
    fn ceiling_rps(&self) -> f64 {
        self.cores as f64 * 1e6 / self.per_request_us()
    }
}

/// Times `Keypair::sign` and `PublicKey::verify` on the message a real request signs, on this
/// thread only, `budget` each.
fn measure_floor(budget: Duration) -> anyhow::Result<Floor> {
    let bob = Keypair::from_uri("//Bob")?;
    let alice = Keypair::from_uri("//Alice")?;
    let body_hash = hash::synapse_body_hash(&hashed_request())?;
    let message = signing::http_request_message(
        1_700_000_000_000_000_000,
        bob.ss58(),
        alice.ss58(),
        "a1b2c3d4-0000-11ef-8000-000000000000",
        &body_hash,
    );
    let public = bob.public();
    let time_loop = |f: &mut dyn FnMut() -> bool| -> anyhow::Result<f64> {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..64 {
                if !f() {
                    bail!("sr25519 floor: a fresh signature did not verify");
                }
            }
            n += 64;
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
    };
    let mut last = bob.sign(message.as_bytes());
    let sign_us = time_loop(&mut || {
        last = bob.sign(message.as_bytes());
        true
    })?;
    let verify_us = time_loop(&mut || public.verify(message.as_bytes(), &last))?;
    Ok(Floor {
        sign_us,
        verify_us,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

/// Runs `call(worker)` from `concurrency` tasks until `duration` is over; the requests still
/// in flight at the deadline finish and count.
async fn drive<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Measured
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            while Instant::now() < deadline {
                match call(worker).await {
                    Ok(()) => m.ok += 1,
                    Err(e) => {
                        m.errors += 1;
                        m.first_error.get_or_insert(e);
                    }
                }
            }
            m
        }));
    }
    let mut total = Measured::default();
    for task in tasks {
        match task.await {
            Ok(m) => {
                total.ok += m.ok;
                total.errors += m.errors;
                if total.first_error.is_none() {
                    total.first_error = m.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("load task failed: {e}"));
            }
        }
    }
    total.secs = start.elapsed().as_secs_f64();
    total
}

/// Starts the Rust axon (//Alice, 127.0.0.1, port 0) with the `Hashed` and `TensorEcho`
/// handlers of `neuron-examples`.
async fn start_axon() -> anyhow::Result<Running> {
    let config = neuron_axon::Config::new()
        .with_ip([127, 0, 0, 1].into())
        .with_port(0);
    let mut axon = Axon::new(Keypair::from_uri("//Alice")?, config);
    let _ = axon.attach::<Hashed, _, _>(|_caller, s| async move { Ok(neuron_examples::hashed(s)) });
    let _ = axon.attach_blocking::<TensorEcho, _>(|_caller, s| {
        neuron_examples::tensor_echo(s).map_err(|e| HandlerError::new(e.to_string()))
    });
    let router = native::service(&axon, Keypair::from_uri("//Alice")?)?;
    Ok(axon.serve_router(router).await?)
}

/// One Rust → Rust case (after a short unmeasured warm-up); worker `i` calls through
/// `dendrites[i]`.
async fn rust_case(
    case: Case,
    dendrites: &[Dendrite],
    target: &AxonInfo,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let warmup = Duration::from_millis(300);
    let run = |d: Duration| -> anyhow::Result<_> {
        let dendrites: Arc<[Dendrite]> = dendrites.into();
        let target = target.clone();
        Ok(match case {
            Case::Hashed1 | Case::Hashed64 => {
                let request = hashed_request();
                let want = neuron_examples::hashed(request.clone()).output;
                tokio::spawn(drive(case.concurrency(), d, move |worker| {
                    let (dendrite, target, request, want) = (
                        dendrites[worker % dendrites.len()].clone(),
                        target.clone(),
                        request.clone(),
                        want.clone(),
                    );
                    async move {
                        let r = dendrite.call(&target, request, None).await;
                        if r.is_success() && r.fields().output == want {
                            Ok(())
                        } else {
                            Err(format!(
                                "Hashed: status {:?} {:?}",
                                r.status_code(),
                                r.status_message()
                            ))
                        }
                    }
                }))
            }
            Case::Tensor1 => {
                let request = tensor_request()?;
                tokio::spawn(drive(case.concurrency(), d, move |worker| {
                    let (dendrite, target, request) = (
                        dendrites[worker % dendrites.len()].clone(),
                        target.clone(),
                        request.clone(),
                    );
                    async move {
                        let r = dendrite.call(&target, request, None).await;
                        let shape_ok = r
                            .fields()
                            .tensor
                            .as_ref()
                            .is_some_and(|t| t.shape == [TENSOR_ELEMENTS as i64]);
                        if r.is_success() && shape_ok {
                            Ok(())
                        } else {
                            Err(format!(
                                "TensorEcho: status {:?} {:?}",
                                r.status_code(),
                                r.status_message()
                            ))
                        }
                    }
                }))
            }
        })
    };
    let warm = run(warmup)?.await?;
    if warm.errors > 0 {
        return Ok(warm);
    }
    Ok(run(duration)?.await?)
}

/// Runs `bench_sdk.py` (blocking, off the runtime so the Rust axon keeps serving) and returns
/// its per-case results.
async fn python_cases(
    python: &PathBuf,
    script: &PathBuf,
    duration: Duration,
    target: Option<(&Running, &str)>,
) -> anyhow::Result<BTreeMap<String, Measured>> {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--duration")
        .arg(format!("{:.3}", duration.as_secs_f64()));
    if let Some((axon, hotkey)) = target {
        cmd.arg("--port")
            .arg(axon.local_addr().port().to_string())
            .arg("--hotkey")
            .arg(hotkey);
    }
    let what = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{what}: stdout is not JSON:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let mut cases = BTreeMap::new();
    for case in Case::ALL {
        let m = doc["cases"]
            .get(case.key())
            .map(Measured::from_json)
            .with_context(|| format!("{what}: no result for {}", case.key()))?;
        cases.insert(case.key().to_owned(), m);
    }
    Ok(cases)
}

/// The result of `case` in `results`, if that stack ran.
fn get(results: Option<&BTreeMap<String, Measured>>, case: Case) -> Option<&Measured> {
    results.and_then(|m| m.get(case.key()))
}

fn fmt_rps(m: Option<&Measured>) -> String {
    match m {
        Some(m) => format!("{:.1}", m.rps()),
        None => "skipped".to_owned(),
    }
}

fn ratio(a: Option<&Measured>, b: Option<&Measured>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.rps() > 0.0 => Some(a.rps() / b.rps()),
        _ => None,
    }
}

fn verdict(value: Option<f64>, target: f64) -> &'static str {
    match value {
        Some(v) if v >= target => "PASS",
        Some(_) => "MISS",
        None => "SKIP",
    }
}

fn main() -> anyhow::Result<()> {
    let opts = parse_args()?;
    let (case_time, floor_time) = if opts.quick {
        (Duration::from_secs(1), Duration::from_millis(300))
    } else {
        (Duration::from_secs(5), Duration::from_secs(1))
    };

    // The floor first, on an otherwise idle process.
    let floor = measure_floor(floor_time)?;
    eprintln!(
        "bench: sr25519 sign {:.1} µs + verify {:.1} µs on one core",
        floor.sign_us, floor.verify_us
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(floor.cores)
        .enable_all()
        .build()?;
    let failed = runtime.block_on(async {
        let axon = start_axon().await?;
        let hotkey = axon.hotkey().to_owned();
        let target = AxonInfo::at(axon.local_addr(), hotkey.clone());
        // One dendrite per worker (//Bob, each its own uuid and connection), as bench_sdk.py
        // does (the SDK axon refuses reordered nonces of one uuid; the Rust axon's strict
        // policy would take them, but the stacks are compared in the same shape).
        let bob = Keypair::from_uri("//Bob")?;
        let dendrites: Vec<Dendrite> = (0..64)
            .map(|_| Dendrite::new(bob.clone(), neuron_dendrite::Config::new()))
            .collect();
        eprintln!("bench: Rust axon on {}", axon.local_addr());

        let mut rust = BTreeMap::new();
        for case in Case::ALL {
            eprintln!("bench: Rust → Rust {}", case.label());
            let m = rust_case(case, &dendrites, &target, case_time).await?;
            rust.insert(case.key().to_owned(), m);
        }

        let bare = native::start_bare().await?;
        let native_results = native::run(&target, bare.local_addr(), case_time).await?;
        bare.shutdown(Duration::from_secs(1)).await;

        let mut failures: Vec<String> = Vec::new();
        let (sdk, sdk_rust) = match &opts.python {
            Some(python) => {
                eprintln!("bench: SDK → SDK (bench_sdk.py, one Python process)");
                let sdk = python_cases(python, &opts.script, case_time, None)
                    .await
                    .map_err(|e| failures.push(format!("SDK → SDK: {e:#}")))
                    .ok();
                eprintln!("bench: SDK → Rust (bench_sdk.py against the Rust axon)");
                let sdk_rust =
                    python_cases(python, &opts.script, case_time, Some((&axon, &hotkey)))
                        .await
                        .map_err(|e| failures.push(format!("SDK → Rust: {e:#}")))
                        .ok();
                (sdk, sdk_rust)
            }
            None => {
                eprintln!("bench: no --python: SDK columns skipped");
                (None, None)
            }
        };
        let counters = axon.counters();
        axon.shutdown(Duration::from_secs(2)).await;

        report(&opts, &floor, &rust, sdk.as_ref(), sdk_rust.as_ref());
        native::report(&native_results, &rust);
        for row in &native_results.rows {
            for (what, m) in [
                ("native echo", Some(&row.echo)),
                ("native Hashed", row.synapse.as_ref()),
                ("bare tonic", Some(&row.tonic)),
                ("QUIC ref", Some(&row.quic)),
            ] {
                if let Some(m) = m.filter(|m| m.errors > 0) {
                    failures.push(format!(
                        "{what} {}: {} failed requests (first: {})",
                        row.case.label(),
                        m.errors,
                        m.first_error.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        println!(
            "Rust axon counters: {} requests, {} ok, {} unauthorized, {} shed, {} timeouts",
            counters.requests, counters.ok, counters.unauthorized, counters.shed, counters.timeouts
        );

        for (stack, results) in [
            ("Rust → Rust", Some(&rust)),
            ("SDK → SDK", sdk.as_ref()),
            ("SDK → Rust", sdk_rust.as_ref()),
        ] {
            for (key, m) in results.into_iter().flatten() {
                if m.errors > 0 {
                    failures.push(format!(
                        "{stack} {key}: {} failed requests (first: {})",
                        m.errors,
                        m.first_error.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        anyhow::Ok(failures)
    })?;

    if !failed.is_empty() {
        for f in &failed {
            eprintln!("bench: FAILED {f}");
        }
        bail!("{} part(s) of the run failed", failed.len());
    }
    Ok(())
}

fn report(
    opts: &Opts,
    floor: &Floor,
    rust: &BTreeMap<String, Measured>,
    sdk: Option<&BTreeMap<String, Measured>>,
    sdk_rust: Option<&BTreeMap<String, Measured>>,
) {
    println!();
    println!(
        "neuron-bench{} — req/s over the HTTP dialect, loopback, {} cores",
        if opts.quick { " --quick" } else { "" },
        floor.cores
    );
    println!();
    println!(
        "| {:<34} | {:>11} | {:>9} | {:>10} | {:>9} |",
        "case", "Rust → Rust", "SDK → SDK", "SDK → Rust", "Rust/SDK"
    );
    println!(
        "|{:-<36}|{:->13}|{:->11}|{:->12}|{:->11}|",
        "", "", "", "", ""
    );
    for case in Case::ALL {
        let r = get(Some(rust), case);
        let s = get(sdk, case);
        let sr = get(sdk_rust, case);
        let x = ratio(r, s).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}x"));
        println!(
            "| {:<34} | {:>11} | {:>9} | {:>10} | {:>9} |",
            case.label(),
            fmt_rps(r),
            fmt_rps(s),
            fmt_rps(sr),
            x
        );
    }
    println!();
    println!(
        "sr25519 floor: sign {:.1} µs + verify {:.1} µs = {:.1} µs/request on one core; \
         x {} cores = {:.0} req/s ceiling",
        floor.sign_us,
        floor.verify_us,
        floor.per_request_us(),
        floor.cores,
        floor.ceiling_rps()
    );
    let r64 = get(Some(rust), Case::Hashed64);
    let of_floor = r64.map(|m| m.rps() / floor.ceiling_rps());
    let vs_sdk = ratio(r64, get(sdk, Case::Hashed64));
    let tensor = ratio(get(Some(rust), Case::Tensor1), get(sdk, Case::Tensor1));
    let show = |v: Option<f64>, pct: bool| match (v, pct) {
        (Some(v), true) => format!("{:.1}%", v * 100.0),
        (Some(v), false) => format!("{v:.1}x"),
        (None, _) => "n/a".to_owned(),
    };
    println!();
    println!("| target                                          | value    | goal   | verdict |");
    println!("|-------------------------------------------------|----------|--------|---------|");
    println!(
        "| Rust/Rust vs SDK/SDK, ~1 KB, 64 in flight       | {:>8} | ≥ 100x | {:<7} |",
        show(vs_sdk, false),
        verdict(vs_sdk, 100.0)
    );
    println!(
        "| Rust vs SDK, 1 MiB f32 tensor                   | {:>8} | ≥ 20x  | {:<7} |",
        show(tensor, false),
        verdict(tensor, 20.0)
    );
    println!(
        "| Rust/Rust 64 in flight vs sr25519 floor         | {:>8} | ≥ 80%  | {:<7} |",
        show(of_floor, true),
        verdict(of_floor, 0.8)
    );
    println!();
}
