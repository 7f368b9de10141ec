//! Shared helpers: start an axon on 127.0.0.1:0, build signed requests by hand, send them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use neuron_axon::{Axon, Config, Running};
use neuron_protocol::synapse::Synapse;
use neuron_protocol::{hash, signing};
use neuron_wallet::Keypair;
use serde::Serialize;

pub fn alice() -> Keypair {
    Keypair::from_uri("//Alice").unwrap()
}

pub fn bob() -> Keypair {
    Keypair::from_uri("//Bob").unwrap()
}

pub fn charlie() -> Keypair {
    Keypair::from_uri("//Charlie").unwrap()
}

pub fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// A loopback test config: 127.0.0.1, port 0.
pub fn config() -> Config {
    Config::new().with_ip([127, 0, 0, 1].into()).with_port(0)
}

/// Starts an axon as //Alice after `setup` attached its routes.
pub async fn start(config: Config, setup: impl FnOnce(&mut Axon)) -> Running {
    let mut axon = Axon::new(alice(), config);
    setup(&mut axon);
    axon.serve().await.unwrap()
}

/// A raw request, built by hand.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// A request for `fields` as the SDK dendrite builds it: signed by `signer` for the
    /// axon `axon_hotkey`, fresh nonce, every header of spec §3.1.
    pub fn signed<T: Synapse + Serialize>(signer: &Keypair, axon_hotkey: &str, fields: &T) -> Req {
        Self::signed_with(
            signer,
            axon_hotkey,
            fields,
            now_ns(),
            &uuid::Uuid::new_v4().to_string(),
        )
    }

    /// [`Req::signed`] with the body hash a CPython of Unicode version `unicode` computes.
    pub fn signed_as<T: Synapse + Serialize>(
        signer: &Keypair,
        axon_hotkey: &str,
        fields: &T,
        unicode: neuron_protocol::pystr::Unicode,
    ) -> Req {
        let body_hash = hash::synapse_body_hash_in(fields, unicode).unwrap();
        let uuid = uuid::Uuid::new_v4().to_string();
        Self::signed_with_hash(signer, axon_hotkey, fields, now_ns(), &uuid, body_hash)
    }

    pub fn signed_with<T: Synapse + Serialize>(
        signer: &Keypair,
        axon_hotkey: &str,
        fields: &T,
        nonce: u64,
        uuid: &str,
    ) -> Req {
        let body_hash = hash::synapse_body_hash(fields).unwrap();
        Self::signed_with_hash(signer, axon_hotkey, fields, nonce, uuid, body_hash)
    }

    fn signed_with_hash<T: Synapse + Serialize>(
        signer: &Keypair,
        axon_hotkey: &str,
        fields: &T,
        nonce: u64,
        uuid: &str,
        body_hash: String,
    ) -> Req {
        let message =
            signing::http_request_message(nonce, signer.ss58(), axon_hotkey, uuid, &body_hash);
        let signature = signer.sign(message.as_bytes()).to_hex();
        let mut headers = vec![
            ("name".to_owned(), T::NAME.to_owned()),
            ("timeout".to_owned(), "12.0".to_owned()),
            ("bt_header_axon_ip".to_owned(), "127.0.0.1".to_owned()),
            ("bt_header_axon_hotkey".to_owned(), axon_hotkey.to_owned()),
            ("bt_header_dendrite_ip".to_owned(), "127.0.0.1".to_owned()),
            (
                "bt_header_dendrite_version".to_owned(),
                "10005000".to_owned(),
            ),
            ("bt_header_dendrite_nonce".to_owned(), nonce.to_string()),
            ("bt_header_dendrite_uuid".to_owned(), uuid.to_owned()),
            (
                "bt_header_dendrite_hotkey".to_owned(),
                signer.ss58().to_owned(),
            ),
            ("bt_header_dendrite_signature".to_owned(), signature),
        ];
        for (field, empty) in T::REQUIRED_FIELDS {
            let value = base64::engine::general_purpose::STANDARD.encode(empty);
            headers.push((format!("bt_header_input_obj_{field}"), value));
        }
        headers.push(("header_size".to_owned(), "0".to_owned()));
        headers.push(("total_size".to_owned(), "0".to_owned()));
        headers.push(("computed_body_hash".to_owned(), body_hash));
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        let mut body = serde_json::json!({
            "name": T::NAME, "timeout": 12.0, "total_size": 0, "header_size": 0,
            "dendrite": {"status_code": null, "status_message": null, "process_time": null,
                "ip": "127.0.0.1", "port": null, "version": 10005000, "nonce": nonce,
                "uuid": uuid, "hotkey": signer.ss58(), "signature": null},
            "axon": {"status_code": null, "status_message": null, "process_time": null,
                "ip": "127.0.0.1", "port": null, "version": null, "nonce": null,
                "uuid": null, "hotkey": axon_hotkey, "signature": null},
            "computed_body_hash": "",
        });
        let extra = serde_json::to_value(fields).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            body.as_object_mut().unwrap().insert(k.clone(), v.clone());
        }
        Req {
            method: "POST".to_owned(),
            path: format!("/{}", T::NAME),
            headers,
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    /// Replaces (or adds) a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a header.
    pub fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    pub fn method(mut self, method: &str) -> Req {
        self.method = method.to_owned();
        self
    }

    pub fn path(mut self, path: &str) -> Req {
        self.path = path.to_owned();
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    /// Edits the JSON body.
    pub fn json_edit(
        mut self,
        f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Req {
        let mut v: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        f(v.as_object_mut().unwrap());
        self.body = serde_json::to_vec(&v).unwrap();
        self
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request on a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, req: &Req) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str())
        .header("host", addr.to_string());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body.clone())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python interpreter of the interop suite (env `NEURON_PYTHON`, else the workspace
/// venv). Panics with instructions when it is missing: these tests never skip.
pub fn python() -> PathBuf {
    let path = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` (or set NEURON_PYTHON)",
        path.display()
    );
    path
}

pub fn python_script(name: &str) -> PathBuf {
    workspace_root().join("tests/python").join(name)
}

/// Test-only synapse: the handler sleeps `delay_ms` (the Python twin is in
/// tests/python/http_axon_client.py).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slow {
    pub delay_ms: i64,
    #[serde(default)]
    pub done: Option<bool>,
}

impl Synapse for Slow {
    const NAME: &'static str = "Slow";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("delay_ms", "0")];
}

/// The example routes every test axon serves: Dummy (async, blacklists //Charlie),
/// Hashed (async), TensorEcho (blocking), StreamCount (streaming), Slow (async sleep).
pub fn attach_examples(axon: &mut Axon) {
    use neuron_axon::HandlerError;
    use neuron_examples as ex;
    let charlie = charlie().ss58().to_owned();
    let _ = axon
        .attach::<ex::Dummy, _, _>(|_caller, s| async move { Ok(ex::dummy(s)) })
        .blacklist(move |caller| {
            if caller.hotkey == charlie {
                Err("test blacklist".to_owned())
            } else {
                Ok(())
            }
        });
    let _ = axon.attach::<ex::Hashed, _, _>(|_caller, s| async move { Ok(ex::hashed(s)) });
    let _ = axon.attach_blocking::<ex::TensorEcho, _>(|_caller, s| {
        ex::tensor_echo(s).map_err(|e| HandlerError::new(e.to_string()))
    });
    let _ = axon.attach_stream::<ex::StreamCount, _, _>(|_caller, s| ex::stream_count(s));
    let _ = axon.attach::<Slow, _, _>(|_caller, mut s: Slow| async move {
        let ms = u64::try_from(s.delay_ms).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        s.done = Some(true);
        Ok(s)
    });
}
