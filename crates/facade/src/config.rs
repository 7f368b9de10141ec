//! A neuron's configuration, from defaults, a TOML file, the environment and flags, using
//! the Python SDK's names where they exist.
//!
//! Every setting has a dotted key (`axon.port`, `wallet.name`, …), the same name as the
//! SDK's command-line flag without the dashes. The sources apply in this order, later ones
//! winning:
//!
//! 1. the defaults below;
//! 2. a TOML file, one table per section:
//!    ```toml
//!    [axon]
//!    port = 8091
//!    [wallet]
//!    name = "miner"
//!    hotkey = "default"
//!    [metagraph]
//!    bootstrap = ["127.0.0.1:8091"]
//!    ```
//! 3. environment variables `BT_` + the key in upper case with `.` as `_` (`BT_AXON_PORT`,
//!    `BT_WALLET_NAME`, … as the SDK reads them);
//! 4. flags, applied with [`NeuronConfig::set`].
//!
//! Unknown keys and malformed values are errors that name the key and the source.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An unknown key.
    #[error("unknown setting {key:?} (from {source_name})")]
    UnknownKey {
        /// The key.
        key: String,
        /// Where it came from.
        source_name: String,
    },
    /// A value that does not parse for its key.
    #[error("bad value {value:?} for {key} (from {source_name}): {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Where it came from.
        source_name: String,
        /// Why it is wrong.
        reason: String,
    },
}

/// Which nonce rules the HTTP axon applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoncePolicy {
    /// Bounded, reorder-tolerant, future nonces refused (the default).
    #[default]
    Strict,
    /// bittensor 10.5's exact rules.
    Sdk,
}

/// `axon.*`: where and how the axon serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AxonSection {
    /// `axon.ip`: address to bind (default 127.0.0.1).
    pub ip: IpAddr,
    /// `axon.port`: port to bind (default 8091; 0 picks a free one).
    pub port: u16,
    /// `axon.external_ip`: address advertised to other neurons (default: the bound one).
    pub external_ip: Option<IpAddr>,
    /// `axon.external_port`: port advertised to other neurons (default: the bound one).
    pub external_port: Option<u16>,
    /// `axon.max_workers`: handlers running at once (default: the axon's own default).
    pub max_workers: Option<usize>,
    /// `axon.max_connections_per_ip`: open connections allowed from one IP address (default:
    /// the axon's own, 1024; `0` removes the limit).
    pub max_connections_per_ip: Option<usize>,
    /// `axon.nonce_policy`: `strict` or `sdk`.
    pub nonce_policy: NoncePolicy,
    /// `axon.rate_limit`: requests per second one verified hotkey may make, sustained
    /// (default: no limit; `0` removes it). Over it: HTTP 429 with `retry-after`.
    pub rate_limit: Option<f64>,
    /// `axon.rate_burst`: requests one hotkey may make at once (default: the per-second
    /// rate rounded up, at least 1).
    pub rate_burst: Option<u32>,
}

impl Default for AxonSection {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8091,
            external_ip: None,
            external_port: None,
            max_workers: None,
            max_connections_per_ip: None,
            nonce_policy: NoncePolicy::Strict,
            rate_limit: None,
            rate_burst: None,
        }
    }
}

/// `wallet.*`: which hotkey signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalletSection {
    /// `wallet.name` (default `default`).
    pub name: String,
    /// `wallet.hotkey` (default `default`).
    pub hotkey: String,
    /// `wallet.path` (default `~/.bittensor/wallets`).
    pub path: Option<PathBuf>,
    /// `wallet.uri`: a development key such as `//Alice` instead of a keyfile.
    pub uri: Option<String>,
}

impl Default for WalletSection {
    fn default() -> Self {
        Self {
            name: "default".into(),
            hotkey: "default".into(),
            path: None,
            uri: None,
        }
    }
}

/// `logging.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    /// `logging.debug`: debug logs (as `RUST_LOG=debug`).
    pub debug: bool,
    /// `logging.trace`: trace logs.
    pub trace: bool,
}

/// `metrics.*`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// `metrics.port`: serve `/metrics` on this port (unset: no metrics endpoint).
    pub port: Option<u16>,
    /// `metrics.ip`: address of the metrics endpoint (default 127.0.0.1).
    pub ip: IpAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            port: None,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// `metagraph.*`: gossip discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetagraphSection {
    /// `metagraph.bootstrap`: peers to start gossip from (comma-separated in the
    /// environment and on the command line).
    pub bootstrap: Vec<SocketAddr>,
    /// `metagraph.interval_ms`: time between gossip rounds.
    pub interval_ms: u64,
    /// `metagraph.ttl_secs`: records not refreshed for this long are dropped.
    pub ttl_secs: u64,
}

