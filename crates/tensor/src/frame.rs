//! The native raw tensor frame: a fixed little-endian header followed by the element bytes.
//!
//! # Format (version 1)
//!
//! All integers little-endian. `r` is the rank.
//!
//! | offset | size | field | value |
//! |---|---|---|---|
//! | 0 | 4 | magic | `4E 54 53 52` (ASCII `NTSR`) |
//! | 4 | 1 | version | `01` |
//! | 5 | 1 | dtype | code, see below |
//! | 6 | 1 | rank `r` | 0 ..= 255 (0 = scalar) |
//! | 7 | 1 | flags | `00` (reserved; any other value is refused) |
//! | 8 | 8·r | dims | `r` × u64, outermost first (C order) |
//! | 8 + 8·r | n | data | the elements, C order, little-endian; n = product(dims) × itemsize |
//!
//! dtype codes: 1 float16, 2 bfloat16, 3 float32, 4 float64, 5 uint8, 6 int8, 7 int16,
//! 8 int32, 9 int64, 10 bool (one byte per element), 11 uint32. Code 0 is invalid.
//!
//! The header is `8 + 8·r` bytes, a multiple of 8, so the data starts 8-byte aligned
//! relative to the frame start. There is no length field and no trailer: the payload length
//! follows from dtype and dims, and a frame is exactly header + data (a decoder refuses
//! trailing bytes; a stream reader uses [`frame_len`] to find where a frame ends).
//!
//! Example: float32 `[0.0, 0.5, 1.0, 1.5]`, shape `[4]` (32 bytes):
//!
//! ```text
//! 4e545352 01 03 01 00            magic, v1, float32, rank 1, flags
//! 0400000000000000                dim 0 = 4
//! 00000000 0000003f 0000803f 0000c03f
//! ```
//!
//! # Copies
//!
//! [`encode`] copies candle's contiguous CPU storage once into the frame; [`encode_parts`]
//! copies nothing (header and data as two `Bytes` for vectored writes); [`decode`] slices
//! the input `Bytes` (no copy of the payload); [`WireTensor::to_candle`] copies once into
//! candle's storage.

use crate::{Dtype, Error, Limits, Result, WireTensor, wire};
use bytes::{Buf, Bytes};
use candle_core::Tensor;

/// `NTSR`.
pub const MAGIC: [u8; 4] = *b"NTSR";
/// Format version written and accepted.
pub const VERSION: u8 = 1;
/// Length of the fixed part of the header (before the dims).
pub const FIXED_HEADER_LEN: usize = 8;
/// Largest rank a frame can carry.
pub const MAX_RANK: usize = 255;

/// Header length for a given rank.
pub const fn header_len(rank: usize) -> usize {
    FIXED_HEADER_LEN + 8 * rank
}

/// Writes the header for `dtype`/`shape`.
pub fn encode_header(dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(header_len(shape.len()));
    write_header(&mut out, dtype, shape)?;
    Ok(out)
}

fn write_header(out: &mut Vec<u8>, dtype: Dtype, shape: &[usize]) -> Result<()> {
    let rank = u8::try_from(shape.len()).map_err(|_| Error::TooLarge {
        what: "frame rank",
        limit: MAX_RANK,
        actual: shape.len(),
    })?;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION, dtype.code(), rank, 0]);
    for &d in shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    Ok(())
}

/// Encodes a candle tensor as one frame, copying the element bytes once (straight from the
/// storage slice for contiguous CPU tensors).
pub fn encode(tensor: &Tensor) -> Result<Bytes> {
    let dtype = Dtype::from_candle(tensor.dtype())?;
    let shape = tensor.dims();
    let data_len = wire::byte_len(dtype, shape).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(header_len(shape.len()).saturating_add(data_len));
    write_header(&mut out, dtype, shape)?;
    wire::append_candle_bytes(tensor, &mut out)?;
    Ok(Bytes::from(out))
}

/// Encodes a candle tensor as a frame carrying `dtype` (see [`WireTensor::from_candle_as`]:
/// restores `int8`/`bool` from their candle containers).
pub fn encode_as(tensor: &Tensor, dtype: Dtype) -> Result<Bytes> {
    if Dtype::from_candle(tensor.dtype())? == dtype {
        return encode(tensor);
    }
    encode_wire(&WireTensor::from_candle_as(tensor, dtype)?)
}

