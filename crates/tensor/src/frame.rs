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
//! # Copies and allocations
//!
//! [`encode`] copies candle's contiguous CPU storage once into the frame; [`encode_parts`]
//! copies nothing (header and data as two `Bytes` for vectored writes); [`decode`] slices
//! the input `Bytes` (no copy of the payload); [`WireTensor::to_candle`] copies once into
//! candle's storage.
//!
//! For small tensors the allocations cost more than the copy. [`encode_into`] appends a
//! frame to a caller's buffer (`Vec<u8>` or `BytesMut`, see [`FrameBuf`]) and allocates
//! nothing when the buffer has room, and [`decode_view`] borrows the frame: a [`FrameView`]
//! holds the dtype, the dims as they lie in the header ([`Dims`]) and the data as a slice,
//! with no allocation at all. [`decode_view`] checks exactly what [`decode`] checks (both run
//! the same header parser) and fails with the same errors.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use neuron_tensor::{Dtype, Limits, frame};
//!
//! # fn main() -> neuron_tensor::Result<()> {
//! let t = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
//! let mut buf = Vec::with_capacity(64);
//! for _ in 0..3 {
//!     buf.clear(); // the buffer is reused: no allocation after the first call
//!     frame::encode_into(&t, &mut buf)?;
//!     let view = frame::decode_view(&buf, &Limits::DEFAULT)?;
//!     assert_eq!(view.dtype(), Dtype::F32);
//!     assert_eq!(view.shape(), [2, 2]);
//!     assert_eq!(view.data().len(), 16);
//! }
//! # Ok(())
//! # }
//! ```

use crate::{Dtype, Error, Limits, Result, WireTensor, wire};
use bytes::{Buf, Bytes, BytesMut};
use candle_core::{Device, Tensor};

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

/// A growable buffer that frames are appended to: `Vec<u8>` or [`bytes::BytesMut`].
///
/// The encoders only append: whatever `out` held before is kept, and on error `out` is
/// truncated back to its previous length (its capacity may have grown). A `BytesMut` lets a
/// caller hand each frame off as `Bytes` (`split().freeze()`) and keep the rest of the
/// allocation for the next one.
///
/// The trait is sealed: only growable buffers implement it, so appending never fails for
/// lack of room.
pub trait FrameBuf: sealed::Sink {}

impl FrameBuf for Vec<u8> {}
impl FrameBuf for BytesMut {}

pub(crate) mod sealed {
    use bytes::BytesMut;

    /// What the encoders need from a [`super::FrameBuf`].
    pub trait Sink {
        /// Bytes already in the buffer.
        fn filled_len(&self) -> usize;
        /// Makes room for `additional` more bytes; `false` if that is impossible.
        fn try_reserve_more(&mut self, additional: usize) -> bool;
        /// Appends `bytes`.
        fn append(&mut self, bytes: &[u8]);
        /// Drops everything after the first `len` bytes.
        fn truncate_to(&mut self, len: usize);
        /// The bytes in the buffer.
        #[cfg(target_endian = "big")]
        fn filled_mut(&mut self) -> &mut [u8];
    }

    impl Sink for Vec<u8> {
        #[inline]
        fn filled_len(&self) -> usize {
            self.len()
        }
        #[inline]
        fn try_reserve_more(&mut self, additional: usize) -> bool {
            self.try_reserve(additional).is_ok()
        }
        #[inline]
        fn append(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
        fn truncate_to(&mut self, len: usize) {
            self.truncate(len);
        }
        #[cfg(target_endian = "big")]
        fn filled_mut(&mut self) -> &mut [u8] {
            self
        }
    }