impl Default for MetagraphSection {
    fn default() -> Self {
        Self {
            bootstrap: Vec::new(),
            interval_ms: 1000,
            ttl_secs: 300,
        }
    }
}

/// The whole configuration; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NeuronConfig {
    /// `axon.*`.
    pub axon: AxonSection,
    /// `wallet.*`.
    pub wallet: WalletSection,
    /// `logging.*`.
    pub logging: LoggingSection,
    /// `metrics.*`.
    pub metrics: MetricsSection,
    /// `metagraph.*`.
    pub metagraph: MetagraphSection,
}

/// Every key [`NeuronConfig::set`] accepts.
pub const KEYS: &[&str] = &[
    "axon.ip",
    "axon.port",
    "axon.external_ip",
    "axon.external_port",
    "axon.max_workers",
    "axon.max_connections_per_ip",
    "axon.nonce_policy",
    "axon.rate_limit",
    "axon.rate_burst",
    "wallet.name",
    "wallet.hotkey",
    "wallet.path",
    "wallet.uri",
    "logging.debug",
    "logging.trace",
    "metrics.port",
    "metrics.ip",
    "metagraph.bootstrap",
    "metagraph.interval_ms",
    "metagraph.ttl_secs",
];

/// The environment variable of `key`: `axon.external_ip` → `BT_AXON_EXTERNAL_IP`.
pub fn env_name(key: &str) -> String {
    format!("BT_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// The error for a `value` of `key` (from `source`) that parsed but is not allowed.
fn bad_value(key: &str, value: &str, source: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        key: key.into(),
        value: value.into(),
        source_name: source.into(),
        reason: reason.into(),
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str, source: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::BadValue {
            key: key.into(),
            value: value.into(),
            source_name: source.into(),
            reason: e.to_string(),
        })
}

fn parse_bool(key: &str, value: &str, source: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(bad_value(key, value, source, "expected true or false")),
    }
}

