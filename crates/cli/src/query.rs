//! `neuron query`: one dendrite call from the command line.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use candle_core::{D, IndexOp, Tensor};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use neuron::NeuronConfig;
use neuron::dendrite::grpc::{self as dgrpc, TextDendrite};
use neuron::dendrite::native::NativeDendrite;
use neuron::dendrite::{AxonInfo, Config, Dendrite, Response, StreamEvent};
use neuron::examples as ex;
use neuron::legacy::{Seq2SeqArgs, SynapseSpec};
use neuron::protocol::pystr::Unicode;
use neuron::protocol::synapse::{Ping, Synapse};
use serde_json::json;

/// Wire dialect to use.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dialect {
    /// The Python SDK's HTTP synapse protocol.
    Http,
    /// The native binary dialect (authenticated once per connection).
    Native,
    /// The legacy gRPC TensorMessage protocol (text synapses).
    Grpc,
}

/// `query` flags.
#[derive(Clone, Debug, Args)]
pub struct QueryArgs {
    /// Axon IP.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Axon port.
    #[arg(long)]
    pub port: u16,
    /// Axon hotkey (SS58); the request is signed for it.
    #[arg(long)]
    pub hotkey: String,
    /// Synapse name. HTTP and native: Dummy, Hashed, TensorEcho, StreamCount (HTTP only) or
    /// Synapse (ping). gRPC: TextLastHiddenState, TextCausalLM, TextCausalLMNext or
    /// TextSeq2Seq.
    #[arg(long)]
    pub synapse: String,
    /// The synapse fields as JSON, e.g. '{"dummy_input": 21}'; for gRPC
    /// '{"text": "...", "topk": 8, "num_to_generate": 8}'.
    #[arg(long, default_value = "{}")]
    pub json: String,
    /// Dialect.
    #[arg(long, value_enum, default_value = "http")]
    pub dialect: Dialect,
    /// Timeout in seconds.
    #[arg(long, default_value_t = 12.0)]
    pub timeout: f64,
    /// The CPython release (3.10 to 3.14) or Unicode version the axon's Python uses: the
    /// SDK body hash of text with recently assigned characters depends on it (HTTP dialect).
    #[arg(long = "axon.python", value_name = "RELEASE", default_value = "3.11")]
    pub axon_python: Unicode,
}

/// Runs the query; prints the response as JSON on stdout, the status on stderr, and
/// fails when the call did not succeed.
pub async fn run(args: &QueryArgs, config: &NeuronConfig) -> anyhow::Result<()> {
    let keypair = neuron::load_keypair(config)?;
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    if let Dialect::Grpc = args.dialect {
        let text = TextDendrite::new(keypair, dgrpc::Config::new());
        let endpoint = dgrpc::Endpoint::new(0, args.hotkey.clone(), args.ip.to_string(), args.port);
        return grpc(&text, endpoint, &args.synapse, &args.json, timeout).await;
    }
    let dendrite = NativeDendrite::new(
        Dendrite::new(keypair, Config::new().with_unicode(args.axon_python)),
        neuron::dendrite::native::Config::default(),
    );
    let axon = AxonInfo::new(args.ip, args.port, args.hotkey.clone());
    let native = matches!(args.dialect, Dialect::Native);
    match args.synapse.as_str() {
        "Dummy" => once::<ex::Dummy>(&dendrite, native, &axon, &args.json, timeout).await,
        "Hashed" => once::<ex::Hashed>(&dendrite, native, &axon, &args.json, timeout).await,
        "TensorEcho" => once::<ex::TensorEcho>(&dendrite, native, &axon, &args.json, timeout).await,
        "Synapse" => once::<Ping>(&dendrite, native, &axon, &args.json, timeout).await,
        "StreamCount" if !native => stream(dendrite.dendrite(), &axon, &args.json, timeout).await,
        "StreamCount" => bail!("StreamCount is served over the HTTP dialect only"),
        other => bail!(
            "unknown synapse {other:?}: expected Dummy, Hashed, TensorEcho, StreamCount or Synapse"
        ),
    }
}

/// The `--json` of a gRPC query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TextQuery {
    text: String,
    #[serde(default)]
    topk: Option<u32>,
    #[serde(default)]
    num_to_generate: Option<u32>,
}

