//! The GPT-2 tokenizer of the text API.
//!
//! Choice: `tiktoken-rs`'s `r50k_base`, which *is* GPT-2's byte-level BPE (50 257 ranks,
//! `<|endoftext|>` = 50256) and is embedded in the crate (no download at build or run
//! time). bittensor 3's `__vocab_size__` 50258 is GPT-2 plus one added token; we take it
//! to be the pad token `[PAD]` = 50257, and pad on the left as the upstream tokenizer
//! (`padding_side = "left"`). Token ids ≥ 50257 decode to nothing.

use candle_core::{Device, Tensor};

use super::error::{Error, Result};

/// Id of the padding token (`[PAD]`).
pub const PAD_ID: u32 = 50257;
/// Longest sequence produced by [`Tokenizer::encode_batch`] (GPT-2's context, `truncation=True`).
pub const MAX_LEN: usize = 1024;

/// GPT-2 BPE encoder/decoder.
#[derive(Clone, Copy)]
pub struct Tokenizer {
    bpe: &'static tiktoken_rs::CoreBPE,
}

impl Tokenizer {
    /// The shared GPT-2 tokenizer (built once per process).
    pub fn gpt2() -> Self {
        Self {
            bpe: tiktoken_rs::r50k_base_singleton(),
        }
    }

    /// Token ids of `text` (no special tokens).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe.encode_ordinary(text)
    }

    /// Text of `ids`; ids outside GPT-2's vocabulary (padding, negatives) are skipped.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        let ids: Vec<u32> = ids
            .iter()
            .filter_map(|&i| u32::try_from(i).ok())
            .filter(|&i| i < PAD_ID)
            .collect();
        self.bpe
            .decode(&ids)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// int64 `[B, S]` ids of `texts`, left-padded with [`PAD_ID`] to the longest and
    /// truncated to `MAX_LEN` tokens.
    pub fn encode_batch(&self, texts: &[impl AsRef<str>]) -> Result<Tensor> {
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut ids = self.encode(t.as_ref());
                ids.truncate(MAX_LEN);
                ids
            })
            .collect();
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = Vec::with_capacity(rows.len() * width);
        for row in &rows {
            flat.extend(std::iter::repeat_n(i64::from(PAD_ID), width - row.len()));
            flat.extend(row.iter().map(|&i| i64::from(i)));
        }
        Ok(Tensor::from_vec(flat, (rows.len(), width), &Device::Cpu)?)
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer(gpt2)")
    }
}
