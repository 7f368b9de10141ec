//! msgpack-numpy arrays: the payload of `bt.Tensor.buffer` and of the legacy `Tensor.buffer`.
//!
//! # Encoding
//!
//! [`encode_ndarray`] writes exactly what `msgpack.packb(ndarray, default=msgpack_numpy.encode)`
//! (msgpack ≥ 1.0, `use_bin_type=True`) writes for a C-contiguous numeric array:
//!
//! | key (msgpack **bin**) | value |
//! |---|---|
//! | `nd` | `true` (`c3`) |
//! | `type` | **str**: numpy `dtype.str`, e.g. `<f4` (see [`Dtype::numpy_str`]) |
//! | `kind` | empty **bin** (`c4 00`) |
//! | `shape` | array of unsigned ints, smallest encoding each |
//! | `data` | **bin** with the smallest header (`c4` ≤ 255 B, `c5` ≤ 64 KiB, `c6` otherwise), raw little-endian C-order bytes |
//!
//! as a 5-entry fixmap (`85`), keys in that order. Since `data` comes last, the encoding
//! is [`encode_ndarray_header`] followed by the element bytes, which lets callers avoid
//! copying the payload.
//!
//! # Decoding
//!
//! [`decode_ndarray`] is strict where upstream is permissive and dangerous:
//!
//! * the top level must be a map whose keys are all **bin** (str keys are not recognised by
//!   msgpack-numpy either); unknown and duplicate keys are refused;
//! * `kind` must be an empty bin (or absent, as written by msgpack-numpy before 0.4.4);
//!   `kind` = `O` is [`Error::ObjectArray`] (upstream would `pickle.loads` the data),
//!   anything else [`Error::UnsupportedKind`];
//! * `type` must be a str naming a numeric little-endian dtype ([`Dtype::from_numpy_str`]);
//! * `shape` must be an array of non-negative ints within [`Limits`];
//! * `data` must be a bin of exactly `product(shape) × itemsize` bytes;
//! * nothing may follow the map.
//!
//! `nd` must be `true` for arrays. The one exception is msgpack-numpy's encoding of a numpy
//! *scalar* (`np.float32(1.5)`, e.g. the result of `x.sum()` handed to
//! `bt.Tensor.serialize`): `{nd: false, type, data}` with exactly one element, which upstream
//! decodes (`np.frombuffer(data, type)[0]`) and which is returned here as a 0-d array.

use crate::{Dtype, Error, Limits, Result, WireTensor};
use bytes::Bytes;

/// A decoded msgpack-numpy array.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ndarray {
    /// Element type from `type`.
    pub dtype: Dtype,
    /// Shape from `shape` (empty for 0-d).
    pub shape: Vec<usize>,
    /// The `data` bytes (a slice of the input for [`decode_ndarray_bytes`]).
    pub data: Bytes,
}

impl From<Ndarray> for WireTensor {
    fn from(a: Ndarray) -> Self {
        WireTensor {
            dtype: a.dtype,
            shape: a.shape,
            data: a.data,
        }
    }
}

impl From<WireTensor> for Ndarray {
    fn from(t: WireTensor) -> Self {
        Ndarray {
            dtype: t.dtype,
            shape: t.shape,
            data: t.data,
        }
    }
}

