//! numpy `astype` semantics on raw little-endian element bytes.
//!
//! Both `bt.Tensor` (`numpy_object.astype(dtype)`) and the legacy `Tensor` message
//! (`.type(dtype)`) cast the decoded array to the dtype named outside the payload, and
//! CMPPACK casts to float16 before packing. This module reproduces numpy on x86-64
//! bit for bit:
//!
//! * int → int: two's-complement wrap-around (C casts);
//! * int/float → float16: correctly rounded from the double value, ties to even
//!   (numpy's `npy_doublebits_to_halfbits`; float32 → float16 uses
//!   `npy_floatbits_to_halfbits`, so NaN payloads match too); float16 → float32/float64 is
//!   exact and keeps NaN payloads (`npy_halfbits_to_floatbits`);
//! * float → float32/float64 and int → float32/float64: IEEE round to nearest (C casts);
//! * float → int: truncation toward zero, with x86-64's conversion of NaN and out-of-range
//!   values (the `cvttsd2si` "integer indefinite" value): int8/uint8/int16 take the low bits
//!   of the 32-bit conversion, int32 gets `i32::MIN`, int64 `i64::MIN`, uint32 follows the
//!   compiler's unsigned sequence. (numpy on other architectures differs only in these
//!   undefined cases.)
//! * anything → bool: `x != 0` (NaN is true); bool → anything: 0 or 1 (any non-zero byte
//!   counts as true).
//! * bfloat16 (no numpy equivalent): `half`'s round-to-nearest-even conversions, as candle.

use crate::Dtype;

/// Casts `data` (elements of `from`, little-endian) to `to`, numpy-style. Returns a fresh
/// buffer even when `from == to`. `data.len()` must be a multiple of `from.size()`
/// (a trailing partial element is ignored).
pub fn cast(data: &[u8], from: Dtype, to: Dtype) -> Vec<u8> {
    if from == to {
        return data.to_vec();
    }
    let n = data.len() / from.size();
    let mut out = Vec::with_capacity(n * to.size());
    let src = data.chunks_exact(from.size());
    match (from, to) {
        (Dtype::F32, Dtype::F16) => {
            for c in src {
                out.extend_from_slice(
                    &f32_bits_to_f16_bits(u32::from_le_bytes(arr(c))).to_le_bytes(),
                );
            }
        }
        (Dtype::F16, Dtype::F32) => {
            for c in src {
                out.extend_from_slice(
                    &f16_bits_to_f32_bits(u16::from_le_bytes(arr(c))).to_le_bytes(),
                );
            }
        }
        (Dtype::F16, Dtype::F64) => {
            for c in src {
                out.extend_from_slice(
                    &f16_bits_to_f64_bits(u16::from_le_bytes(arr(c))).to_le_bytes(),
                );
            }
        }
        _ => {
            for c in src {
                let v = read(from, c);
                write(to, v, &mut out);
            }
        }
    }
    out
}

/// One element, widened.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
}

fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(c);
    a
}

fn read(dtype: Dtype, c: &[u8]) -> Value {
    match dtype {
        Dtype::F16 => Value::Float(f64::from_bits(f16_bits_to_f64_bits(u16::from_le_bytes(
            arr(c),
        )))),
        Dtype::BF16 => Value::Float(f64::from(
            half::bf16::from_bits(u16::from_le_bytes(arr(c))).to_f32(),
        )),
        Dtype::F32 => Value::Float(f64::from(f32::from_le_bytes(arr(c)))),
        Dtype::F64 => Value::Float(f64::from_le_bytes(arr(c))),
        Dtype::U8 => Value::Int(i64::from(c[0])),
        Dtype::I8 => Value::Int(i64::from(c[0] as i8)),
        Dtype::I16 => Value::Int(i64::from(i16::from_le_bytes(arr(c)))),
        Dtype::I32 => Value::Int(i64::from(i32::from_le_bytes(arr(c)))),
        Dtype::I64 => Value::Int(i64::from_le_bytes(arr(c))),
        Dtype::Bool => Value::Int(i64::from(c[0] != 0)),
        Dtype::U32 => Value::Int(i64::from(u32::from_le_bytes(arr(c)))),
    }
}

/// x86-64 `cvttsd2si` with a 32-bit destination.
fn cvtt32(f: f64) -> i32 {
    if f > -2_147_483_649.0 && f < 2_147_483_648.0 {
        f as i32
    } else {
        i32::MIN
    }
}