    impl Sink for BytesMut {
        #[inline]
        fn filled_len(&self) -> usize {
            self.len()
        }
        #[inline]
        fn try_reserve_more(&mut self, additional: usize) -> bool {
            // `BytesMut::reserve` panics past `isize::MAX` bytes (as `Vec` would); refuse
            // that here instead.
            match self.len().checked_add(additional) {
                Some(total) if isize::try_from(total).is_ok() => {
                    self.reserve(additional);
                    true
                }
                _ => false,
            }
        }
        #[inline]
        fn append(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
        fn truncate_to(&mut self, len: usize) {
            self.truncate(len);
        }
        #[cfg(target_endian = "big")]
        fn filled_mut(&mut self) -> &mut [u8] {
            self
        }
    }
}

/// The rank byte of a shape, refused above [`MAX_RANK`].
fn rank_byte(shape: &[usize]) -> Result<u8> {
    u8::try_from(shape.len()).map_err(|_| Error::TooLarge {
        what: "frame rank",
        limit: MAX_RANK,
        actual: shape.len(),
    })
}

/// Header plus data length of a frame, refused when it does not fit in memory.
fn frame_size(dtype: Dtype, shape: &[usize]) -> Result<usize> {
    wire::byte_len(dtype, shape)
        .and_then(|n| n.checked_add(header_len(shape.len())))
        .filter(|&n| isize::try_from(n).is_ok())
        .ok_or_else(|| Error::BadShape {
            shape: shape.iter().map(|&d| d as i64).collect(),
            reason: "frame size overflows",
        })
}

/// Makes room for `additional` bytes in `out`.
#[inline]
fn reserve<B: FrameBuf>(out: &mut B, additional: usize) -> Result<()> {
    if out.try_reserve_more(additional) {
        Ok(())
    } else {
        Err(Error::TooLarge {
            what: "frame buffer",
            limit: isize::MAX as usize,
            actual: out.filled_len().saturating_add(additional),
        })
    }
}

/// Writes the header for `dtype`/`shape`.
pub fn encode_header(dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_header_into(dtype, shape, &mut out)?;
    Ok(out)
}

/// Appends the header for `dtype`/`shape` to `out` (no allocation when `out` has room for
/// [`header_len`]`(shape.len())` more bytes). On error `out` is unchanged.
pub fn encode_header_into<B: FrameBuf>(dtype: Dtype, shape: &[usize], out: &mut B) -> Result<()> {
    let rank = rank_byte(shape)?;
    reserve(out, header_len(shape.len()))?;
    write_header(out, dtype, rank, shape);
    Ok(())
}

/// Writes the header; the caller has checked the rank (and may have reserved room).
#[inline]
fn write_header<B: FrameBuf>(out: &mut B, dtype: Dtype, rank: u8, shape: &[usize]) {
    out.append(&[
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        VERSION,
        dtype.code(),
        rank,
        0,
    ]);
    for &d in shape {
        out.append(&(d as u64).to_le_bytes());
    }
}

/// Encodes a candle tensor as one frame, copying the element bytes once (straight from the
/// storage slice for contiguous CPU tensors).
pub fn encode(tensor: &Tensor) -> Result<Bytes> {
    let mut out = Vec::new();
    encode_into(tensor, &mut out)?;
    Ok(Bytes::from(out))
}

/// Appends one frame of a candle tensor to `out`, copying the element bytes once (straight
/// from the storage slice for contiguous CPU tensors).
///
/// What was in `out` is kept. Nothing is allocated when `out` has room for the frame
/// ([`header_len`] + element bytes), so a buffer cleared and reused between calls costs one
/// allocation in all. On error `out` is truncated back to its previous length. The bytes
/// are the same as [`encode`]'s.
pub fn encode_into<B: FrameBuf>(tensor: &Tensor, out: &mut B) -> Result<()> {
    let dtype = Dtype::from_candle(tensor.dtype())?;
    let shape = tensor.dims();
    let rank = rank_byte(shape)?;
    // Fast path, the common case: a contiguous CPU tensor on a little-endian host, whose
    // storage bytes are the frame's data (their length is numel × itemsize by
    // construction). One reservation, the header, one copy.
    #[cfg(target_endian = "little")]
    if let Some(done) = wire::with_storage_bytes(tensor, |data| {
        reserve(out, header_len(shape.len()).saturating_add(data.len()))?;
        write_header(out, dtype, rank, shape);
        out.append(data);
        Ok(())
    }) {
        return done;
    }
    let size = frame_size(dtype, shape)?;
    reserve(out, size)?;
    let start = out.filled_len();
    write_header(out, dtype, rank, shape);
    if let Err(e) = wire::append_candle_bytes(tensor, out) {
        out.truncate_to(start);
        return Err(e);
    }
    Ok(())
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
    let mut out = Vec::new();
    encode_wire_into(t, &mut out)?;
    Ok(Bytes::from(out))
}

/// Appends one frame of a wire tensor to `out` (one copy of the data; no allocation when
/// `out` has room). On error `out` is unchanged.
pub fn encode_wire_into<B: FrameBuf>(t: &WireTensor, out: &mut B) -> Result<()> {
    t.validate()?;
    let rank = rank_byte(&t.shape)?;
    reserve(out, frame_size(t.dtype, &t.shape)?)?;
    write_header(out, t.dtype, rank, &t.shape);
    out.append(&t.data);
    Ok(())
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

/// The dimensions of a [`FrameView`], read in place from the frame header (outermost
/// first). Every dimension was checked against the [`Limits`] when the frame was decoded.
///
/// Compares equal to a `[usize]` slice, array or `Vec` with the same dimensions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims<'a> {
    /// `8 × rank` bytes: the header's dims, little-endian u64 each, each fitting `usize`.
    raw: &'a [u8],
}

/// One little-endian u64 dimension as `usize` (the header parser checked that it fits).
#[inline]
fn read_dim(bytes: &[u8]) -> usize {
    bytes.first_chunk::<8>().map_or(usize::MAX, |b| {
        usize::try_from(u64::from_le_bytes(*b)).unwrap_or(usize::MAX)
    })
}

impl<'a> Dims<'a> {
    /// The rank (0 for a scalar).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len() / 8
    }

