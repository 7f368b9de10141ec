//! Element types on the wire and their candle containers.

use crate::Error;
use candle_core::DType;

/// Element type of a tensor on the wire.
///
/// Covers every numpy dtype the Bittensor wire formats carry (the `bt.Tensor` table:
/// float16 float32 float64 uint8 int8 int16 int32 int64 bool), plus `bfloat16` for native
/// frames (numpy has no bfloat16) and `uint32` (candle's index type).
///
/// All multi-byte elements are little-endian on the wire.
///
/// | variant | numpy name | `dtype.str` | size | candle container |
/// |---|---|---|---|---|
/// | `F16`  | `float16`  | `<f2` | 2 | `F16` |
/// | `BF16` | `bfloat16` | `<V2` (not decodable from msgpack) | 2 | `BF16` |
/// | `F32`  | `float32`  | `<f4` | 4 | `F32` |
/// | `F64`  | `float64`  | `<f8` | 8 | `F64` |
/// | `U8`   | `uint8`    | `\|u1` | 1 | `U8` |
/// | `I8`   | `int8`     | `\|i1` | 1 | `I16` (widened) |
/// | `I16`  | `int16`    | `<i2` | 2 | `I16` |
/// | `I32`  | `int32`    | `<i4` | 4 | `I32` |
/// | `I64`  | `int64`    | `<i8` | 8 | `I64` |
/// | `Bool` | `bool`     | `\|b1` | 1 | `U8` (bytes kept as is) |
/// | `U32`  | `uint32`   | `<u4` | 4 | `U32` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE 754 half precision.
    F16,
    /// bfloat16 (native frames only; numpy and `bt.Tensor` have no bfloat16).
    BF16,
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer (held as `I16` in candle).
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// numpy `bool`, one byte per element (held as `U8` in candle).
    Bool,
    /// Unsigned 32-bit integer (not in the `bt.Tensor` dtype table).
    U32,
}

impl Dtype {
    /// Every dtype, in declaration order.
    pub const ALL: [Dtype; 11] = [
        Dtype::F16,
        Dtype::BF16,
        Dtype::F32,
        Dtype::F64,
        Dtype::U8,
        Dtype::I8,
        Dtype::I16,
        Dtype::I32,
        Dtype::I64,
        Dtype::Bool,
        Dtype::U32,
    ];

