//! The accepted forms of endpoints and text inputs (`format_text_inputs`, wire-legacy §10).

use candle_core::{DType, Tensor};

use super::endpoint::{ENDPOINT_BUFFER_SIZE, Endpoint};
use super::error::{Error, Result};
use super::tokenizer::Tokenizer;

/// Endpoints in any upstream form.
#[derive(Debug, Clone)]
pub enum Endpoints {
    /// One endpoint.
    One(Endpoint),
    /// A list of endpoints.
    Many(Vec<Endpoint>),
    /// A `[250]` or `[n, 250]` int64 endpoint tensor (wire-legacy §14).
    Tensor(Tensor),
    /// A list of `[250]` endpoint tensors.
    Tensors(Vec<Tensor>),
}

impl From<Endpoint> for Endpoints {
    fn from(e: Endpoint) -> Self {
        Endpoints::One(e)
    }
}
impl From<Vec<Endpoint>> for Endpoints {
    fn from(e: Vec<Endpoint>) -> Self {
        Endpoints::Many(e)
    }
}
impl From<&[Endpoint]> for Endpoints {
    fn from(e: &[Endpoint]) -> Self {
        Endpoints::Many(e.to_vec())
    }
}
impl From<Tensor> for Endpoints {
    fn from(t: Tensor) -> Self {
        Endpoints::Tensor(t)
    }
}
impl From<Vec<Tensor>> for Endpoints {
    fn from(t: Vec<Tensor>) -> Self {
        Endpoints::Tensors(t)
    }
}

impl Endpoints {
    /// The endpoint list.
    pub fn resolve(self) -> Result<Vec<Endpoint>> {
        match self {
            Endpoints::One(e) => Ok(vec![e]),
            Endpoints::Many(v) => Ok(v),
            Endpoints::Tensor(t) => match t.dims() {
                [ENDPOINT_BUFFER_SIZE] => Ok(vec![Endpoint::from_tensor(&t)?]),
                [n, ENDPOINT_BUFFER_SIZE] => {
                    (0..*n).map(|i| Endpoint::from_tensor(&t.get(i)?)).collect()
                }
                d => Err(Error::Endpoint(format!("endpoint tensor shape {d:?}"))),
            },
            Endpoints::Tensors(v) => v.iter().map(Endpoint::from_tensor).collect(),
        }
    }
}

/// Text inputs in any upstream form.
#[derive(Debug, Clone)]
pub enum TextInputs {
    /// One string, tokenized and sent to every endpoint.
    Text(String),
    /// Several strings, tokenized with padding, sent to every endpoint.
    Texts(Vec<String>),
    /// A `[S]` or `[B, S]` tensor sent to every endpoint, or `[n, B, S]` with one slice
    /// per endpoint.
    Tensor(Tensor),
    /// One tensor per endpoint.
    Tensors(Vec<Tensor>),
}

impl From<&str> for TextInputs {
    fn from(s: &str) -> Self {
        TextInputs::Text(s.into())
    }
}
impl From<String> for TextInputs {
    fn from(s: String) -> Self {
        TextInputs::Text(s)
    }
}
impl From<Vec<String>> for TextInputs {
    fn from(s: Vec<String>) -> Self {
        TextInputs::Texts(s)
    }
}
impl From<&[&str]> for TextInputs {
    fn from(s: &[&str]) -> Self {
        TextInputs::Texts(s.iter().map(|&x| x.to_owned()).collect())
    }
}
impl From<Tensor> for TextInputs {
    fn from(t: Tensor) -> Self {
        TextInputs::Tensor(t)
    }
}
impl From<Vec<Tensor>> for TextInputs {
    fn from(t: Vec<Tensor>) -> Self {
        TextInputs::Tensors(t)
    }
}

/// int64, rank 2.
fn as_tokens(t: &Tensor) -> Result<Tensor> {
    let t = t.to_dtype(DType::I64)?;
    match t.rank() {
        1 => Ok(t.unsqueeze(0)?),
        2 => Ok(t),
        r => Err(Error::Inputs(format!(
            "token tensor of rank {r}, expected 1 or 2"
        ))),
    }
}

/// Resolves endpoints and inputs into one int64 `[B, S]` tensor per endpoint.
pub fn format_text_inputs(
    tokenizer: &Tokenizer,
    endpoints: Endpoints,
    inputs: TextInputs,
) -> Result<(Vec<Endpoint>, Vec<Tensor>)> {
    let endpoints = endpoints.resolve()?;
    let n = endpoints.len();
    let inputs = match inputs {
        TextInputs::Text(s) => vec![tokenizer.encode_batch(&[s])?; n],
        TextInputs::Texts(v) => vec![tokenizer.encode_batch(&v)?; n],
        TextInputs::Tensor(t) if t.rank() == 3 => {
            if t.dim(0)? != n {
                return Err(Error::Length {
                    what: "input tensors per endpoint",
                    expected: n,
                    actual: t.dim(0)?,
                });
            }
            (0..n)
                .map(|i| as_tokens(&t.get(i)?))
                .collect::<Result<_>>()?
        }
        TextInputs::Tensor(t) => vec![as_tokens(&t)?; n],
        TextInputs::Tensors(v) => {
            if v.len() != n {
                return Err(Error::Length {
                    what: "input tensors per endpoint",
                    expected: n,
                    actual: v.len(),
                });
            }
            v.iter().map(as_tokens).collect::<Result<_>>()?
        }
    };
    Ok((endpoints, inputs))
}