/// x86-64 `cvttsd2si` with a 64-bit destination.
fn cvtt64(f: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// double → uint32 as compiled for x86-64 (no AVX-512 unsigned conversions).
fn cvtt_u32(f: f64) -> u32 {
    if f >= 2_147_483_648.0 {
        (cvtt32(f - 2_147_483_648.0) as u32) ^ 0x8000_0000
    } else {
        cvtt32(f) as u32
    }
}

fn write(dtype: Dtype, v: Value, out: &mut Vec<u8>) {
    match dtype {
        Dtype::F16 => {
            let f = match v {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
            };
            out.extend_from_slice(&f64_bits_to_f16_bits(f.to_bits()).to_le_bytes());
        }
        Dtype::BF16 => {
            let b = match v {
                Value::Int(i) => half::bf16::from_f64(i as f64),
                Value::Float(f) => half::bf16::from_f64(f),
            };
            out.extend_from_slice(&b.to_bits().to_le_bytes());
        }
        Dtype::F32 => {
            let f = match v {
                Value::Int(i) => i as f32,
                Value::Float(f) => f as f32,
            };
            out.extend_from_slice(&f.to_le_bytes());
        }
        Dtype::F64 => {
            let f = match v {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
            };
            out.extend_from_slice(&f.to_le_bytes());
        }
        Dtype::U8 => out.push(match v {
            Value::Int(i) => i as u8,
            Value::Float(f) => cvtt32(f) as u8,
        }),
        Dtype::I8 => out.push(match v {
            Value::Int(i) => i as i8 as u8,
            Value::Float(f) => cvtt32(f) as u8,
        }),
        Dtype::I16 => {
            let x = match v {
                Value::Int(i) => i as i16,
                Value::Float(f) => cvtt32(f) as i16,
            };
            out.extend_from_slice(&x.to_le_bytes());
        }
        Dtype::I32 => {
            let x = match v {
                Value::Int(i) => i as i32,
                Value::Float(f) => cvtt32(f),
            };
            out.extend_from_slice(&x.to_le_bytes());
        }
        Dtype::I64 => {
            let x = match v {
                Value::Int(i) => i,
                Value::Float(f) => cvtt64(f),
            };
            out.extend_from_slice(&x.to_le_bytes());
        }
        Dtype::Bool => out.push(match v {
            Value::Int(i) => u8::from(i != 0),
            Value::Float(f) => u8::from(f != 0.0),
        }),
        Dtype::U32 => {
            let x = match v {
                Value::Int(i) => i as u32,
                Value::Float(f) => cvtt_u32(f),
            };
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// numpy `npy_doublebits_to_halfbits` (round half to even, NaN payload kept).
pub(crate) fn f64_bits_to_f16_bits(d: u64) -> u16 {
    let h_sgn = ((d & 0x8000_0000_0000_0000) >> 48) as u16;
    let mut d_exp = d & 0x7ff0_0000_0000_0000;
    if d_exp >= 0x40f0_0000_0000_0000 {
        if d_exp == 0x7ff0_0000_0000_0000 {
            let d_sig = d & 0x000f_ffff_ffff_ffff;
            if d_sig != 0 {
                let mut ret = (0x7c00u64 + (d_sig >> 42)) as u16;
                if ret == 0x7c00 {
                    ret += 1;
                }
                return h_sgn + ret;
            }
            return h_sgn + 0x7c00;
        }
        return h_sgn + 0x7c00;
    }
    if d_exp <= 0x3f00_0000_0000_0000 {
        if d_exp < 0x3e60_0000_0000_0000 {
            return h_sgn;
        }
        d_exp >>= 52;
        let mut d_sig = 0x0010_0000_0000_0000 + (d & 0x000f_ffff_ffff_ffff);
        d_sig <<= d_exp - 998;
        if (d_sig & 0x003f_ffff_ffff_ffff) != 0x0010_0000_0000_0000 {
            d_sig += 0x0010_0000_0000_0000;
        }
        let h_sig = (d_sig >> 53) as u16;
        return h_sgn + h_sig;
    }
    let h_exp = ((d_exp - 0x3f00_0000_0000_0000) >> 42) as u16;
    let mut d_sig = d & 0x000f_ffff_ffff_ffff;
    if (d_sig & 0x0000_07ff_ffff_ffff) != 0x0000_0200_0000_0000 {
        d_sig += 0x0000_0200_0000_0000;
    }
    let h_sig = (d_sig >> 42) as u16;
    // h_sig may carry into the exponent (and up to infinity): that is the right result.
    h_sgn + h_exp + h_sig
}

/// numpy `npy_floatbits_to_halfbits` (round half to even, NaN payload kept). For non-NaN
/// input this equals the double algorithm on the (exact) widened value.
pub(crate) fn f32_bits_to_f16_bits(f: u32) -> u16 {
    if f & 0x7f80_0000 == 0x7f80_0000 && f & 0x007f_ffff != 0 {
        let h_sgn = ((f & 0x8000_0000) >> 16) as u16;
        let mut ret = (0x7c00u32 + ((f & 0x007f_ffff) >> 13)) as u16;
        if ret == 0x7c00 {
            ret += 1;
        }
        return h_sgn + ret;
    }
    f64_bits_to_f16_bits(f64::from(f32::from_bits(f)).to_bits())
}

/// numpy `npy_halfbits_to_floatbits` (exact, NaN payload kept).
pub(crate) fn f16_bits_to_f32_bits(h: u16) -> u32 {
    let h_exp = u32::from(h & 0x7c00);
    let f_sgn = u32::from(h & 0x8000) << 16;
    match h_exp {
        0 => {
            let mut h_sig = u32::from(h & 0x03ff);
            if h_sig == 0 {
                return f_sgn;
            }
            h_sig <<= 1;
            let mut shift = 0u32;
            while h_sig & 0x0400 == 0 {
                h_sig <<= 1;
                shift += 1;
            }
            let f_exp = (127 - 15 - shift) << 23;
            let f_sig = (h_sig & 0x03ff) << 13;
            f_sgn + f_exp + f_sig
        }
        0x7c00 => f_sgn + 0x7f80_0000 + (u32::from(h & 0x03ff) << 13),
        _ => f_sgn + ((u32::from(h & 0x7fff) + 0x1c000) << 13),
    }
}

/// numpy `npy_halfbits_to_doublebits` (exact, NaN payload kept).
pub(crate) fn f16_bits_to_f64_bits(h: u16) -> u64 {
    let h_exp = u64::from(h & 0x7c00);
    let d_sgn = u64::from(h & 0x8000) << 48;
    match h_exp {
        0 => {
            let mut h_sig = u64::from(h & 0x03ff);
            if h_sig == 0 {
                return d_sgn;
            }
            h_sig <<= 1;
            let mut shift = 0u64;
            while h_sig & 0x0400 == 0 {
                h_sig <<= 1;
                shift += 1;
            }
            let d_exp = (1023 - 15 - shift) << 52;
            let d_sig = (h_sig & 0x03ff) << 42;
            d_sgn + d_exp + d_sig
        }
        0x7c00 => d_sgn + 0x7ff0_0000_0000_0000 + (u64::from(h & 0x03ff) << 42),
        _ => d_sgn + ((u64::from(h & 0x7fff) + 0xfc000) << 42),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions_match_exhaustively() {
        for h in 0..=u16::MAX {
            let f = f16_bits_to_f32_bits(h);
            let d = f16_bits_to_f64_bits(h);
            let hv = half::f16::from_bits(h);
            if hv.is_nan() {
                assert!(f32::from_bits(f).is_nan() && f64::from_bits(d).is_nan());
                // payload survives the round trip
                assert_eq!(f32_bits_to_f16_bits(f), h);
                assert_eq!(f64_bits_to_f16_bits(d), h);
                continue;
            }
            assert_eq!(f32::from_bits(f), hv.to_f32(), "{h:#x}");
            assert_eq!(f64::from_bits(d), hv.to_f64(), "{h:#x}");
            assert_eq!(f32_bits_to_f16_bits(f), h);
            assert_eq!(f64_bits_to_f16_bits(d), h);
        }
    }

    #[test]
    fn f32_to_f16_matches_half() {
        // half's f32 conversion is correctly rounded (F16C or its exact fallback): an
        // independent check of the ported numpy double algorithm.
        let mut x: u32 = 0x1234_5678;
        let check = |bits: u32| {
            let f = f32::from_bits(bits);
            if !f.is_nan() {
                assert_eq!(
                    f32_bits_to_f16_bits(bits),
                    half::f16::from_f32(f).to_bits(),
                    "{bits:#x} {f}"
                );
            }
        };
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            check(x);
            // concentrate on the f16 range, including subnormals and ties
            check((x & 0x87ff_ffff) | 0x3000_0000);
        }
        for bits in [
            0x3f80_1000u32,
            0x3f80_1001,
            0x3f80_3000,
            0x3380_0000,
            0x3380_0001,
            0x477f_f000,
            0x477f_efff,
        ] {
            check(bits);
        }
    }

    #[test]
    fn float_to_int_like_numpy_x86() {
        let a = [
            300.0,
            -1.0,
            1e10,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -2.7,
            2.7,
            70000.5,
            -129.0,
        ];
        let bytes: Vec<u8> = a.iter().flat_map(|f: &f64| f.to_le_bytes()).collect();
        let i8s: Vec<i8> = cast(&bytes, Dtype::F64, Dtype::I8)
            .into_iter()
            .map(|b| b as i8)
            .collect();
        assert_eq!(i8s, [44, -1, 0, 0, 0, 0, -2, 2, 112, 127]);
        let u32s: Vec<u32> = cast(&bytes, Dtype::F64, Dtype::U32)
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(arr(c)))
            .collect();
        assert_eq!(
            u32s,
            [
                300, 4294967295, 0, 2147483648, 0, 2147483648, 4294967294, 2, 70000, 4294967167
            ]
        );
        let i64s: Vec<i64> = cast(&bytes, Dtype::F64, Dtype::I64)
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(arr(c)))
            .collect();
        assert_eq!(i64s[2], 10_000_000_000);
        assert_eq!(i64s[3], i64::MIN);
        let b = cast(&bytes, Dtype::F64, Dtype::Bool);
        assert_eq!(b, [1u8; 10]);
    }

    #[test]
    fn double_rounding_avoided() {
        let x = 1.0f64 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(f64_bits_to_f16_bits(x.to_bits()), 15361);
        let y = 2f64.powi(-25) + 2f64.powi(-60);
        assert_eq!(f64_bits_to_f16_bits(y.to_bits()), 1);
        assert_eq!(f64_bits_to_f16_bits(65519.99f64.to_bits()), 31743);
        assert_eq!(f64_bits_to_f16_bits(65520.0f64.to_bits()), 31744);
    }
}