    /// The numpy dtype name (`str(np.dtype)`), e.g. `"float32"`, `"bool"`.
    pub const fn numpy_name(self) -> &'static str {
        match self {
            Dtype::F16 => "float16",
            Dtype::BF16 => "bfloat16",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::U8 => "uint8",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::Bool => "bool",
            Dtype::U32 => "uint32",
        }
    }

    /// The torch dtype name (`str(torch.dtype)`), e.g. `"torch.float32"`; torch has no
    /// `uint32` in the versions Bittensor used, the name is given for symmetry.
    pub const fn torch_name(self) -> &'static str {
        match self {
            Dtype::F16 => "torch.float16",
            Dtype::BF16 => "torch.bfloat16",
            Dtype::F32 => "torch.float32",
            Dtype::F64 => "torch.float64",
            Dtype::U8 => "torch.uint8",
            Dtype::I8 => "torch.int8",
            Dtype::I16 => "torch.int16",
            Dtype::I32 => "torch.int32",
            Dtype::I64 => "torch.int64",
            Dtype::Bool => "torch.bool",
            Dtype::U32 => "torch.uint32",
        }
    }

    /// numpy's array-protocol type string (`dtype.str`, little-endian), as msgpack-numpy
    /// writes it into `type`: `"<f4"`, `"|u1"`, `"|b1"`…
    ///
    /// `BF16` yields `"<V2"` (what numpy reports for `ml_dtypes.bfloat16`), which no decoder
    /// here accepts: bfloat16 cannot travel inside msgpack-numpy.
    pub const fn numpy_str(self) -> &'static str {
        match self {
            Dtype::F16 => "<f2",
            Dtype::BF16 => "<V2",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::U8 => "|u1",
            Dtype::I8 => "|i1",
            Dtype::I16 => "<i2",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::Bool => "|b1",
            Dtype::U32 => "<u4",
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 | Dtype::Bool => 1,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// Whether this is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }

    /// Parses a dtype name: numpy names (`"float32"`, `"bool"`, …) and torch names
    /// (`"torch.float32"`, …) as they appear in `bt.Tensor.dtype`.
    pub fn from_numpy_name(name: &str) -> Result<Dtype, Error> {
        let bare = name.strip_prefix("torch.").unwrap_or(name);
        Ok(match bare {
            "float16" | "half" => Dtype::F16,
            "bfloat16" => Dtype::BF16,
            "float32" | "float" => Dtype::F32,
            "float64" | "double" => Dtype::F64,
            "uint8" => Dtype::U8,
            "int8" => Dtype::I8,
            "int16" | "short" => Dtype::I16,
            "int32" | "int" => Dtype::I32,
            "int64" | "long" => Dtype::I64,
            "bool" => Dtype::Bool,
            "uint32" => Dtype::U32,
            _ => return Err(Error::UnknownDtype(name.to_owned())),
        })
        .and_then(|d| {
            // "half"/"float"/"double"/... are torch aliases only, "float" etc. mean other
            // things in numpy: accept the aliases only with the torch prefix.
            if bare != name || bare == d.numpy_name() {
                Ok(d)
            } else {
                Err(Error::UnknownDtype(name.to_owned()))
            }
        })
    }

    /// Parses a numpy `dtype.str` as found in msgpack-numpy's `type`. Only the numeric,
    /// little-endian (or byte-order-free) strings of [`Dtype::numpy_str`] are accepted;
    /// `"<V2"` (bfloat16 via ml_dtypes), big-endian, object, string and structured types
    /// are refused.
    pub fn from_numpy_str(s: &str) -> Result<Dtype, Error> {
        Ok(match s {
            "<f2" => Dtype::F16,
            "<f4" => Dtype::F32,
            "<f8" => Dtype::F64,
            "|u1" => Dtype::U8,
            "|i1" => Dtype::I8,
            "<i2" => Dtype::I16,
            "<i4" => Dtype::I32,
            "<i8" => Dtype::I64,
            "|b1" => Dtype::Bool,
            "<u4" => Dtype::U32,
            _ => return Err(Error::UnknownDtype(s.to_owned())),
        })
    }

    /// Stable one-byte code used by native frames (see [`crate::frame`]); 0 is invalid.
    pub const fn code(self) -> u8 {
        match self {
            Dtype::F16 => 1,
            Dtype::BF16 => 2,
            Dtype::F32 => 3,
            Dtype::F64 => 4,
            Dtype::U8 => 5,
            Dtype::I8 => 6,
            Dtype::I16 => 7,
            Dtype::I32 => 8,
            Dtype::I64 => 9,
            Dtype::Bool => 10,
            Dtype::U32 => 11,
        }
    }

    /// Inverse of [`Dtype::code`].
    #[inline]
    pub fn from_code(code: u8) -> Result<Dtype, Error> {
        Ok(match code {
            1 => Dtype::F16,
            2 => Dtype::BF16,
            3 => Dtype::F32,
            4 => Dtype::F64,
            5 => Dtype::U8,
            6 => Dtype::I8,
            7 => Dtype::I16,
            8 => Dtype::I32,
            9 => Dtype::I64,
            10 => Dtype::Bool,
            11 => Dtype::U32,
            _ => return Err(unknown_code(code)),
        })
    }

    /// The candle dtype that holds values of this wire dtype: identical where candle has
    /// it, otherwise the smallest lossless container (`I8` → `I16`, `Bool` → `U8`).
    pub const fn to_candle(self) -> DType {
        match self {
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F32 => DType::F32,
            Dtype::F64 => DType::F64,
            Dtype::U8 | Dtype::Bool => DType::U8,
            Dtype::I8 | Dtype::I16 => DType::I16,
            Dtype::I32 => DType::I32,
            Dtype::I64 => DType::I64,
            Dtype::U32 => DType::U32,
        }
    }

    /// Whether candle holds this dtype natively (no widening in [`Dtype::to_candle`]).
    pub const fn is_native_in_candle(self) -> bool {
        !matches!(self, Dtype::I8 | Dtype::Bool)
    }

    /// The wire dtype of a candle dtype (`U8` → `U8`, never `Bool`). candle's 8/6/4-bit
    /// float formats have no wire representation and are refused.
    #[inline]
    pub fn from_candle(dtype: DType) -> Result<Dtype, Error> {
        Ok(match dtype {
            DType::F16 => Dtype::F16,
            DType::BF16 => Dtype::BF16,
            DType::F32 => Dtype::F32,
            DType::F64 => Dtype::F64,
            DType::U8 => Dtype::U8,
            DType::I16 => Dtype::I16,
            DType::I32 => Dtype::I32,
            DType::I64 => Dtype::I64,
            DType::U32 => Dtype::U32,
            other => {
                return Err(Error::UnsupportedDtype(format!(
                    "candle {}",
                    other.as_str()
                )));
            }
        })
    }
}

/// The error of an unknown frame dtype code, out of the frame decoders' fast path.
#[cold]
#[inline(never)]
fn unknown_code(code: u8) -> Error {
    Error::UnknownDtype(format!("frame dtype code {code}"))
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.numpy_name())
    }
}

impl std::str::FromStr for Dtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dtype::from_numpy_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Dtype::ALL {
            assert_eq!(Dtype::from_numpy_name(d.numpy_name()).ok(), Some(d));
            assert_eq!(Dtype::from_numpy_name(d.torch_name()).ok(), Some(d));
            assert_eq!(Dtype::from_code(d.code()).ok(), Some(d));
            if d != Dtype::BF16 {
                assert_eq!(Dtype::from_numpy_str(d.numpy_str()).ok(), Some(d));
            }
            assert!(d.to_candle().size_in_bytes() >= d.size());
            if d.is_native_in_candle() {
                assert_eq!(Dtype::from_candle(d.to_candle()).ok(), Some(d));
            }
        }
        assert!(Dtype::from_numpy_str("<V2").is_err());
        assert!(Dtype::from_numpy_str(">f4").is_err());
        assert!(Dtype::from_numpy_str("|O").is_err());
        assert!(Dtype::from_numpy_name("float").is_err());
        assert_eq!(Dtype::from_numpy_name("torch.float").ok(), Some(Dtype::F32));
        assert!(Dtype::from_numpy_name("np.float32").is_err());
        assert!(Dtype::from_code(0).is_err());
        for c in 0..=u8::MAX {
            match Dtype::from_code(c) {
                Ok(d) => assert_eq!(d.code(), c),
                Err(_) => assert!(Dtype::ALL.iter().all(|d| d.code() != c), "code {c}"),
            }
        }
    }
}