    /// Whether this is the shape of a 0-d scalar.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Dimension `i`, outermost first.
    pub fn get(&self, i: usize) -> Option<usize> {
        let at = i.checked_mul(8)?;
        self.raw.get(at..).filter(|r| r.len() >= 8).map(read_dim)
    }

    /// The dimensions, outermost first.
    #[inline]
    pub fn iter(&self) -> DimsIter<'a> {
        DimsIter {
            chunks: self.raw.chunks_exact(8),
        }
    }

    /// The dimensions as an owned shape.
    pub fn to_vec(&self) -> Vec<usize> {
        let mut shape = Vec::with_capacity(self.len());
        for c in self.raw.chunks_exact(8) {
            shape.push(read_dim(c));
        }
        shape
    }
}

impl std::fmt::Debug for Dims<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Dims<'a> {
    type Item = usize;
    type IntoIter = DimsIter<'a>;
    fn into_iter(self) -> DimsIter<'a> {
        self.iter()
    }
}

impl PartialEq<[usize]> for Dims<'_> {
    fn eq(&self, other: &[usize]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, &b)| a == b)
    }
}

impl PartialEq<&[usize]> for Dims<'_> {
    fn eq(&self, other: &&[usize]) -> bool {
        *self == **other
    }
}

impl<const N: usize> PartialEq<[usize; N]> for Dims<'_> {
    fn eq(&self, other: &[usize; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Vec<usize>> for Dims<'_> {
    fn eq(&self, other: &Vec<usize>) -> bool {
        *self == other[..]
    }
}

/// Iterator over the dimensions of a [`Dims`].
#[derive(Clone, Debug)]
pub struct DimsIter<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for DimsIter<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        self.chunks.next().map(read_dim)
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl DoubleEndedIterator for DimsIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<usize> {
        self.chunks.next_back().map(read_dim)
    }
}

impl ExactSizeIterator for DimsIter<'_> {}
impl std::iter::FusedIterator for DimsIter<'_> {}

/// A decoded frame borrowed from its buffer (see [`decode_view`]): nothing copied, nothing
/// allocated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameView<'a> {
    dtype: Dtype,
    dims: Dims<'a>,
    data: &'a [u8],
}