/// Encodes a wire tensor as one contiguous frame (one copy of the data).
pub fn encode_wire(t: &WireTensor) -> Result<Bytes> {
    t.validate()?;
    let mut out = Vec::with_capacity(header_len(t.shape.len()) + t.data.len());
    write_header(&mut out, t.dtype, &t.shape)?;
    out.extend_from_slice(&t.data);
    Ok(Bytes::from(out))
}

/// Header and data as separate buffers for a vectored write; the data is returned as is
/// (no copy). Checks that `data` has the length `dtype`/`shape` imply.
pub fn encode_parts(dtype: Dtype, shape: &[usize], data: Bytes) -> Result<(Bytes, Bytes)> {
    let expected = wire::byte_len(dtype, shape).ok_or_else(|| Error::BadShape {
        shape: shape.iter().map(|&d| d as i64).collect(),
        reason: "element count overflows",
    })?;
    if expected != data.len() {
        return Err(Error::ShapeMismatch {
            context: "data bytes vs shape × itemsize",
            expected,
            actual: data.len(),
        });
    }
    Ok((Bytes::from(encode_header(dtype, shape)?), data))
}

/// Parsed header: dtype, shape and header length.
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
    data_len: usize,
}

fn parse_header(buf: &[u8], limits: &Limits) -> Result<Option<Header>> {
    if buf.len() < FIXED_HEADER_LEN {
        return Ok(None);
    }
    if buf[0..4] != MAGIC {
        return Err(Error::BadFrame("bad magic".into()));
    }
    if buf[4] != VERSION {
        return Err(Error::BadFrame(format!("unsupported version {}", buf[4])));
    }
    let dtype = Dtype::from_code(buf[5])?;
    let rank = usize::from(buf[6]);
    if buf[7] != 0 {
        return Err(Error::BadFrame(format!("reserved flags {:#04x}", buf[7])));
    }
    limits.check_rank(rank)?;
    let len = header_len(rank);
    if buf.len() < len {
        return Ok(None);
    }
    let mut shape = Vec::with_capacity(rank);
    for c in buf[FIXED_HEADER_LEN..len].chunks_exact(8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let d = usize::try_from(u64::from_le_bytes(a)).map_err(|_| Error::TooLarge {
            what: "dimension",
            limit: limits.max_elements,
            actual: usize::MAX,
        })?;
        shape.push(d);
    }
    let data_len = limits.check(dtype, &shape)?;
    Ok(Some(Header {
        dtype,
        shape,
        len,
        data_len,
    }))
}

/// Total length of the frame starting at `prefix`, once enough of the header is there:
/// `Ok(None)` means "need more bytes". Checks the header against `limits`, so a stream
/// reader can refuse an oversized frame before buffering it.
pub fn frame_len(prefix: &[u8], limits: &Limits) -> Result<Option<usize>> {
    Ok(parse_header(prefix, limits)?.map(|h| h.len + h.data_len))
}

/// Decodes one frame; `data` is a slice of `buf` (no copy).
pub fn decode(buf: Bytes, limits: &Limits) -> Result<WireTensor> {
    let h = parse_header(&buf, limits)?
        .ok_or_else(|| Error::BadFrame(format!("truncated header ({} bytes)", buf.len())))?;
    let total = h.len + h.data_len;
    if buf.len() != total {
        return Err(Error::ShapeMismatch {
            context: "frame bytes vs header + shape × itemsize",
            expected: total,
            actual: buf.len(),
        });
    }
    // Advancing the owned buffer instead of slicing it keeps a `Bytes` made from a `Vec`
    // in its unshared form: slicing would allocate a shared header (one malloc per call,
    // a large share of the cost of a small tensor).
    let mut data = buf;
    data.advance(h.len);
    Ok(WireTensor {
        dtype: h.dtype,
        shape: h.shape,
        data,
    })
}

