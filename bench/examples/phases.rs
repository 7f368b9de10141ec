//! Where the time of one HTTP-dialect call goes: runs sequential calls of the 1 MiB
//! `TensorEcho` and the ~1 KB `Hashed` synapse against an in-process axon and prints the
//! median of each phase of [`neuron_dendrite::Timings`].
//!
//! `cargo run --release -p neuron-bench --example phases [-- CALLS]`

use std::time::Duration;

use neuron_axon::{Axon, HandlerError};
use neuron_dendrite::{AxonInfo, Dendrite, Timings};
use neuron_examples::{Hashed, TensorEcho};
use neuron_tensor::bt::BtTensor;
use neuron_tensor::{Dtype, WireTensor};
use neuron_wallet::Keypair;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn show(label: &str, all: &[Timings]) {
    let pick =
        |f: &dyn Fn(&Timings) -> Option<Duration>| median(all.iter().filter_map(f).collect());
    println!(
        "{label:<10} n={:<4} prepared {:>9.3?} sent {:>9.3?} first_byte {:>9.3?} done {:>9.3?} total {:>9.3?} axon {:>9.3?}",
        all.len(),
        pick(&|t| Some(t.prepared)),
        pick(&|t| t.sent),
        pick(&|t| t.first_byte),
        pick(&|t| t.done),
        pick(&|t| Some(t.total)),
        pick(&|t| t.axon_process_time),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let tensor_calls: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(calls);
    let config = neuron_axon::Config::new()
        .with_ip([127, 0, 0, 1].into())
        .with_port(0);
    let mut axon = Axon::new(Keypair::from_uri("//Alice")?, config);
    let _ = axon.attach::<Hashed, _, _>(|_c, s| async move { Ok(neuron_examples::hashed(s)) });
    let _ = axon.attach_blocking::<TensorEcho, _>(|_c, s| {
        neuron_examples::tensor_echo(s).map_err(|e| HandlerError::new(e.to_string()))
    });
    let axon = axon.serve().await?;
    let target = AxonInfo::at(axon.local_addr(), axon.hotkey().to_owned());
    let dendrite = Dendrite::new(Keypair::from_uri("//Bob")?, neuron_dendrite::Config::new());

    let data: Vec<u8> = (0..256 * 1024)
        .flat_map(|i| (i as f32 * 0.001).to_le_bytes())
        .collect();
    let wire = WireTensor {
        dtype: Dtype::F32,
        shape: vec![256 * 1024],
        data: data.into(),
    };
    let tensor = TensorEcho {
        tensor: Some(BtTensor::from_wire(&wire)?),
        scale: 2.0,
    };
    let hashed = Hashed {
        text: "0123456789abcdef".repeat(56),
        numbers: (0..16).collect(),
        ratio: 0.5,
        flag: true,
        meta: serde_json::Map::new(),
        output: None,
    };

    if std::env::var_os("PHASES_STEPS").is_some() {
        steps(&tensor)?;
    }
    for (label, n) in [("hashed", calls * 10), ("tensor", tensor_calls)] {
        if n == 0 {
            continue;
        }
        let mut all = Vec::new();
        let start = std::time::Instant::now();
        for _ in 0..n {
            let t = if label == "hashed" {
                let r = dendrite.call(&target, hashed.clone(), None).await;
                anyhow::ensure!(r.is_success(), "hashed: {:?}", r.status_message());
                r.timings
            } else {
                let r = dendrite.call(&target, tensor.clone(), None).await;
                anyhow::ensure!(r.is_success(), "tensor: {:?}", r.status_message());
                r.timings
            };
            all.push(t);
        }
        show(label, &all);
        println!(
            "{label:<10} {:.1} calls/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
    axon.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Costs of the CPU steps of one 1 MiB `TensorEcho` call, each timed alone.
pub fn steps(tensor: &TensorEcho) -> anyhow::Result<()> {
    use neuron_protocol::synapse::SynapseMessage;
    let n = 20;
    let time = |label: &str, f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        println!("  {label:<28} {:>9.3?}", start.elapsed() / n);
    };
    let msg = SynapseMessage::new(tensor.clone());
    let json = msg.to_json_vec()?;
    time("body hash", &mut || {
        let _ = neuron_protocol::hash::synapse_body_hash(tensor);
    });
    time("to_json_vec", &mut || {
        let _ = msg.to_json_vec();
    });
    time("from_slice::<Value>", &mut || {
        let _: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
    });
    time("from_slice::<Message>", &mut || {
        let _: Option<SynapseMessage<TensorEcho>> = serde_json::from_slice(&json).ok();
    });
    time("clone", &mut || {
        let _ = tensor.clone();
    });
    time("tensor_echo handler", &mut || {
        let _ = neuron_examples::tensor_echo(tensor.clone());
    });
    time("sha3 of 1.4 MB", &mut || {
        let _ = neuron_protocol::hash::whole_body_hash(&json);
    });
    Ok(())
}
