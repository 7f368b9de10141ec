//! candle tensors on the wire.
//!
//! This is the only crate of the stack that knows how tensors look in bytes. It speaks
//! three encodings, all converging on [`WireTensor`] (dtype + shape + little-endian bytes):
//!
//! | encoding | module | used by |
//! |---|---|---|
//! | `bittensor.Tensor` JSON (base64 msgpack-numpy) | [`bt`] | HTTP Axon/Dendrite dialect |
//! | legacy `Tensor` protobuf (MSGPACK / CMPPACK) | [`legacy`] | gRPC dialect (v1–v3) |
//! | native raw frame (fixed header + raw bytes) | [`frame`] | native dialect |
//!
//! and the shared msgpack-numpy array codec in [`msgpack`].
//!
//! # Dtypes: wire vs candle
//!
//! [`Dtype`] covers every numpy dtype the Bittensor formats carry (float16, float32,
//! float64, uint8, int8, int16, int32, int64, bool) plus bfloat16 (native frames) and
//! uint32 (candle's index type). candle 0.9 has no int8 and no bool, so converting to
//! candle widens them losslessly:
//!
//! | wire | candle | back to the wire |
//! |---|---|---|
//! | int8 | `I16` (sign-extended) | [`WireTensor::from_candle_as`]`(t, Dtype::I8)` narrows (wrapping) |
//! | bool | `U8` (bytes unchanged, normally 0/1) | `from_candle_as(t, Dtype::Bool)` keeps the bytes |
//! | everything else | the same dtype | [`WireTensor::from_candle`] |
//!
//! Decoders keep the wire dtype in [`WireTensor::dtype`], so a decode → encode round trip
//! that does not pass through candle is byte-exact for every dtype, and one that does is
//! byte-exact when the original dtype is passed to `from_candle_as` (or [`frame::encode_as`]).
//! Going the other way, a candle `U8` tensor is sent as `uint8`: candle cannot tell a
//! boolean mask from bytes.
//!
//! Where a format lacks a dtype, encoders widen losslessly rather than fail: `bt.Tensor`
//! sends bfloat16 as float32 and uint32 as int64 (the SDK's dtype table has neither); the
//! legacy message sends the nearest of its five `DataType`s (see [`legacy`]).
//!
//! # Casts
//!
//! Decoding casts to the dtype named outside the payload (`bt.Tensor.dtype`, legacy
//! `Tensor.dtype`) with numpy `astype` semantics, bit for bit as numpy on x86-64; see
//! [`cast`].
//!
//! # Safety against hostile input
//!
//! Every decoder is bounded by [`Limits`] (checked before allocating), returns
//! [`Error`] instead of panicking, and never interprets pickles: msgpack-numpy object
//! arrays (`kind` `O`) are refused.
//!
//! # Copies
//!
//! * candle → wire: one copy out of candle's storage (directly from the storage slice for
//!   contiguous CPU tensors).
//! * wire → candle: one copy into a typed `Vec` handed to candle (`Tensor::from_vec`, which
//!   takes ownership), whatever the alignment of the bytes.
//! * native frames: [`frame::decode`] slices the input `Bytes`; [`frame::encode_parts`]
//!   returns header and payload separately for vectored writes; [`frame::encode_into`]
//!   appends to a reused `Vec<u8>`/`BytesMut` and [`frame::decode_view`] borrows the frame,
//!   so a small tensor costs one copy and no allocation.

pub mod bt;
pub mod cast;
mod dtype;
mod error;
pub mod frame;
pub mod legacy;
mod limits;
pub mod msgpack;
mod wire;

pub use bt::BtTensor;
pub use dtype::Dtype;
pub use error::{Error, Result};
pub use limits::Limits;
pub use msgpack::Ndarray;
pub use wire::WireTensor;