impl<'a> FrameView<'a> {
    /// Element type.
    #[inline]
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Dimensions, outermost first; empty for a 0-d scalar.
    #[inline]
    pub fn shape(&self) -> Dims<'a> {
        self.dims
    }

    /// Number of dimensions.
    #[inline]
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements.
    #[inline]
    pub fn numel(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Little-endian element bytes, C order, exactly `numel * dtype.size()` long; a slice
    /// of the decoded buffer.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Length of the frame header (where the data starts in the frame).
    #[inline]
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN + self.dims.raw.len()
    }

    /// Length of the whole frame.
    #[inline]
    pub fn frame_len(&self) -> usize {
        self.header_len() + self.data.len()
    }

    /// An owned [`WireTensor`] (copies the data once; [`decode`] avoids the copy when the
    /// frame is already in a `Bytes`).
    pub fn to_wire(&self) -> WireTensor {
        WireTensor {
            dtype: self.dtype,
            shape: self.dims.to_vec(),
            data: Bytes::copy_from_slice(self.data),
        }
    }

    /// Builds a CPU candle tensor ([`FrameView::to_candle_on`] with `Device::Cpu`).
    pub fn to_candle(&self) -> Result<Tensor> {
        self.to_candle_on(&Device::Cpu)
    }

    /// Builds a candle tensor on `device` with one copy of the element bytes, as
    /// [`WireTensor::to_candle_on`] does (`int8` widened to `I16`, `bool` in `U8`).
    pub fn to_candle_on(&self, device: &Device) -> Result<Tensor> {
        wire::candle_from_le(self.dtype, &self.dims.to_vec(), self.data, device)
    }
}

impl std::fmt::Debug for FrameView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameView")
            .field("dtype", &self.dtype)
            .field("shape", &self.dims)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// A malformed header, turned into an [`Error::BadFrame`] message by [`bad_frame`].
enum BadFrame {
    Magic,
    Version(u8),
    Flags(u8),
    Truncated(usize),
}

/// Builds the error of a malformed header. Kept out of line (and marked cold) so that the
/// message formatting does not weigh on the decoders' fast path.
#[cold]
#[inline(never)]
fn bad_frame(what: BadFrame) -> Error {
    Error::BadFrame(match what {
        BadFrame::Magic => "bad magic".into(),
        BadFrame::Version(v) => format!("unsupported version {v}"),
        BadFrame::Flags(f) => format!("reserved flags {f:#04x}"),
        BadFrame::Truncated(n) => format!("truncated header ({n} bytes)"),
    })
}

/// The bytes of the fixed header that must hold constants (magic, version, flags), as a
/// mask over the header read as a little-endian `u64`, and the constants themselves.
const FIXED_MASK: u64 = u64::from_le_bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0xFF]);
const FIXED_EXPECTED: u64 =
    u64::from_le_bytes([MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, 0, 0, 0]);

/// The error for a fixed header whose magic, version or flags are wrong.
#[cold]
#[inline(never)]
fn bad_fixed(fixed: &[u8; FIXED_HEADER_LEN]) -> Error {
    if fixed[0..4] != MAGIC {
        bad_frame(BadFrame::Magic)
    } else if fixed[4] != VERSION {
        bad_frame(BadFrame::Version(fixed[4]))
    } else {
        bad_frame(BadFrame::Flags(fixed[7]))
    }
}

/// Parsed header: dtype, dims (borrowed), header length and data length.
struct Header<'a> {
    dtype: Dtype,
    dims: Dims<'a>,
    len: usize,
    data_len: usize,
    /// `len + data_len`, known not to overflow.
    frame_len: usize,
}

/// The one header parser behind every decoder: `Ok(None)` means "need more bytes".
// Inlined into each decoder so that the parsed header stays in registers.
#[inline(always)]
fn parse_header<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<Header<'a>>> {
    let Some(fixed) = buf.first_chunk::<FIXED_HEADER_LEN>() else {
        return Ok(None);
    };
    // Magic, version and flags checked with one compare; the error says which was wrong.
    if u64::from_le_bytes(*fixed) & FIXED_MASK != FIXED_EXPECTED {
        return Err(bad_fixed(fixed));
    }
    let dtype = Dtype::from_code(fixed[5])?;
    let rank = usize::from(fixed[6]);
    limits.check_rank(rank)?;
    let len = header_len(rank);
    let Some(raw) = buf.get(FIXED_HEADER_LEN..len) else {
        return Ok(None);
    };
    // On hosts with a 32-bit usize a dimension may not fit.
    for c in raw.chunks_exact(8) {
        let fits = c
            .first_chunk::<8>()
            .is_some_and(|b| usize::try_from(u64::from_le_bytes(*b)).is_ok());
        if !fits {
            return Err(Error::TooLarge {
                what: "dimension",
                limit: limits.max_elements,
                actual: usize::MAX,
            });
        }
    }
    let dims = Dims { raw };
    let data_len = limits.check_dims_bytes(dtype, dims.iter())?;
    // Only reachable with limits near `usize::MAX`, where the byte count saturates.
    let frame_len = len.checked_add(data_len).ok_or_else(|| Error::TooLarge {
        what: "frame bytes",
        limit: usize::MAX,
        actual: usize::MAX,
    })?;
    Ok(Some(Header {
        dtype,
        dims,
        len,
        data_len,
        frame_len,
    }))
}

