//! `TensorEcho`: a `bt.Tensor` multiplied by a scale.

use neuron_protocol::synapse::Synapse;
use neuron_tensor::bt::BtTensor;
use neuron_tensor::{Dtype, Limits, WireTensor, cast};
use serde::{Deserialize, Serialize};

/// `tensor: Optional[bt.Tensor] = None`, `scale: float = 2.0`,
/// `required_hash_fields = ("tensor",)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEcho {
    /// The tensor to scale.
    #[serde(default)]
    pub tensor: Option<BtTensor>,
    /// The factor.
    #[serde(default = "default_scale")]
    pub scale: f64,
}

fn default_scale() -> f64 {
    2.0
}

impl Default for TensorEcho {
    fn default() -> Self {
        Self {
            tensor: None,
            scale: default_scale(),
        }
    }
}

impl Synapse for TensorEcho {
    const NAME: &'static str = "TensorEcho";
    const REQUIRED_HASH_FIELDS: &'static [&'static str] = &["tensor"];
}

/// Why [`tensor_echo`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TensorEchoError {
    /// The tensor could not be decoded or encoded.
    #[error(transparent)]
    Tensor(#[from] neuron_tensor::Error),
}

/// Multiplies raw little-endian elements of `dtype` by `scale`, as numpy's
/// `np.asarray(arr * scale, dtype=arr.dtype)` does (numpy 2 promotion: float32 and float16
/// arrays compute in their own precision, others in float64, then cast back).
fn scale_elements(t: &WireTensor, scale: f64) -> WireTensor {
    let data = match t.dtype {
        Dtype::F32 => {
            let s = scale as f32;
            t.data
                .chunks_exact(4)
                .flat_map(|c| {
                    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    (x * s).to_le_bytes()
                })
                .collect::<Vec<u8>>()
        }
        dtype => {
            // float16 × float16 is exact in float64, so one rounding back matches numpy.
            let s = if dtype == Dtype::F16 {
                let half = cast::cast(&scale.to_le_bytes(), Dtype::F64, Dtype::F16);
                let back = cast::cast(&half, Dtype::F16, Dtype::F64);
                back.try_into().map_or(scale, f64::from_le_bytes)
            } else {
                scale
            };
            let wide = cast::cast(&t.data, dtype, Dtype::F64);
            let scaled: Vec<u8> = wide
                .chunks_exact(8)
                .flat_map(|c| {
                    let x = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                    (x * s).to_le_bytes()
                })
                .collect();
            cast::cast(&scaled, Dtype::F64, dtype)
        }
    };
    WireTensor {
        dtype: t.dtype,
        shape: t.shape.clone(),
        data: data.into(),
    }
}

/// The handler: `tensor = tensor * scale` in the tensor's own dtype; no tensor, no change.
pub fn tensor_echo(mut synapse: TensorEcho) -> Result<TensorEcho, TensorEchoError> {
    if let Some(tensor) = &synapse.tensor {
        let wire = tensor.to_wire(&Limits::default())?;
        synapse.tensor = Some(BtTensor::from_wire(&scale_elements(&wire, synapse.scale))?);
    }
    Ok(synapse)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DOUBLED: &str =
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAACAPwAAAEAAAEBA";
    const INPUT: &str =
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/";

    #[test]
    fn doubles_the_captured_tensor_byte_for_byte() {
        let req = TensorEcho {
            tensor: Some(BtTensor {
                buffer: Some(INPUT.into()),
                dtype: "float32".into(),
                shape: vec![4],
            }),
            scale: 2.0,
        };
        let out = tensor_echo(req).unwrap().tensor.unwrap();
        assert_eq!(out.buffer.as_deref(), Some(DOUBLED));
        assert_eq!(out.dtype, "float32");
        assert_eq!(out.shape, vec![4]);
    }

    #[test]
    fn integers_truncate_like_numpy() {
        let data: Vec<u8> = [3i64, -3].iter().flat_map(|x| x.to_le_bytes()).collect();
        let t = WireTensor::new(Dtype::I64, vec![2], data).unwrap();
        let out = scale_elements(&t, 0.5);
        let got: Vec<i64> = out
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [1, -1]);
    }
}