/// Writes the positive int `v` with msgpack's smallest encoding.
fn put_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v <= 0xff {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn put_bin_header(out: &mut Vec<u8>, len: usize) {
    if len <= 0xff {
        out.extend_from_slice(&[0xc4, len as u8]);
    } else if len <= 0xffff {
        out.push(0xc5);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        let len = u32::try_from(len)
            .unwrap_or_else(|_| panic!("msgpack bin is limited to 4 GiB, got {len} bytes"));
        out.push(0xc6);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn put_array_header(out: &mut Vec<u8>, len: usize) {
    if len <= 15 {
        out.push(0x90 | len as u8);
    } else if len <= 0xffff {
        out.push(0xdc);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    put_bin_header(out, b.len());
    out.extend_from_slice(b);
}

/// Length of [`encode_ndarray_header`]'s output.
pub fn header_len(shape: &[usize], data_len: usize) -> usize {
    let uint_len = |v: u64| match v {
        0..0x80 => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    };
    let arr = match shape.len() {
        0..=15 => 1,
        16..=0xffff => 3,
        _ => 5,
    };
    let bin = match data_len {
        0..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    };
    // 85 | c402 "nd" c3 | c404 "type" a3 xxx | c404 "kind" c400 | c405 "shape" | c404 "data"
    1 + 4
        + 1
        + 6
        + 4
        + 6
        + 2
        + 7
        + arr
        + shape.iter().map(|&d| uint_len(d as u64)).sum::<usize>()
        + 6
        + bin
}

/// Everything of the msgpack-numpy map up to and including the `data` bin header:
/// `encode_ndarray(d, s, data) == [encode_ndarray_header(d, s, data.len()), data].concat()`.
///
/// # Panics
/// If `data_len` exceeds msgpack's 4 GiB bin limit (msgpack-python raises too).
pub fn encode_ndarray_header(dtype: Dtype, shape: &[usize], data_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(shape, data_len));
    out.push(0x85);
    put_bin(&mut out, b"nd");
    out.push(0xc3);
    put_bin(&mut out, b"type");
    let ty = dtype.numpy_str().as_bytes();
    out.push(0xa0 | ty.len() as u8);
    out.extend_from_slice(ty);
    put_bin(&mut out, b"kind");
    put_bin(&mut out, b"");
    put_bin(&mut out, b"shape");
    put_array_header(&mut out, shape.len());
    for &d in shape {
        put_uint(&mut out, d as u64);
    }
    put_bin(&mut out, b"data");
    put_bin_header(&mut out, data_len);
    out
}

/// msgpack-numpy encoding of an array (byte-identical to Python's
/// `msgpack.packb(a, default=msgpack_numpy.encode)`).
///
/// `data` must hold `product(shape) × dtype.size()` little-endian bytes; this low-level
/// function does not check it (use [`encode_wire`] for a checked variant). `Dtype::BF16`
/// is written with type `<V2`, which no numpy peer can use: widen it first.
///
/// # Panics
/// If `data` exceeds msgpack's 4 GiB bin limit.
pub fn encode_ndarray(dtype: Dtype, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = encode_ndarray_header(dtype, shape, data.len());
    out.reserve_exact(data.len());
    out.extend_from_slice(data);
    out
}

/// Checked [`encode_ndarray`] of a [`WireTensor`]: validates the data length and refuses
/// bfloat16 and payloads over 4 GiB.
pub fn encode_wire(t: &WireTensor) -> Result<Vec<u8>> {
    t.validate()?;
    if t.dtype == Dtype::BF16 {
        return Err(Error::UnsupportedDtype(
            "bfloat16 has no numpy type for msgpack-numpy".into(),
        ));
    }
    if t.data.len() > u32::MAX as usize {
        return Err(Error::TooLarge {
            what: "msgpack bin",
            limit: u32::MAX as usize,
            actual: t.data.len(),
        });
    }
    Ok(encode_ndarray(t.dtype, &t.shape, &t.data))
}

/// Decodes a msgpack-numpy array (strict, see the module docs), copying the element bytes
/// once. Use [`decode_ndarray_bytes`] to slice a `Bytes` without copying.
pub fn decode_ndarray(buf: &[u8], limits: &Limits) -> Result<Ndarray> {
    let parsed = parse(buf, limits)?;
    Ok(Ndarray {
        dtype: parsed.dtype,
        shape: parsed.shape,
        data: Bytes::copy_from_slice(&buf[parsed.data]),
    })
}

/// [`decode_ndarray`] without copying: `data` is a slice of `buf`.
pub fn decode_ndarray_bytes(buf: &Bytes, limits: &Limits) -> Result<Ndarray> {
    let parsed = parse(buf, limits)?;
    Ok(Ndarray {
        dtype: parsed.dtype,
        shape: parsed.shape,
        data: buf.slice(parsed.data),
    })
}

struct Parsed {
    dtype: Dtype,
    shape: Vec<usize>,
    data: std::ops::Range<usize>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadMsgpack(msg.into())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad(format!("truncated at offset {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<std::ops::Range<usize>> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                bad(format!(
                    "truncated: {n} bytes needed at offset {}",
                    self.pos
                ))
            })?;
        let r = self.pos..end;
        self.pos = end;
        Ok(r)
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        let r = self.take(n)?;
        Ok(self.buf[r]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Length of a bin (`c4`/`c5`/`c6`), given its marker.
    fn bin_len(&mut self, marker: u8) -> Result<Option<usize>> {
        Ok(match marker {
            0xc4 => Some(self.be(1)? as usize),
            0xc5 => Some(self.be(2)? as usize),
            0xc6 => Some(self.be(4)? as usize),
            _ => None,
        })
    }

    fn str_len(&mut self, marker: u8) -> Result<Option<usize>> {
        Ok(match marker {
            0xa0..=0xbf => Some(usize::from(marker & 0x1f)),
            0xd9 => Some(self.be(1)? as usize),
            0xda => Some(self.be(2)? as usize),
            0xdb => Some(self.be(4)? as usize),
            _ => None,
        })
    }

    fn array_len(&mut self, marker: u8) -> Result<Option<usize>> {
        Ok(match marker {
            0x90..=0x9f => Some(usize::from(marker & 0x0f)),
            0xdc => Some(self.be(2)? as usize),
            0xdd => Some(self.be(4)? as usize),
            _ => None,
        })
    }

    fn map_len(&mut self, marker: u8) -> Result<Option<usize>> {
        Ok(match marker {
            0x80..=0x8f => Some(usize::from(marker & 0x0f)),
            0xde => Some(self.be(2)? as usize),
            0xdf => Some(self.be(4)? as usize),
            _ => None,
        })
    }

    fn bin(&mut self, what: &str) -> Result<std::ops::Range<usize>> {
        let m = self.byte()?;
        match self.bin_len(m)? {
            Some(n) => self.take(n),
            None => Err(bad(format!("{what}: expected bin, found marker {m:#04x}"))),
        }
    }

    /// A non-negative integer of any msgpack int encoding.
    fn uint(&mut self, what: &str) -> Result<u64> {
        let m = self.byte()?;
        let v: i128 = match m {
            0x00..=0x7f => i128::from(m),
            0xe0..=0xff => i128::from(m as i8),
            0xcc => i128::from(self.be(1)?),
            0xcd => i128::from(self.be(2)?),
            0xce => i128::from(self.be(4)?),
            0xcf => i128::from(self.be(8)?),
            0xd0 => i128::from(self.be(1)? as u8 as i8),
            0xd1 => i128::from(self.be(2)? as u16 as i16),
            0xd2 => i128::from(self.be(4)? as u32 as i32),
            0xd3 => i128::from(self.be(8)? as i64),
            _ => return Err(bad(format!("{what}: expected int, found marker {m:#04x}"))),
        };
        u64::try_from(v).map_err(|_| bad(format!("{what}: negative value {v}")))
    }

    /// Skips one value of any type (bounded nesting).
    fn skip(&mut self, depth: usize) -> Result<()> {
        if depth > 16 {
            return Err(bad("nesting too deep"));
        }
        let m = self.byte()?;
        if let Some(n) = self.bin_len(m)? {
            self.take(n)?;
            return Ok(());
        }
        if let Some(n) = self.str_len(m)? {
            self.take(n)?;
            return Ok(());
        }
        if let Some(n) = self.array_len(m)? {
            for _ in 0..n {
                self.skip(depth + 1)?;
            }
            return Ok(());
        }
        if let Some(n) = self.map_len(m)? {
            for _ in 0..n {
                self.skip(depth + 1)?;
                self.skip(depth + 1)?;
            }
            return Ok(());
        }
        let fixed = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 | 0xca => 4,
            0xcf | 0xd3 | 0xcb => 8,
            0xd4 => 2,
            0xd5 => 3,
            0xd6 => 5,
            0xd7 => 9,
            0xd8 => 17,
            0xc7 => 1 + self.be(1)? as usize,
            0xc8 => 1 + self.be(2)? as usize,
            0xc9 => 1 + self.be(4)? as usize,
            _ => return Err(bad(format!("invalid marker {m:#04x}"))),
        };
        self.take(fixed)?;
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Nd,
    Type,
    Kind,
    Shape,
    Data,
}

fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed> {
    let mut r = Reader { buf, pos: 0 };
    let m = r.byte()?;
    let entries = r
        .map_len(m)?
        .ok_or_else(|| bad(format!("expected a map, found marker {m:#04x}")))?;
    if !(3..=5).contains(&entries) {
        return Err(bad(format!(
            "expected a 5-entry msgpack-numpy map, found {entries} entries"
        )));
    }
    let mut seen: Vec<Key> = Vec::with_capacity(5);
    let mut nd: Option<bool> = None;
    let mut ty: Option<std::result::Result<std::ops::Range<usize>, u8>> = None;
    let mut kind: Option<std::ops::Range<usize>> = None;
    let mut shape: Option<Vec<usize>> = None;
    let mut data: Option<std::ops::Range<usize>> = None;
    for _ in 0..entries {
        let km = r.byte()?;
        let Some(klen) = r.bin_len(km)? else {
            return Err(bad(format!(
                "map keys must be bin (msgpack-numpy looks them up as bytes), found marker {km:#04x}"
            )));
        };
        let kr = r.take(klen)?;
        let key = match &buf[kr] {
            b"nd" => Key::Nd,
            b"type" => Key::Type,
            b"kind" => Key::Kind,
            b"shape" => Key::Shape,
            b"data" => Key::Data,
            other => {
                return Err(bad(format!(
                    "unexpected key {:?}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        if seen.contains(&key) {
            return Err(bad("duplicate key"));
        }
        seen.push(key);
        match key {
            Key::Nd => {
                nd = Some(match r.byte()? {
                    0xc3 => true,
                    0xc2 => false,
                    m => return Err(bad(format!("nd: expected bool, found marker {m:#04x}"))),
                });
            }
            Key::Type => {
                let start = r.pos;
                let m = r.byte()?;
                ty = Some(match r.str_len(m)? {
                    Some(n) => Ok(r.take(n)?),
                    None => {
                        // structured dtypes carry a list descr here; let `kind` explain
                        r.pos = start;
                        r.skip(0)?;
                        Err(m)
                    }
                });
            }
            Key::Kind => kind = Some(r.bin("kind")?),
            Key::Shape => {
                let m = r.byte()?;
                let n = r
                    .array_len(m)?
                    .ok_or_else(|| bad(format!("shape: expected array, found marker {m:#04x}")))?;
                limits.check_rank(n)?;
                let mut s = Vec::with_capacity(n);
                for _ in 0..n {
                    let d = r.uint("shape")?;
                    let d =
                        usize::try_from(d).map_err(|_| bad("shape: dimension overflows usize"))?;
                    s.push(d);
                }
                shape = Some(s);
            }
            Key::Data => data = Some(r.bin("data")?),
        }
    }
    if r.pos != buf.len() {
        return Err(bad(format!(
            "{} trailing bytes after the map",
            buf.len() - r.pos
        )));
    }
    if let Some(k) = &kind
        && !buf[k.clone()].is_empty()
    {
        let k = &buf[k.clone()];
        return Err(if k == b"O" {
            Error::ObjectArray
        } else {
            Error::UnsupportedKind(String::from_utf8_lossy(k).into_owned())
        });
    }
    let nd = nd.ok_or_else(|| bad("missing key nd"))?;
    let ty = match ty.ok_or_else(|| bad("missing key type"))? {
        Ok(range) => std::str::from_utf8(&buf[range]).map_err(|_| bad("type: invalid UTF-8"))?,
        Err(m) => return Err(bad(format!("type: expected str, found marker {m:#04x}"))),
    };
    if ty.contains('O') {
        return Err(Error::ObjectArray);
    }
    let dtype = Dtype::from_numpy_str(ty)?;
    let data = data.ok_or_else(|| bad("missing key data"))?;
    let shape = if nd {
        if entries < 4 {
            return Err(bad("array map needs nd, type, shape, data"));
        }
        shape.ok_or_else(|| bad("missing key shape"))?
    } else {
        // numpy scalar: {nd: false, type, data}
        if entries != 3 || shape.is_some() {
            return Err(bad(
                "nd is false but the map is not a numpy scalar {nd, type, data}",
            ));
        }
        Vec::new()
    };
    let expected = limits.check(dtype, &shape)?;
    if data.len() != expected {
        return Err(Error::ShapeMismatch {
            context: "msgpack data bytes vs shape × itemsize",
            expected,
            actual: data.len(),
        });
    }
    Ok(Parsed { dtype, shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn header_len_matches() {
        for shape in [
            vec![],
            vec![4],
            vec![200, 70000, 5_000_000_000],
            vec![1; 16],
            vec![1; 70000],
        ] {
            for len in [0usize, 255, 256, 65535, 65536, 1 << 20] {
                assert_eq!(
                    header_len(&shape, len),
                    encode_ndarray_header(Dtype::F32, &shape, len).len()
                );
            }
        }
    }

    #[test]
    fn refuses_object_arrays_and_str_keys() {
        // {b'nd': True, b'type': '|O', b'kind': b'O', b'shape': [1], b'data': b'...'}
        let mut m = vec![0x85];
        put_bin(&mut m, b"nd");
        m.push(0xc3);
        put_bin(&mut m, b"type");
        m.extend_from_slice(&[0xa2, b'|', b'O']);
        put_bin(&mut m, b"kind");
        put_bin(&mut m, b"O");
        put_bin(&mut m, b"shape");
        m.extend_from_slice(&[0x91, 0x01]);
        put_bin(&mut m, b"data");
        put_bin(&mut m, b"\x80\x04N.");
        assert!(matches!(
            decode_ndarray(&m, &Limits::DEFAULT),
            Err(Error::ObjectArray)
        ));

        let good = hex(
            "85c4026e64c3c40474797065a33c6634c4046b696e64c400c40573686170659102c40464617461c4080000003f0000803f",
        );
        assert!(decode_ndarray(&good, &Limits::DEFAULT).is_ok());
        let mut strkeys = good.clone();
        strkeys[1] = 0xa2; // c4 02 "nd" -> a2 "nd" + stray byte
        assert!(decode_ndarray(&strkeys, &Limits::DEFAULT).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            decode_ndarray(&trailing, &Limits::DEFAULT),
            Err(Error::BadMsgpack(_))
        ));
        assert!(decode_ndarray(&good[..good.len() - 1], &Limits::DEFAULT).is_err());
        let tight = Limits::DEFAULT.with_max_bytes(7);
        assert!(matches!(
            decode_ndarray(&good, &tight),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn numpy_scalar_form() -> Result<()> {
        // msgpack.packb(np.float32(1.5), default=msgpack_numpy.encode)
        let s = hex("83c4026e64c2c40474797065a33c6634c40464617461c4040000c03f");
        let a = decode_ndarray(&s, &Limits::DEFAULT)?;
        assert_eq!(a.dtype, Dtype::F32);
        assert!(a.shape.is_empty());
        assert_eq!(&a.data[..], &1.5f32.to_le_bytes());
        Ok(())
    }
}