/// Decodes a frame that arrives in two buffers, `header` (exactly the frame header) and
/// `data` (exactly the element bytes): `header ‖ data` must be one valid frame. Nothing is
/// copied; the tensor's data is `data` itself.
pub fn decode_parts(header: &[u8], data: Bytes, limits: &Limits) -> Result<WireTensor> {
    let h = parse_header(header, limits)?
        .ok_or_else(|| Error::BadFrame(format!("truncated header ({} bytes)", header.len())))?;
    if header.len() != h.len {
        return Err(Error::BadFrame(format!(
            "header of {} bytes for rank {} (expected {})",
            header.len(),
            h.shape.len(),
            h.len
        )));
    }
    if data.len() != h.data_len {
        return Err(Error::ShapeMismatch {
            context: "frame data bytes vs shape × itemsize",
            expected: h.data_len,
            actual: data.len(),
        });
    }
    Ok(WireTensor {
        dtype: h.dtype,
        shape: h.shape,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn documented_example() -> Result<()> {
        let t = Tensor::new(&[0.0f32, 0.5, 1.0, 1.5], &Device::Cpu)?;
        let f = encode(&t)?;
        let expected: Vec<u8> = [
            &b"NTSR"[..],
            &[1, 3, 1, 0],
            &4u64.to_le_bytes(),
            &[
                0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0xc0, 0x3f,
            ],
        ]
        .concat();
        assert_eq!(&f[..], &expected[..]);
        assert_eq!(frame_len(&f[..9], &Limits::DEFAULT)?, None);
        assert_eq!(frame_len(&f[..16], &Limits::DEFAULT)?, Some(32));
        let w = decode(f.clone(), &Limits::DEFAULT)?;
        // zero copy: the payload points into the frame
        assert_eq!(w.data.as_ptr(), f[16..].as_ptr());
        assert_eq!(w.to_candle()?.to_vec1::<f32>()?, vec![0.0, 0.5, 1.0, 1.5]);
        let (h, d) = encode_parts(w.dtype, &w.shape, w.data.clone())?;
        assert_eq!([&h[..], &d[..]].concat(), &f[..]);
        // split form: the data buffer is used as is
        let p = decode_parts(&h, d.clone(), &Limits::DEFAULT)?;
        assert_eq!(p.data.as_ptr(), d.as_ptr());
        assert_eq!(p, w);
        Ok(())
    }

    #[test]
    fn split_frames_are_as_strict_as_whole_ones() -> Result<()> {
        let l = Limits::DEFAULT;
        let (h, d) = encode_parts(Dtype::F32, &[2, 2], Bytes::from(vec![0u8; 16]))?;
        assert!(decode_parts(&h, d.clone(), &l).is_ok());
        // data too short or too long
        assert!(decode_parts(&h, d.slice(..15), &l).is_err());
        assert!(decode_parts(&h, Bytes::from(vec![0u8; 17]), &l).is_err());
        // header with trailing bytes, truncated header, bad magic
        let mut long = h.to_vec();
        long.push(0);
        assert!(decode_parts(&long, d.clone(), &l).is_err());
        assert!(decode_parts(&h[..h.len() - 1], d.clone(), &l).is_err());
        let mut bad = h.to_vec();
        bad[0] = b'X';
        assert!(decode_parts(&bad, d.clone(), &l).is_err());
        // limits are checked from the header alone
        assert!(matches!(
            decode_parts(&h, d, &l.with_max_bytes(15)),
            Err(Error::TooLarge { .. })
        ));
        Ok(())
    }

    #[test]
    fn refuses_bad_frames() {
        let l = Limits::DEFAULT;
        let good = encode_wire(&WireTensor::zeros(Dtype::I64, &[2, 2])).unwrap_or_default();
        assert!(decode(good.clone(), &l).is_ok());
        for (i, v) in [(0usize, b'X'), (4, 2), (5, 0), (5, 12), (7, 1)] {
            let mut b = good.to_vec();
            b[i] = v;
            assert!(decode(Bytes::from(b), &l).is_err(), "byte {i} = {v}");
        }
        let mut long = good.to_vec();
        long.push(0);
        assert!(decode(Bytes::from(long), &l).is_err());
        assert!(decode(good.slice(..good.len() - 1), &l).is_err());
        assert!(decode(good.slice(..3), &l).is_err());
        assert!(matches!(
            decode(good.clone(), &l.with_max_bytes(31)),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            decode(good, &l.with_max_rank(1)),
            Err(Error::TooLarge { .. })
        ));
        // absurd dims are refused from the header alone
        let mut huge = encode_header(Dtype::F32, &[1 << 40, 1 << 40]).unwrap_or_default();
        huge.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode(Bytes::from(huge), &l),
            Err(Error::TooLarge { .. })
        ));
    }
}