impl NeuronConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a TOML document (`path` only names it in errors).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::new(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies every `BT_*` variable that `lookup` finds (see [`env_name`]).
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for key in KEYS {
            let name = env_name(key);
            if let Some(value) = lookup(&name) {
                self.set_from(key, &value, &format!("${name}"))?;
            }
        }
        Ok(())
    }

    /// Sets one setting from its text form, as a flag would.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_from(key, value, &format!("--{key}"))
    }

    fn set_from(&mut self, key: &str, value: &str, source: &str) -> Result<(), ConfigError> {
        let optional = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        match key {
            "axon.ip" => self.axon.ip = parse(key, value, source)?,
            "axon.port" => self.axon.port = parse(key, value, source)?,
            "axon.external_ip" => {
                self.axon.external_ip = match optional(value) {
                    Some(v) => Some(parse(key, &v, source)?),
                    None => None,
                }
            }
            "axon.external_port" => {
                self.axon.external_port = match optional(value) {
                    Some(v) => Some(parse(key, &v, source)?),
                    None => None,
                }
            }
            "axon.max_workers" => {
                let n: usize = parse(key, value, source)?;
                if n == 0 {
                    return Err(bad_value(key, value, source, "must be at least 1"));
                }
                self.axon.max_workers = Some(n);
            }
            "axon.max_connections_per_ip" => {
                self.axon.max_connections_per_ip = Some(parse(key, value, source)?);
            }
            "axon.rate_limit" => {
                let rate: f64 = parse(key, value, source)?;
                if !(rate.is_finite() && rate >= 0.0) {
                    let reason = "expected requests per second, 0 or more";
                    return Err(bad_value(key, value, source, reason));
                }
                self.axon.rate_limit = Some(rate);
            }
            "axon.rate_burst" => {
                let n: u32 = parse(key, value, source)?;
                if n == 0 {
                    return Err(bad_value(key, value, source, "must be at least 1"));
                }
                self.axon.rate_burst = Some(n);
            }
            "axon.nonce_policy" => {
                self.axon.nonce_policy = match value.trim().to_ascii_lowercase().as_str() {
                    "strict" => NoncePolicy::Strict,
                    "sdk" => NoncePolicy::Sdk,
                    _ => return Err(bad_value(key, value, source, "expected strict or sdk")),
                }
            }
            "wallet.name" => self.wallet.name = value.to_owned(),
            "wallet.hotkey" => self.wallet.hotkey = value.to_owned(),
            "wallet.path" => self.wallet.path = optional(value).map(PathBuf::from),
            "wallet.uri" => self.wallet.uri = optional(value),
            "logging.debug" => self.logging.debug = parse_bool(key, value, source)?,
            "logging.trace" => self.logging.trace = parse_bool(key, value, source)?,
            "metrics.port" => {
                self.metrics.port = match optional(value) {
                    Some(v) => Some(parse(key, &v, source)?),
                    None => None,
                }
            }
            "metrics.ip" => self.metrics.ip = parse(key, value, source)?,
            "metagraph.bootstrap" => {
                self.metagraph.bootstrap = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| parse(key, s, source))
                    .collect::<Result<_, _>>()?;
            }
            "metagraph.interval_ms" => self.metagraph.interval_ms = parse(key, value, source)?,
            "metagraph.ttl_secs" => self.metagraph.ttl_secs = parse(key, value, source)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.into(),
                    source_name: source.into(),
                });
            }
        }
        Ok(())
    }

    /// The tracing filter these settings ask for (`RUST_LOG` still wins when set).
    pub fn log_filter(&self) -> &'static str {
        if self.logging.trace {
            "trace"
        } else if self.logging.debug {
            "debug"
        } else {
            "warn"
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn file_then_env_then_flags() {
        let file = r#"
            [axon]
            port = 9000
            ip = "127.0.0.1"
            [wallet]
            name = "miner"
            hotkey = "hk1"
            [metagraph]
            bootstrap = ["127.0.0.1:7000"]
        "#;
        let mut c = NeuronConfig::from_toml(file, Path::new("neuron.toml")).unwrap();
        assert_eq!(c.axon.port, 9000);
        assert_eq!(c.wallet.name, "miner");
        let env: HashMap<&str, &str> = [
            ("BT_AXON_PORT", "9001"),
            ("BT_WALLET_HOTKEY", "hk2"),
            ("BT_METAGRAPH_BOOTSTRAP", "127.0.0.1:7001, 127.0.0.1:7002"),
            ("BT_AXON_NONCE_POLICY", "sdk"),
        ]
        .into_iter()
        .collect();
        c.apply_env(|n| env.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(c.axon.port, 9001);
        assert_eq!(c.wallet.name, "miner");
        assert_eq!(c.wallet.hotkey, "hk2");
        assert_eq!(c.metagraph.bootstrap.len(), 2);
        assert_eq!(c.axon.nonce_policy, NoncePolicy::Sdk);
        c.set("axon.port", "0").unwrap();
        c.set("logging.debug", "true").unwrap();
        assert_eq!(c.axon.port, 0);
        assert_eq!(c.log_filter(), "debug");
    }

    #[test]
    fn errors_name_the_key_and_source() {
        let mut c = NeuronConfig::new();
        let e = c.set("axon.port", "99999").unwrap_err().to_string();
        assert!(e.contains("axon.port") && e.contains("--axon.port"), "{e}");
        let e = c.set("axon.colour", "red").unwrap_err().to_string();
        assert!(e.contains("unknown setting"), "{e}");
        let e = c
            .apply_env(|n| (n == "BT_LOGGING_DEBUG").then(|| "maybe".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("$BT_LOGGING_DEBUG"), "{e}");
        let e = NeuronConfig::from_toml("[axon]\ncolour = 1\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("colour"), "{e}");
        assert!(c.set("axon.max_workers", "0").is_err());
    }

    #[test]
    fn every_key_round_trips_through_set() {
        let mut c = NeuronConfig::new();
        for key in KEYS {
            let value = match *key {
                "axon.ip" | "axon.external_ip" | "metrics.ip" => "127.0.0.1",
                "axon.nonce_policy" => "strict",
                "logging.debug" | "logging.trace" => "false",
                "metagraph.bootstrap" => "127.0.0.1:1",
                "wallet.name" | "wallet.hotkey" | "wallet.path" | "wallet.uri" => "x",
                _ => "5",
            };
            c.set(key, value).unwrap();
        }
        // Written settings load back the same.
        let text = toml::to_string(&c).unwrap();
        assert_eq!(NeuronConfig::from_toml(&text, Path::new("t")).unwrap(), c);
    }
}