async fn grpc(
    text: &TextDendrite,
    endpoint: dgrpc::Endpoint,
    synapse: &str,
    json: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let q: TextQuery = serde_json::from_str(json).context(
        "--json for a gRPC query must be {\"text\": ..., \"topk\"?: n, \"num_to_generate\"?: n}",
    )?;
    let spec = match synapse {
        "TextLastHiddenState" => SynapseSpec::last_hidden_state(),
        "TextCausalLM" => SynapseSpec::causal_lm(q.topk.unwrap_or(512)),
        "TextCausalLMNext" => SynapseSpec::causal_lm_next(q.topk.unwrap_or(8)),
        "TextSeq2Seq" => SynapseSpec::seq2seq(Seq2SeqArgs {
            num_to_generate: q.num_to_generate.unwrap_or(8),
            ..Seq2SeqArgs::default()
        }),
        other => bail!(
            "unknown gRPC synapse {other:?}: expected TextLastHiddenState, TextCausalLM, TextCausalLMNext or TextSeq2Seq"
        ),
    };
    let out = text
        .text(
            endpoint,
            std::slice::from_ref(&spec),
            q.text.as_str(),
            Some(timeout),
        )
        .await?;
    let code = out.codes[0][0];
    let output = &out.outputs[0][0];
    let mut report = json!({
        "synapse": spec.name(),
        "code": code.name(),
        "message": out.messages[0][0],
        "time": out.times[0][0],
        "shape": output.dims(),
    });
    if code == neuron::legacy::ReturnCode::Success {
        report["summary"] = summarize(text, synapse, output)?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("code {} ({:.1} ms)", code.name(), out.times[0][0] * 1e3);
    if code != neuron::legacy::ReturnCode::Success {
        bail!("query failed with {}", code.name());
    }
    Ok(())
}

/// A readable digest of a text synapse's output.
fn summarize(text: &TextDendrite, synapse: &str, t: &Tensor) -> anyhow::Result<serde_json::Value> {
    let tok = text.tokenizer();
    Ok(match synapse {
        "TextLastHiddenState" => {
            let t = t.to_dtype(candle_core::DType::F32)?;
            let first: Vec<f32> = t.flatten_all()?.i(0..4.min(t.elem_count()))?.to_vec1()?;
            json!({ "mean": t.mean_all()?.to_scalar::<f32>()?, "first": first })
        }
        "TextCausalLM" => {
            // The most likely next token after the last position of the first row.
            let s = t.dim(1)?;
            let last = t.i((0, s - 1))?.to_dtype(candle_core::DType::F32)?;
            let best = last.argmax(D::Minus1)?.to_scalar::<u32>()?;
            json!({ "next_token": best, "next_text": tok.decode(&[i64::from(best)])? })
        }
        "TextCausalLMNext" => {
            let rows = t
                .i(0)?
                .to_dtype(candle_core::DType::F32)?
                .to_vec2::<f32>()?;
            let phrases: Vec<serde_json::Value> = rows
                .iter()
                .take(rows.len().saturating_sub(1))
                .map(|r| {
                    let ids: Vec<i64> = r[1..]
                        .iter()
                        .filter(|v| **v >= 0.0)
                        .map(|v| *v as i64)
                        .collect();
                    json!({ "p": r[0], "text": tok.decode(&ids).unwrap_or_default() })
                })
                .collect();
            json!({ "phrases": phrases })
        }
        _ => {
            let ids: Vec<i64> = t.i(0)?.to_dtype(candle_core::DType::I64)?.to_vec1()?;
            json!({ "generated": tok.decode(&ids)? })
        }
    })
}

fn parse<T: Synapse>(json: &str) -> anyhow::Result<T> {
    serde_json::from_str(json).with_context(|| format!("--json is not a valid {}", T::NAME))
}

async fn once<T: Synapse>(
    dendrite: &NativeDendrite,
    native: bool,
    axon: &AxonInfo,
    json: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let synapse = parse::<T>(json)?;
    let response = if native {
        dendrite.call_native(axon, synapse, timeout).await
    } else {
        dendrite.dendrite().call(axon, synapse, timeout).await
    };
    report(&response)
}

async fn stream(
    dendrite: &Dendrite,
    axon: &AxonInfo,
    json: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let events = dendrite.call_stream(axon, parse::<ex::StreamCount>(json)?, timeout);
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            StreamEvent::Chunk(bytes) => eprint!("{}", String::from_utf8_lossy(&bytes)),
            StreamEvent::Done(response) => return report(&response),
        }
    }
    bail!("the stream ended without a final synapse")
}

fn report<T: Synapse>(response: &Response<T>) -> anyhow::Result<()> {
    let json = response
        .synapse
        .to_json_vec()
        .context("the response synapse cannot be written as JSON")?;
    println!("{}", String::from_utf8_lossy(&json));
    let code = response.status_code();
    eprintln!(
        "status {} {} ({:.1} ms)",
        code.map_or_else(|| "none".to_string(), |c| c.to_string()),
        response.status_message().unwrap_or(""),
        response.timings.total.as_secs_f64() * 1e3
    );
    if !response.is_success() {
        bail!("query failed with status {code:?}");
    }
    Ok(())
}