/// Total length of the frame starting at `prefix`, once enough of the header is there:
/// `Ok(None)` means "need more bytes". Checks the header against `limits`, so a stream
/// reader can refuse an oversized frame before buffering it.
pub fn frame_len(prefix: &[u8], limits: &Limits) -> Result<Option<usize>> {
    Ok(parse_header(prefix, limits)?.map(|h| h.frame_len))
}

/// Decodes one frame without copying or allocating: the view borrows `buf`.
///
/// `buf` must be exactly one frame (as for [`decode`]; use [`frame_len`] to find the end of
/// a frame in a stream). The checks, and the error for each malformed or oversized frame,
/// are those of [`decode`].
#[inline]
pub fn decode_view<'a>(buf: &'a [u8], limits: &Limits) -> Result<FrameView<'a>> {
    let h = parse_header(buf, limits)?.ok_or_else(|| bad_frame(BadFrame::Truncated(buf.len())))?;
    if buf.len() != h.frame_len {
        return Err(Error::ShapeMismatch {
            context: "frame bytes vs header + shape × itemsize",
            expected: h.frame_len,
            actual: buf.len(),
        });
    }
    let data = buf.get(h.len..).unwrap_or_default();
    Ok(FrameView {
        dtype: h.dtype,
        dims: h.dims,
        data,
    })
}

/// Decodes one frame; `data` is a slice of `buf` (no copy). The one allocation is the
/// shape `Vec`; [`decode_view`] has none.
pub fn decode(buf: Bytes, limits: &Limits) -> Result<WireTensor> {
    let view = decode_view(&buf, limits)?;
    let (dtype, shape, header_len) = (view.dtype, view.dims.to_vec(), view.header_len());
    // Advancing the owned buffer instead of slicing it keeps a `Bytes` made from a `Vec`
    // in its unshared form: slicing would allocate a shared header (one malloc per call,
    // a large share of the cost of a small tensor).
    let mut data = buf;
    data.advance(header_len);
    Ok(WireTensor { dtype, shape, data })
}

