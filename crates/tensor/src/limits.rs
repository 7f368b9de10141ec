//! Resource bounds applied by every decoder.

use crate::{Dtype, Error, Result};

/// Bounds on what a decoder accepts, checked before any allocation proportional to the
/// claimed size.
///
/// Defaults ([`Limits::DEFAULT`], also `Limits::new()` and `Limits::default()`):
///
/// | field | default | meaning |
/// |---|---|---|
/// | `max_bytes` | 64 MiB | element bytes of one tensor (after any cast on decode) |
/// | `max_rank` | 32 | number of dimensions (numpy allows 64, candle and torch code rarely needs more than 8) |
/// | `max_elements` | 64 Mi (67 108 864) | elements of one tensor; also bounds every single dimension |
///
/// Encoded containers are bounded accordingly: a base64 `bt.Tensor.buffer` may be at most
/// about 4/3 × (`max_bytes` + msgpack header) characters, a native frame at most
/// header + `max_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Maximum element bytes of one tensor.
    pub max_bytes: usize,
    /// Maximum rank (number of dimensions).
    pub max_rank: usize,
    /// Maximum element count; also the maximum of every single dimension (so that shapes
    /// with a zero dimension cannot carry absurd other dimensions).
    pub max_elements: usize,
}

impl Limits {
    /// The defaults: 64 MiB, rank 32, 64 Mi elements.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 64 * 1024 * 1024,
        max_rank: 32,
        max_elements: 64 * 1024 * 1024,
    };

    /// No practical bound (for trusted, local data only).
    pub const UNLIMITED: Limits = Limits {
        max_bytes: usize::MAX,
        max_rank: usize::MAX,
        max_elements: usize::MAX,
    };

    /// The defaults ([`Limits::DEFAULT`]).
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// Sets `max_bytes`.
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets `max_rank`.
    pub const fn with_max_rank(mut self, max_rank: usize) -> Self {
        self.max_rank = max_rank;
        self
    }

    /// Sets `max_elements`.
    pub const fn with_max_elements(mut self, max_elements: usize) -> Self {
        self.max_elements = max_elements;
        self
    }

    /// Checks a rank.
    pub fn check_rank(&self, rank: usize) -> Result<()> {
        if rank > self.max_rank {
            return Err(Error::TooLarge {
                what: "rank",
                limit: self.max_rank,
                actual: rank,
            });
        }
        Ok(())
    }

    /// Checks a shape against rank, per-dimension and element limits and returns its
    /// element count.
    pub fn check_shape(&self, shape: &[usize]) -> Result<usize> {
        self.check_rank(shape.len())?;
        self.check_dims(shape.iter().copied())
    }

    /// Checks a shape and dtype; returns the byte length of the elements.
    pub fn check(&self, dtype: Dtype, shape: &[usize]) -> Result<usize> {
        self.check_rank(shape.len())?;
        self.check_dims_bytes(dtype, shape.iter().copied())
    }

    /// The per-dimension and element checks of [`Limits::check_shape`] over dimensions that
    /// need not be in a slice (the rank is checked by the caller); returns the element count.
    /// Always inlined: the frame header parser runs it over the header bytes in place, and a
    /// call would cost a noticeable share of decoding a small frame.
    #[inline(always)]
    pub(crate) fn check_dims(&self, dims: impl IntoIterator<Item = usize>) -> Result<usize> {
        let mut n: usize = 1;
        for d in dims {
            if d > self.max_elements {
                return Err(Error::TooLarge {
                    what: "dimension",
                    limit: self.max_elements,
                    actual: d,
                });
            }
            n = n.saturating_mul(d);
        }
        if n > self.max_elements {
            return Err(Error::TooLarge {
                what: "elements",
                limit: self.max_elements,
                actual: n,
            });
        }
        Ok(n)
    }

    /// [`Limits::check`] without the rank check: dimensions, elements and bytes; returns the
    /// byte length of the elements.
    #[inline(always)]
    pub(crate) fn check_dims_bytes(
        &self,
        dtype: Dtype,
        dims: impl IntoIterator<Item = usize>,
    ) -> Result<usize> {
        let n = self.check_dims(dims)?;
        let bytes = n.saturating_mul(dtype.size());
        self.check_bytes(bytes)?;
        Ok(bytes)
    }

    /// Checks a byte count.
    pub fn check_bytes(&self, bytes: usize) -> Result<()> {
        if bytes > self.max_bytes {
            return Err(Error::TooLarge {
                what: "bytes",
                limit: self.max_bytes,
                actual: bytes,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
