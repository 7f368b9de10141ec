//! Batched sr25519 verification for servers that verify many requests at once.
//!
//! Checking `n` signatures together (`schnorrkel::verify_batch`: one multiscalar
//! multiplication with random weights) costs far less per signature than `n` single checks:
//! on the 2-core benchmark machine ~20 µs per signature in batches of 16 to 64 and ~16 µs at
//! 256, against ~36 µs alone (`cargo bench -p neuron-wallet --bench sign`). An axon that
//! receives a burst of calls (a validator's fan-out, many validators at once) gets the burst
//! verified in batches without waiting for one to fill:
//!
//! * No thread of its own: the first caller that finds nobody checking becomes the
//!   checker, takes whatever is queued (at most [`MAX_BATCH`] at a time) and answers every
//!   caller of the batch, on its own executor thread (flat combining). A lone request is
//!   checked alone at once; a burst forms batches by itself. An extra thread was measured
//!   and was slower on 2 cores (it competes with the executor's threads).
//!   A batch holds the checker's thread for at most [`MAX_BATCH`] checks (~4 ms on the
//!   benchmark machine); between batches the checker yields to its executor.
//! * A batch that fails is checked again one signature at a time, so a forged signature
//!   only fails its own request; each single check also accepts the `<Bytes>`-wrapped
//!   message, as [`VerifierCache::verify`](crate::VerifierCache::verify) does.
//! * The queue is bounded ([`QUEUE`]); when it is full, the caller verifies inline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::channel::oneshot;

use crate::keys::{self, SIGNING_CONTEXT};

/// Signatures checked together at most.
pub const MAX_BATCH: usize = 256;
/// Signatures waiting to be checked at most; beyond, a caller checks its own inline.
pub const QUEUE: usize = 4096;

struct Job {
    key: schnorrkel::PublicKey,
    signature: schnorrkel::Signature,
    message: Vec<u8>,
    reply: oneshot::Sender<bool>,
}

/// The waiting jobs, and whether a caller is checking batches right now.
static QUEUED: Mutex<Vec<Job>> = Mutex::new(Vec::new());
static BUSY: AtomicBool = AtomicBool::new(false);

fn queued() -> std::sync::MutexGuard<'static, Vec<Job>> {
    QUEUED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `signature` over `message` (raw or `<Bytes>`-wrapped) is `key`'s, checked together
/// with whatever else is waiting.
pub async fn verify(
    key: schnorrkel::PublicKey,
    message: Vec<u8>,
    signature: schnorrkel::Signature,
) -> bool {
    let (reply, answer) = oneshot::channel();
    {
        let mut queue = queued();
        if queue.len() >= QUEUE {
            drop(queue);
            return keys::verify_sdk(&key, &message, &signature);
        }
        queue.push(Job {
            key,
            signature,
            message,
            reply,
        });
    }
    // The first caller to find nobody checking becomes the checker: it takes what is
    // waiting, checks it as one batch, answers every caller of the batch, and goes on while
    // jobs keep arriving, yielding to its executor between batches. The guard makes sure
    // nobody is left waiting, also when the checker's own call is cancelled at a yield.
    if !BUSY.swap(true, Ordering::AcqRel) {
        let _checking = Checking;
        while check_some() {
            YieldNow(false).await;
        }
    }
    answer.await.unwrap_or(false)
}

/// Takes up to [`MAX_BATCH`] waiting jobs, checks and answers them; false if none waited.
fn check_some() -> bool {
    let batch: Vec<Job> = {
        let mut queue = queued();
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    };
    if batch.is_empty() {
        return false;
    }
    let results = check(&batch);
    for (job, ok) in batch.into_iter().zip(results) {
        // The caller may have given up (its call was cancelled); nothing to do then.
        let _ = job.reply.send(ok);
    }
    true
}

/// Held by the checker; on drop (done or cancelled) it checks what is still waiting and
/// hands the role back. A job queued after the last look but before the role was released
/// found the role taken, so its caller waits for an answer: look once more, and take the
/// role back if nobody else did.
struct Checking;

impl Drop for Checking {
    fn drop(&mut self) {
        loop {
            while check_some() {}
            BUSY.store(false, Ordering::Release);
            if queued().is_empty() || BUSY.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

/// Returns `Pending` once (waking itself), so other tasks of the executor run.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
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
    fn many_callers_at_once_are_answered() {
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

    #[test]
    fn a_checker_cancelled_at_its_yield_leaves_nobody_waiting() {
        use std::task::Context;
        let alice = Keypair::from_uri("//Alice").unwrap();
        let key = schnorrkel::PublicKey::from_bytes(&alice.public().0).unwrap();
        let call = |m: &[u8]| verify(key, m.to_vec(), alice.sign(m).schnorrkel().unwrap());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..20 {
            // the first call becomes the checker, checks itself and yields
            let mut checker = Box::pin(call(b"checker"));
            assert!(checker.as_mut().poll(&mut cx).is_pending());
            // the second queues behind it
            let mut waiting = Box::pin(call(b"waiting"));
            let _ = waiting.as_mut().poll(&mut cx);
            // the checker's call is cancelled at its yield: the waiting call still gets
            // its answer (from the guard, or from another test's checker)
            drop(checker);
            // awaited on another thread, so a call left waiting fails the test instead of
            // hanging it
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(futures::executor::block_on(waiting)));
            let answer = rx.recv_timeout(std::time::Duration::from_secs(10));
            assert_eq!(answer, Ok(true), "the waiting call was never answered");
        }
    }
}
