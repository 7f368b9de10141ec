//! [`WireTensor`]: a dtype, a shape and little-endian element bytes, and its candle
//! conversions.

use crate::frame::FrameBuf;
use crate::{Dtype, Error, Limits, Result, cast};
use bytes::Bytes;
use candle_core::{CpuStorage, Device, Storage, Tensor};

/// A tensor as it travels: wire dtype, C-order shape, and the little-endian element bytes.
///
/// This is the common currency of every encoding in the crate: the three decoders produce
/// it, the three encoders consume it, and it converts to and from candle. The wire dtype is
/// kept even where candle has to widen (`int8` → `I16`, `bool` → `U8`), so
/// decode → encode is byte-exact without ever going through candle.
///
/// The fields are public; [`WireTensor::new`] and [`WireTensor::validate`] check that
/// `data.len() == product(shape) * dtype.size()`, and every encoder checks it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WireTensor {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, C order; empty for a 0-d scalar.
    pub shape: Vec<usize>,
    /// Little-endian element bytes, C order, exactly `numel * dtype.size()` long.
    pub data: Bytes,
}

/// Element count of a shape, `None` on overflow.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Byte length of `shape` × `dtype`, `None` on overflow.
pub(crate) fn byte_len(dtype: Dtype, shape: &[usize]) -> Option<usize> {
    numel(shape)?.checked_mul(dtype.size())
}

