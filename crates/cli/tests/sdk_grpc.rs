//! A real grpcio client (bittensor 3.7-style receptor, `tests/python/cli_grpc_client.py`)
//! against `neuron serve`: the legacy gRPC dialect shares the port with the HTTP dialect and
//! is answered by the built-in model; Backward trains it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use neuron::examples::model::TinyLm;
use neuron::legacy::ReturnCode;
use neuron::wallet::Keypair;
use serde_json::{Value, json};

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn grpcio_receptor_against_neuron_serve() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args([
            "serve",
            "--port",
            "0",
            "--wallet.uri",
            "//Alice",
            "--model-seed",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let served = Served(child);
    let addr: std::net::SocketAddr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let alice = Keypair::from_uri("//Alice").unwrap();
    let bob = Keypair::from_uri("//Bob").unwrap();
    let tokens = vec![vec![464i64, 2068, 7586, 21831]];
    let stdin = json!({
        "port": addr.port(),
        "axon_hotkey": alice.ss58(),
        "seed": hex::encode(bob.seed().unwrap()),
        "tokens": tokens,
    });
    let out: Value =
        neuron_tests::run_python("cli_grpc_client.py", &[], stdin.to_string().as_bytes()).unwrap();
    let success = ReturnCode::Success as i64;

    let fwd = &out["forward"];
    assert_eq!(fwd["grpc"], "OK", "{out}");
    assert_eq!(
        fwd["codes"],
        json!([success, success, success, success]),
        "{out}"
    );
    assert_eq!(fwd["shapes"][0], json!([1, 4, 1024]), "{out}");
    assert_eq!(fwd["phrases_shape"], json!([1, 4, 2]), "{out}");
    assert_eq!(
        fwd["generated"].as_array().unwrap()[0]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{out}"
    );

    // The hidden states are the model's (seed 7), byte for byte through msgpack-numpy.
    let model = TinyLm::new(7).unwrap();
    let x = candle_core::Tensor::new(tokens, &candle_core::Device::Cpu).unwrap();
    let want: Vec<f32> = model
        .hidden(&x)
        .unwrap()
        .get(0)
        .unwrap()
        .get(3)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let got: Vec<f64> = fwd["hidden_first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(*g as f32, *w, "{got:?} vs {:?}", &want[..4]);
    }

    // Backward reached the model: the gradient of sum(hidden) lowered sum(hidden).
    assert_eq!(out["backward"]["grpc"], "OK", "{out}");
    assert_eq!(out["backward"]["codes"], json!([success]), "{out}");
    let after = &out["after_backward"];
    assert!(
        after["hidden_sum_after"].as_f64().unwrap() < after["hidden_sum_before"].as_f64().unwrap(),
        "{after}"
    );

    // A replayed nonce is refused.
    assert_eq!(out["replay"][0]["grpc"], "OK", "{out}");
    assert_eq!(out["replay"][1]["grpc"], "UNAUTHENTICATED", "{out}");
    drop(served);
}
