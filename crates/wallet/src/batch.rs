//! Batched sr25519 verification for servers that verify many requests at once.
//!
//! Checking `n` signatures together (`schnorrkel::verify_batch`: one multiscalar
//! multiplication with random weights) costs far less per signature than `n` single checks:
//! on the 2-core benchmark machine ~20 µs per signature in batches of 16 to 64 and ~16 µs at
//! 256, against ~36 µs alone (`cargo bench -p neuron-wallet --bench sign`). An axon that
//! receives a burst of calls (a validator's fan-out, many validators at once) gets the burst
//! verified in batches without waiting for one to fill:
//!
//! * One process-wide thread takes whatever is queued when it wakes (at most
//!   [`MAX_BATCH`]), so a lone request is checked alone at once and a burst forms batches
//!   by itself. It starts on first use.
//! * A batch that fails is checked again one signature at a time, so a forged signature
//!   only fails its own request; each single check also accepts the `<Bytes>`-wrapped
//!   message, as [`VerifierCache::verify`](crate::VerifierCache::verify) does.
//! * The queue is bounded ([`QUEUE`]); when it is full, or the thread could not be started,
//!   the caller verifies inline.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock};

use futures::channel::oneshot;

use crate::keys::{self, SIGNING_CONTEXT};

/// Signatures checked together at most.
pub const MAX_BATCH: usize = 256;
/// Signatures waiting for the verifying thread at most.
pub const QUEUE: usize = 4096;

struct Job {
    key: schnorrkel::PublicKey,
    signature: schnorrkel::Signature,
    message: Vec<u8>,
    reply: oneshot::Sender<bool>,
}

struct Verifier {
    tx: Mutex<SyncSender<Job>>,
}

static VERIFIER: OnceLock<Option<Verifier>> = OnceLock::new();

fn verifier() -> Option<&'static Verifier> {
    VERIFIER
        .get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            std::thread::Builder::new()
                .name("neuron-verify".into())
                .spawn(move || run(&rx))
                .ok()?;
            Some(Verifier { tx: Mutex::new(tx) })
        })
        .as_ref()
}

/// Whether `signature` over `message` (raw or `<Bytes>`-wrapped) is `key`'s, checked on the
/// verifying thread together with whatever else is queued.
pub async fn verify(
    key: schnorrkel::PublicKey,
    message: Vec<u8>,
    signature: schnorrkel::Signature,
) -> bool {
    let Some(verifier) = verifier() else {
        return keys::verify_sdk(&key, &message, &signature);
    };
    let (reply, answer) = oneshot::channel();
    let job = Job {
        key,
        signature,
        message,
        reply,
    };
    let sent = verifier
        .tx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .try_send(job);
    match sent {
        // Canceled only if the thread is gone (it never exits while the process runs):
        // refuse then.
        Ok(()) => answer.await.unwrap_or(false),
        Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
            keys::verify_sdk(&job.key, &job.message, &job.signature)
        }
    }
}

fn run(rx: &Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = check(&batch);
        for (job, ok) in batch.drain(..).zip(results) {
            // The caller may have given up (its call was cancelled); nothing to do then.
            let _ = job.reply.send(ok);
        }
    }
}

/// One verdict per job: the batch check when it passes, else each job alone.
fn check(batch: &[Job]) -> Vec<bool> {
    if batch.len() > 1 {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        let transcripts = batch.iter().map(|j| context.bytes(&j.message));
        let signatures: Vec<_> = batch.iter().map(|j| j.signature).collect();
        let keys: Vec<_> = batch.iter().map(|j| j.key).collect();
        if schnorrkel::verify_batch(transcripts, &signatures, &keys, false).is_ok() {
            return vec![true; batch.len()];
        }
    }
    batch
        .iter()
        .map(|j| keys::verify_sdk(&j.key, &j.message, &j.signature))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Keypair;

    fn job(kp: &Keypair, message: &[u8], signed: &[u8]) -> (Job, oneshot::Receiver<bool>) {
        let (reply, rx) = oneshot::channel();
        let sig = kp.sign(signed).schnorrkel().unwrap();
        let key = schnorrkel::PublicKey::from_bytes(&kp.public().0).unwrap();
        (
            Job {
                key,
                signature: sig,
                message: message.to_vec(),
                reply,
            },
            rx,
        )
    }

    #[test]
    fn a_forged_signature_fails_alone_and_wrapped_ones_pass() {
        let alice = Keypair::from_uri("//Alice").unwrap();
        let bob = Keypair::from_uri("//Bob").unwrap();
        let mut jobs = Vec::new();
        let mut want = Vec::new();
        for i in 0..40u32 {
            let msg = format!("{i}.message").into_bytes();
            let (j, _) = match i % 10 {
                // Bob signed, claimed as Alice's: forged
                3 => {
                    let (mut j, rx) = job(&alice, &msg, &msg);
                    j.signature = bob.sign(&msg).schnorrkel().unwrap();
                    want.push(false);
                    (j, rx)
                }
                // signed over <Bytes>…</Bytes>, as polkadot.js does
                7 => {
                    let wrapped = [b"<Bytes>".as_slice(), &msg, b"</Bytes>"].concat();
                    want.push(true);
                    job(&alice, &msg, &wrapped)
                }
                _ => {
                    want.push(true);
                    job(&alice, &msg, &msg)
                }
            };
            jobs.push(j);
        }
        assert_eq!(check(&jobs), want);
        // a batch of valid signatures passes as one
        let good: Vec<Job> = (0..8u32)
            .map(|i| job(&bob, &i.to_le_bytes(), &i.to_le_bytes()).0)
            .collect();
        assert_eq!(check(&good), vec![true; 8]);
    }

    #[test]
    fn the_thread_answers_many_callers_at_once() {
        let alice = Keypair::from_uri("//Alice").unwrap();
        let key = schnorrkel::PublicKey::from_bytes(&alice.public().0).unwrap();
        let calls: Vec<_> = (0..300u32)
            .map(|i| {
                let msg = format!("{i}").into_bytes();
                let signed = if i % 50 == 0 {
                    b"other".to_vec()
                } else {
                    msg.clone()
                };
                let sig = alice.sign(&signed).schnorrkel().unwrap();
                (i % 50 != 0, verify(key, msg, sig))
            })
            .collect();
        let (want, calls): (Vec<bool>, Vec<_>) = calls.into_iter().unzip();
        // all 300 queued at once: most are checked in batches, the forged ones alone
        let got = futures::executor::block_on(futures::future::join_all(calls));
        assert_eq!(got, want);
    }
}