impl WireTensor {
    /// Builds a wire tensor, checking the data length against shape and dtype.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: impl Into<Bytes>) -> Result<Self> {
        let t = WireTensor {
            dtype,
            shape,
            data: data.into(),
        };
        t.validate()?;
        Ok(t)
    }

    /// A tensor of zeros (all-zero bytes: 0, 0.0 or `false` in every dtype).
    ///
    /// # Panics
    /// If the byte size of `shape` overflows `usize`.
    pub fn zeros(dtype: Dtype, shape: &[usize]) -> Self {
        let len =
            byte_len(dtype, shape).unwrap_or_else(|| panic!("shape {shape:?} overflows usize"));
        WireTensor {
            dtype,
            shape: shape.to_vec(),
            data: Bytes::from(vec![0u8; len]),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape).unwrap_or(usize::MAX)
    }

    /// Checks `data.len() == numel * dtype.size()`.
    pub fn validate(&self) -> Result<()> {
        let expected = byte_len(self.dtype, &self.shape).ok_or_else(|| Error::BadShape {
            shape: self.shape.iter().map(|&d| d as i64).collect(),
            reason: "element count overflows",
        })?;
        if expected != self.data.len() {
            return Err(Error::ShapeMismatch {
                context: "data bytes vs shape × itemsize",
                expected,
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Checks the tensor against `limits` (and [`WireTensor::validate`]).
    pub fn check(&self, limits: &Limits) -> Result<()> {
        limits.check(self.dtype, &self.shape)?;
        self.validate()
    }

    /// numpy `astype`: converts the elements to `dtype` (see [`crate::cast`] for the exact
    /// semantics). Same dtype: a cheap clone sharing the bytes.
    pub fn cast(&self, dtype: Dtype) -> WireTensor {
        if dtype == self.dtype {
            return self.clone();
        }
        WireTensor {
            dtype,
            shape: self.shape.clone(),
            data: Bytes::from(cast::cast(&self.data, self.dtype, dtype)),
        }
    }

    /// Same elements, new shape (element counts must match). Shares the bytes.
    pub fn reshape(&self, shape: Vec<usize>) -> Result<WireTensor> {
        let from = self.numel();
        let to = numel(&shape).ok_or_else(|| Error::BadShape {
            shape: shape.iter().map(|&d| d as i64).collect(),
            reason: "element count overflows",
        })?;
        if from != to {
            return Err(Error::ShapeMismatch {
                context: "reshape element count",
                expected: to,
                actual: from,
            });
        }
        Ok(WireTensor {
            dtype: self.dtype,
            shape,
            data: self.data.clone(),
        })
    }

    /// Copies a candle tensor out (exactly one copy of the element bytes for a contiguous CPU
    /// tensor; non-contiguous tensors are made contiguous first, other devices are
    /// transferred first). The wire dtype is candle's (`U8` stays `uint8`); use
    /// [`WireTensor::from_candle_as`] to restore `int8`/`bool`.
    pub fn from_candle(tensor: &Tensor) -> Result<WireTensor> {
        let dtype = Dtype::from_candle(tensor.dtype())?;
        let len = byte_len(dtype, tensor.dims()).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(len);
        append_candle_bytes(tensor, &mut out)?;
        Ok(WireTensor {
            dtype,
            shape: tensor.dims().to_vec(),
            data: Bytes::from(out),
        })
    }

    /// Like [`WireTensor::from_candle`], then converts to `dtype`. When candle holds `dtype`
    /// in a wider container (`I16` for `int8`, `U8` for `bool`) this narrows back, so
    /// `WireTensor → to_candle → from_candle_as(original dtype)` reproduces the original
    /// bytes exactly (`bool` bytes are kept as they are, `int8` values out of range wrap).
    /// Otherwise it is a numpy-style cast.
    pub fn from_candle_as(tensor: &Tensor, dtype: Dtype) -> Result<WireTensor> {
        let w = WireTensor::from_candle(tensor)?;
        if w.dtype == dtype {
            return Ok(w);
        }
        if dtype == Dtype::Bool && w.dtype == Dtype::U8 {
            return Ok(WireTensor {
                dtype: Dtype::Bool,
                ..w
            });
        }
        Ok(w.cast(dtype))
    }

    /// Builds a CPU candle tensor ([`WireTensor::to_candle_on`] with `Device::Cpu`).
    pub fn to_candle(&self) -> Result<Tensor> {
        self.to_candle_on(&Device::Cpu)
    }

    /// Builds a candle tensor of dtype [`Dtype::to_candle`] on `device`. One copy of the
    /// element bytes into candle's storage (any alignment of `data`); `int8` is widened to
    /// `I16` and `bool` lands in `U8` with its bytes unchanged.
    pub fn to_candle_on(&self, device: &Device) -> Result<Tensor> {
        self.validate()?;
        candle_from_le(self.dtype, &self.shape, &self.data, device)
    }
}

/// Builds a candle tensor from little-endian element bytes whose length was checked against
/// `dtype` and `shape` (see [`WireTensor::to_candle_on`]).
pub(crate) fn candle_from_le(
    dtype: Dtype,
    shape: &[usize],
    d: &[u8],
    device: &Device,
) -> Result<Tensor> {
    let t = match dtype {
        Dtype::F16 => Tensor::from_vec(collect_le::<half::f16>(d), shape, device)?,
        Dtype::BF16 => Tensor::from_vec(collect_le::<half::bf16>(d), shape, device)?,
        Dtype::F32 => Tensor::from_vec(collect_le::<f32>(d), shape, device)?,
        Dtype::F64 => Tensor::from_vec(collect_le::<f64>(d), shape, device)?,
        Dtype::U8 | Dtype::Bool => Tensor::from_vec(d.to_vec(), shape, device)?,
        Dtype::I8 => Tensor::from_vec(
            d.iter().map(|&b| i16::from(b as i8)).collect::<Vec<i16>>(),
            shape,
            device,
        )?,
        Dtype::I16 => Tensor::from_vec(collect_le::<i16>(d), shape, device)?,
        Dtype::I32 => Tensor::from_vec(collect_le::<i32>(d), shape, device)?,
        Dtype::I64 => Tensor::from_vec(collect_le::<i64>(d), shape, device)?,
        Dtype::U32 => Tensor::from_vec(collect_le::<u32>(d), shape, device)?,
    };
    Ok(t)
}

/// Copies little-endian bytes into a typed, aligned vector (one copy).
fn collect_le<T: bytemuck::Pod>(data: &[u8]) -> Vec<T> {
    #[allow(unused_mut)]
    let mut v: Vec<T> = bytemuck::pod_collect_to_vec(data);
    #[cfg(target_endian = "big")]
    swap_elements(
        bytemuck::cast_slice_mut::<T, u8>(&mut v),
        std::mem::size_of::<T>(),
    );
    v
}

#[cfg(target_endian = "big")]
fn swap_elements(bytes: &mut [u8], size: usize) {
    for c in bytes.chunks_exact_mut(size) {
        c.reverse();
    }
}

/// Appends the little-endian bytes of a typed slice (a plain memcpy on little-endian hosts).
fn extend_le<T: bytemuck::Pod, B: FrameBuf + ?Sized>(out: &mut B, s: &[T]) {
    let bytes: &[u8] = bytemuck::cast_slice(s);
    #[cfg(target_endian = "little")]
    out.append(bytes);
    #[cfg(target_endian = "big")]
    {
        let start = out.filled_len();
        out.append(bytes);
        swap_elements(&mut out.filled_mut()[start..], std::mem::size_of::<T>());
    }
}

/// Calls `f` with the element bytes of a contiguous CPU tensor, borrowed from candle's
/// storage under its lock. On a little-endian host these are the wire bytes. `None` (and
/// `f` not called) when the tensor is on another device, not contiguous, or of a dtype the
/// wire lacks: [`append_candle_bytes`] handles those.
#[cfg(target_endian = "little")]
#[inline]
pub(crate) fn with_storage_bytes<R>(tensor: &Tensor, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let (storage, layout) = tensor.storage_and_layout();
    let (start, end) = contiguous_range(layout)?;
    let Storage::Cpu(cpu) = &*storage else {
        return None;
    };
    let bytes: &[u8] = match cpu {
        CpuStorage::U8(v) => v.get(start..end)?,
        CpuStorage::U32(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::I16(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::I32(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::I64(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::BF16(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::F16(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::F32(v) => bytemuck::cast_slice(v.get(start..end)?),
        CpuStorage::F64(v) => bytemuck::cast_slice(v.get(start..end)?),
        _ => return None,
    };
    Some(f(bytes))
}

/// The storage range `start..end` of a C-contiguous layout, `None` when the strides are not
/// C order.
///
/// The rule of candle's `Shape::is_contiguous` (a dimension of size 1 may have any stride),
/// with the element count computed in the same pass and checked for overflow; inlined
/// because candle's `Layout::contiguous_offsets` is a call that makes two passes, a
/// noticeable part of encoding a small tensor.
#[inline(always)]
fn contiguous_range(layout: &candle_core::Layout) -> Option<(usize, usize)> {
    let (dims, stride) = (layout.dims(), layout.stride());
    if dims.len() != stride.len() {
        return None;
    }
    let mut count: usize = 1;
    for (&d, &s) in dims.iter().zip(stride).rev() {
        if d > 1 && s != count {
            return None;
        }
        count = count.checked_mul(d)?;
    }
    let start = layout.start_offset();
    Some((start, start.checked_add(count)?))
}

/// Appends the C-order little-endian element bytes of `tensor` to `out`, copying directly
/// from candle's CPU storage when the layout is contiguous.
pub(crate) fn append_candle_bytes<B: FrameBuf + ?Sized>(
    tensor: &Tensor,
    out: &mut B,
) -> Result<()> {
    if !tensor.device().is_cpu() {
        let cpu = tensor.to_device(&Device::Cpu)?;
        return append_candle_bytes(&cpu, out);
    }
    if append_contiguous(tensor, out)? {
        return Ok(());
    }
    let c = tensor.contiguous()?;
    if append_contiguous(&c, out)? {
        return Ok(());
    }
    // `contiguous()` always yields a contiguous layout; this is a defensive fallback.
    let c = tensor.flatten_all()?.copy()?;
    if append_contiguous(&c, out)? {
        return Ok(());
    }
    Err(Error::UnsupportedDtype(
        "non-contiguous candle tensor".into(),
    ))
}

fn append_contiguous<B: FrameBuf + ?Sized>(tensor: &Tensor, out: &mut B) -> Result<bool> {
    let (storage, layout) = tensor.storage_and_layout();
    let Some((start, end)) = contiguous_range(layout) else {
        return Ok(false);
    };
    let Storage::Cpu(cpu) = &*storage else {
        return Err(Error::UnsupportedDtype(
            "tensor storage is not on the CPU".into(),
        ));
    };
    match cpu {
        CpuStorage::U8(v) => extend_le(out, &v[start..end]),
        CpuStorage::U32(v) => extend_le(out, &v[start..end]),
        CpuStorage::I16(v) => extend_le(out, &v[start..end]),
        CpuStorage::I32(v) => extend_le(out, &v[start..end]),
        CpuStorage::I64(v) => extend_le(out, &v[start..end]),
        CpuStorage::BF16(v) => extend_le(out, &v[start..end]),
        CpuStorage::F16(v) => extend_le(out, &v[start..end]),
        CpuStorage::F32(v) => extend_le(out, &v[start..end]),
        CpuStorage::F64(v) => extend_le(out, &v[start..end]),
        _ => {
            return Err(Error::UnsupportedDtype(format!(
                "candle {}",
                tensor.dtype().as_str()
            )));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_round_trip_all_dtypes() -> Result<()> {
        for dtype in Dtype::ALL {
            let n = 6;
            let data: Vec<u8> = (0..n * dtype.size())
                .map(|i| (i * 37 % 251) as u8)
                .collect();
            let data = if dtype == Dtype::Bool {
                data.iter().map(|b| b & 1).collect()
            } else {
                data
            };
            let w = WireTensor::new(dtype, vec![2, 3], data)?;
            let t = w.to_candle()?;
            assert_eq!(t.dtype(), dtype.to_candle());
            assert_eq!(t.dims(), &[2, 3]);
            let back = WireTensor::from_candle_as(&t, dtype)?;
            assert_eq!(back, w, "{dtype}");
            // non-contiguous: transpose twice through a contiguous copy
            let tt = t.t()?;
            let back_t = WireTensor::from_candle(&tt)?;
            assert_eq!(back_t.shape, vec![3, 2]);
            let again = WireTensor::from_candle_as(&back_t.to_candle()?.t()?, dtype)?;
            assert_eq!(again, w, "{dtype} transposed");
        }
        Ok(())
    }

    #[test]
    fn narrow_slices_use_offsets() -> Result<()> {
        let t = Tensor::arange(0f32, 10f32, &Device::Cpu)?;
        let s = t.narrow(0, 3, 4)?;
        let w = WireTensor::from_candle(&s)?;
        let vals: Vec<f32> = bytemuck::pod_collect_to_vec(&w.data);
        assert_eq!(vals, [3.0, 4.0, 5.0, 6.0]);
        Ok(())
    }

    #[test]
    fn zeros_and_scalars() -> Result<()> {
        let z = WireTensor::zeros(Dtype::F32, &[]);
        assert_eq!(z.data.len(), 4);
        let t = z.to_candle()?;
        assert_eq!(t.rank(), 0);
        let e = WireTensor::zeros(Dtype::I64, &[0, 5]);
        assert_eq!(e.to_candle()?.dims(), &[0, 5]);
        assert!(WireTensor::new(Dtype::F32, vec![2], vec![0u8; 7]).is_err());
        Ok(())
    }
}