/// Decodes a frame that arrives in two buffers, `header` (exactly the frame header) and
/// `data` (exactly the element bytes): `header ‖ data` must be one valid frame. Nothing is
/// copied; the tensor's data is `data` itself.
pub fn decode_parts(header: &[u8], data: Bytes, limits: &Limits) -> Result<WireTensor> {
    let h = parse_header(header, limits)?
        .ok_or_else(|| bad_frame(BadFrame::Truncated(header.len())))?;
    if header.len() != h.len {
        return Err(Error::BadFrame(format!(
            "header of {} bytes for rank {} (expected {})",
            header.len(),
            h.dims.len(),
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
        shape: h.dims.to_vec(),
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
    fn each_wrong_fixed_byte_is_named_in_the_error() -> Result<()> {
        let good = encode_wire(&WireTensor {
            dtype: Dtype::U8,
            shape: vec![2],
            data: Bytes::from_static(&[1, 2]),
        })?;
        assert!(decode_view(&good, &Limits::DEFAULT).is_ok());
        // every byte of the magic, the version and the flags; the dtype (5) and rank (6)
        // bytes have their own checks
        for (i, want) in [
            (0, "bad magic"),
            (1, "bad magic"),
            (2, "bad magic"),
            (3, "bad magic"),
            (4, "unsupported version 2"),
            (7, "reserved flags 0x01"),
        ] {
            let mut bad = good.to_vec();
            bad[i] = bad[i].wrapping_add(1);
            let e = decode_view(&bad, &Limits::DEFAULT)
                .expect_err("a wrong fixed byte is refused")
                .to_string();
            assert!(e.contains(want), "byte {i}: {e}");
            assert_eq!(
                decode(Bytes::from(bad), &Limits::DEFAULT)
                    .expect_err("decode refuses it too")
                    .to_string(),
                e
            );
        }
        Ok(())
    }

    /// `decode` and `decode_view` agree: the same tensor, or the same error.
    fn decode_both(buf: &[u8], l: &Limits) -> Result<WireTensor> {
        let owned = decode(Bytes::copy_from_slice(buf), l);
        let view = decode_view(buf, l);
        match (&owned, &view) {
            (Ok(w), Ok(v)) => {
                assert_eq!(&v.to_wire(), w);
                assert_eq!(v.shape(), w.shape);
                assert_eq!(v.data().as_ptr(), buf[v.header_len()..].as_ptr());
            }
            (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            _ => panic!("decode {owned:?} but decode_view {view:?}"),
        }
        owned
    }

    #[test]
    fn views_refuse_what_decode_refuses_with_the_same_errors() {
        let l = Limits::DEFAULT;
        let good = encode_wire(&WireTensor::zeros(Dtype::I64, &[2, 2])).unwrap_or_default();
        assert!(decode_both(&good, &l).is_ok());
        for (i, v) in [
            (0usize, b'X'),
            (4, 2),
            (5, 0),
            (5, 12),
            (7, 1),
            (6, 3),
            (6, 1),
        ] {
            let mut b = good.to_vec();
            b[i] = v;
            assert!(decode_both(&b, &l).is_err(), "byte {i} = {v}");
        }
        let mut long = good.to_vec();
        long.push(0);
        assert!(matches!(
            decode_both(&long, &l),
            Err(Error::ShapeMismatch {
                expected: 56,
                actual: 57,
                ..
            })
        ));
        for n in [0, 3, 7, 8, 15, 23, good.len() - 1] {
            assert!(decode_both(&good[..n], &l).is_err(), "{n} bytes");
        }
        assert!(matches!(
            decode_both(&good, &l.with_max_bytes(31)),
            Err(Error::TooLarge { what: "bytes", .. })
        ));
        assert!(matches!(
            decode_both(&good, &l.with_max_rank(1)),
            Err(Error::TooLarge { what: "rank", .. })
        ));
        assert!(matches!(
            decode_both(&good, &l.with_max_elements(3)),
            Err(Error::TooLarge {
                what: "elements",
                ..
            })
        ));
        assert!(matches!(
            decode_both(&good, &l.with_max_elements(1)),
            Err(Error::TooLarge {
                what: "dimension",
                ..
            })
        ));
        let mut huge = encode_header(Dtype::F32, &[1 << 40, 1 << 40]).unwrap_or_default();
        huge.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode_both(&huge, &l),
            Err(Error::TooLarge { .. })
        ));
        // without limits the byte count overflows: refused, not wrapped
        let mut over = encode_header(Dtype::F64, &[1 << 62, 4]).unwrap_or_default();
        over.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decode_both(&over, &Limits::UNLIMITED),
            Err(Error::TooLarge { .. })
        ));
        assert!(frame_len(&over, &Limits::UNLIMITED).is_err());
        // a zero dimension with a huge other one is still refused
        let mut zero = encode_header(Dtype::U8, &[0, 1 << 40]).unwrap_or_default();
        assert!(matches!(
            decode_both(&zero, &l),
            Err(Error::TooLarge {
                what: "dimension",
                ..
            })
        ));
        zero = encode_header(Dtype::U8, &[0, 7]).unwrap_or_default();
        let empty = decode_view(&zero, &l);
        assert!(
            matches!(empty, Ok(v) if v.numel() == 0 && v.data().is_empty() && v.shape() == [0, 7])
        );
    }

    #[test]
    fn encode_into_appends_without_reallocating() -> Result<()> {
        let t = Tensor::arange(0f32, 256f32, &Device::Cpu)?;
        let whole = encode(&t)?;
        assert_eq!(whole.len(), 16 + 1024);
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"prefix");
        let (ptr, cap) = (buf.as_ptr(), buf.capacity());
        encode_into(&t, &mut buf)?;
        encode_into(&t.narrow(0, 4, 2)?, &mut buf)?;
        assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, cap));
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(&buf[6..6 + whole.len()], &whole[..]);
        // the frames can be split again with `frame_len`
        let rest = &buf[6 + whole.len()..];
        assert_eq!(frame_len(rest, &Limits::DEFAULT)?, Some(rest.len()));
        let v = decode_view(rest, &Limits::DEFAULT)?;
        assert_eq!(v.shape(), [2]);
        assert_eq!(v.data(), bytemuck::cast_slice::<f32, u8>(&[4.0, 5.0]));
        // reused buffer: cleared, filled again, never reallocated
        for _ in 0..3 {
            buf.clear();
            encode_into(&t, &mut buf)?;
            assert_eq!(&buf[..], &whole[..]);
            assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, cap));
        }
        // a buffer that is too small grows once, to exactly the frame
        let mut small = Vec::new();
        encode_into(&t, &mut small)?;
        assert_eq!(small.capacity(), whole.len());
        Ok(())
    }

    #[test]
    fn encode_into_a_bytes_mut_hands_frames_off() -> Result<()> {
        let t = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]], &Device::Cpu)?;
        let whole = encode(&t)?;
        let mut buf = BytesMut::with_capacity(4 * whole.len());
        let start = buf.as_ptr();
        let mut sent = Vec::new();
        for _ in 0..4 {
            encode_into(&t, &mut buf)?;
            sent.push(buf.split().freeze());
        }
        // all four frames were carved out of the first allocation
        for (i, f) in sent.iter().enumerate() {
            assert_eq!(&f[..], &whole[..]);
            assert_eq!(f.as_ptr(), start.wrapping_add(i * whole.len()));
            assert_eq!(
                decode(f.clone(), &Limits::DEFAULT)?.data.as_ptr(),
                f[24..].as_ptr()
            );
        }
        let mut header = BytesMut::new();
        encode_header_into(Dtype::I64, &[2, 3], &mut header)?;
        encode_wire_into(&decode(whole.clone(), &Limits::DEFAULT)?, &mut header)?;
        assert_eq!(&header[..24], &whole[..24]);
        assert_eq!(&header[24..], &whole[..]);
        Ok(())
    }

    #[test]
    fn encode_into_leaves_the_buffer_alone_on_error() -> Result<()> {
        let mut buf = b"kept".to_vec();
        let rank_256 = Tensor::zeros(vec![1usize; 256], candle_core::DType::F32, &Device::Cpu)?;
        assert!(matches!(
            encode_into(&rank_256, &mut buf),
            Err(Error::TooLarge {
                what: "frame rank",
                ..
            })
        ));
        assert!(encode_header_into(Dtype::U8, &[1; 256], &mut buf).is_err());
        let wrong = WireTensor {
            dtype: Dtype::F32,
            shape: vec![2],
            data: Bytes::from_static(&[0; 7]),
        };
        assert!(encode_wire_into(&wrong, &mut buf).is_err());
        assert_eq!(buf, b"kept");
        Ok(())
    }

    #[test]
    fn dims_read_the_header_in_place() -> Result<()> {
        let f = encode_wire(&WireTensor::zeros(Dtype::U8, &[3, 0, 5]))?;
        let v = decode_view(&f, &Limits::DEFAULT)?;
        let d = v.shape();
        assert_eq!(
            (d.len(), d.is_empty(), v.rank(), v.numel()),
            (3, false, 3, 0)
        );
        assert_eq!(
            (d.get(0), d.get(2), d.get(3), d.get(usize::MAX)),
            (Some(3), Some(5), None, None)
        );
        assert_eq!(d.iter().rev().collect::<Vec<_>>(), [5, 0, 3]);
        assert_eq!(d.iter().len(), 3);
        assert_eq!(d.to_vec(), vec![3, 0, 5]);
        assert_eq!(d, vec![3, 0, 5]);
        assert_ne!(d, [3, 0]);
        assert_ne!(d, [3, 0, 4]);
        assert_eq!(format!("{d:?}"), "[3, 0, 5]");
        assert_eq!(
            format!("{v:?}"),
            "FrameView { dtype: U8, shape: [3, 0, 5], data_len: 0 }"
        );
        assert_eq!((v.header_len(), v.frame_len()), (32, 32));
        let s = encode_wire(&WireTensor::new(
            Dtype::F64,
            vec![],
            2.5f64.to_le_bytes().to_vec(),
        )?)?;
        let v = decode_view(&s, &Limits::DEFAULT)?;
        assert!(v.shape().is_empty());
        assert_eq!(v.numel(), 1);
        assert_eq!(v.to_candle()?.to_scalar::<f64>()?, 2.5);
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
