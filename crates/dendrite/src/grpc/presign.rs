//! Signing a receptor's next call before it is made (wire-legacy §8).
//!
//! The legacy signature covers the nonce, the two hotkeys and the receptor uid, never the
//! payload, and a 3.x axon only asks that the nonces of one (hotkey, uid) increase: there is
//! no freshness window. So a receptor can sign its next call's `bittensor-signature` as soon
//! as a call ends, off the request path; the next call takes the ready header instead of
//! signing. On a fan-out to 256 axons that takes 256 sr25519 signatures (~17 µs each on the
//! benchmark machine) out of the time the caller waits.
//!
//! * One process-wide thread makes the signatures, at the lowest CPU priority (nice 19 on
//!   Linux): it runs on cores the calls leave idle, so a fan-out in progress keeps its CPU.
//!   Its queue is bounded ([`QUEUE`]); when it is full the signature is skipped and the
//!   next call signs inline.
//! * A receptor holds at most one ready header. It is used only while its nonce is above
//!   every nonce the receptor has already sent; otherwise (a call signed inline after it was
//!   made) it is dropped and the call signs inline, so an axon never sees a nonce go back.
//! * Off when the receptor's nonces are not forced to increase (tests that replay nonces),
//!   or by [`Config::presign`](super::ReceptorConfig::presign).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use neuron_protocol::signing;
use neuron_wallet::Keypair;
use tokio::sync::Notify;

use super::clock::NonceClock;
use crate::lock;

/// Signatures waiting for the presigning thread, at most.
pub const QUEUE: usize = 4096;

/// A `bittensor-signature` value and its nonce.
struct Header {
    nonce: u64,
    value: String,
}

/// The signing identity of one receptor: keys, uid, nonces and the ready header.
pub(crate) struct Signer {
    keypair: Arc<Keypair>,
    /// The axon's hotkey (v2 messages name it).
    receiver: String,
    /// v2 format (the endpoint's version is ≥ 360) or v1.
    v2: bool,
    uid: String,
    clock: NonceClock,
    strict: bool,
    presign: bool,
    /// The last nonce handed out.
    last_nonce: AtomicU64,
    /// The largest nonce put in a call.
    last_sent: AtomicU64,
    ready: Mutex<Option<Header>>,
    /// A presigning job for this signer is queued.
    queued: AtomicBool,
    /// Calls that used a presigned header.
    used: AtomicU64,
}

/// How a [`Signer`] is set up.
pub(crate) struct SignerSpec {
    pub keypair: Arc<Keypair>,
    pub receiver: String,
    pub v2: bool,
    pub uid: String,
    pub clock: NonceClock,
    pub strict: bool,
    pub presign: bool,
}

impl Signer {
    pub(crate) fn new(spec: SignerSpec) -> Self {
        Self {
            presign: spec.presign && spec.strict,
            keypair: spec.keypair,
            receiver: spec.receiver,
            v2: spec.v2,
            uid: spec.uid,
            clock: spec.clock,
            strict: spec.strict,
            last_nonce: AtomicU64::new(0),
            last_sent: AtomicU64::new(0),
            ready: Mutex::new(None),
            queued: AtomicBool::new(false),
            used: AtomicU64::new(0),
        }
    }

    pub(crate) fn uid(&self) -> &str {
        &self.uid
    }

    /// The next nonce: the clock, forced above the previous one unless not strict.
    pub(crate) fn next_nonce(&self) -> u64 {
        let now = self.clock.now_ns();
        if !self.strict {
            self.last_nonce.store(now, Ordering::Relaxed);
            return now;
        }
        let mut prev = self.last_nonce.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev.saturating_add(1));
            match self.last_nonce.compare_exchange_weak(
                prev,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => prev = seen,
            }
        }
    }

    /// A new header with a new nonce.
    fn sign_new(&self) -> Header {
        let nonce = self.next_nonce();
        let sender = self.keypair.ss58();
        let value = if self.v2 {
            let message = signing::legacy_v2_message(nonce, sender, &self.receiver, &self.uid);
            let signature = self.keypair.sign(message.as_bytes());
            signing::legacy_v2_header(nonce, sender, &signature.0, &self.uid)
        } else {
            let message = signing::legacy_v1_message(nonce, sender, &self.uid);
            let signature = self.keypair.sign(message.as_bytes());
            signing::legacy_v1_header(nonce, sender, &signature.0, &self.uid)
        };
        Header { nonce, value }
    }

    /// A new header, not taken from the ready one and not counted as sent.
    pub(crate) fn sign(&self) -> String {
        self.sign_new().value
    }

    /// The header for a call about to be sent: the ready one when its nonce is still above
    /// every nonce sent, else a new one.
    pub(crate) fn take(&self) -> String {
        let ready = lock(&self.ready).take();
        if let Some(header) = ready
            && self.last_sent.fetch_max(header.nonce, Ordering::AcqRel) < header.nonce
        {
            self.used.fetch_add(1, Ordering::Relaxed);
            return header.value;
        }
        let header = self.sign_new();
        self.last_sent.fetch_max(header.nonce, Ordering::AcqRel);
        header.value
    }

    /// Makes the ready header unless there is one (the presigning thread's job).
    fn presign_now(&self) {
        if lock(&self.ready).is_some() {
            return;
        }
        let header = self.sign_new();
        let mut ready = lock(&self.ready);
        if ready.is_none() && header.nonce > self.last_sent.load(Ordering::Acquire) {
            *ready = Some(header);
        }
    }

    /// Calls that used a presigned header.
    pub(crate) fn presigned_calls(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether a presigned header is ready.
    pub(crate) fn has_ready(&self) -> bool {
        lock(&self.ready).is_some()
    }
}

/// Queues the signing of `signer`'s next header on the presigning thread (no-op when
/// presigning is off for it, a job is already queued, or the queue is full).
pub(crate) fn submit(signer: &Arc<Signer>) {
    if !signer.presign || signer.queued.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(thread) = presigner() else {
        signer.queued.store(false, Ordering::Release);
        return;
    };
    thread.shared.pending.fetch_add(1, Ordering::AcqRel);
    if thread.tx.try_send(Arc::downgrade(signer)).is_err() {
        signer.queued.store(false, Ordering::Release);
        thread.shared.done_one();
    }
}

/// Resolves once the presigning thread has nothing queued or in progress: every receptor
/// that finished a call holds its next header (unless a newer call took it). Useful before
/// a latency-sensitive fan-out that follows a pause.
pub async fn presigned() {
    let Some(thread) = PRESIGNER.get().and_then(Option::as_ref) else {
        return;
    };
    loop {
        let notified = thread.shared.idle.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if thread.shared.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        notified.await;
    }
}

struct Shared {
    /// Jobs queued or running.
    pending: AtomicUsize,
    idle: Notify,
}

impl Shared {
    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

struct Presigner {
    tx: SyncSender<Weak<Signer>>,
    shared: Arc<Shared>,
}

static PRESIGNER: OnceLock<Option<Presigner>> = OnceLock::new();

/// The presigning thread, started on first use; `None` if it could not be started.
fn presigner() -> Option<&'static Presigner> {
    PRESIGNER
        .get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            let shared = Arc::new(Shared {
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
            });
            let worker = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("neuron-presign".into())
                .spawn(move || run(&rx, &worker))
                .ok()?;
            Some(Presigner { tx, shared })
        })
        .as_ref()
}

fn run(rx: &Receiver<Weak<Signer>>, shared: &Shared) {
    lower_priority();
    while let Ok(signer) = rx.recv() {
        if let Some(signer) = signer.upgrade() {
            signer.queued.store(false, Ordering::Release);
            signer.presign_now();
        }
        shared.done_one();
    }
}

/// Nice 19 for the calling thread (Linux keeps a nice value per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!("presign thread keeps its priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signer(presign: bool) -> Arc<Signer> {
        let kp = Keypair::from_uri("//Bob").unwrap();
        let receiver = Keypair::from_uri("//Alice").unwrap().ss58().to_owned();
        Arc::new(Signer::new(SignerSpec {
            keypair: Arc::new(kp),
            receiver,
            v2: true,
            uid: "6f1d4c2a-0000-11f1-8000-000000000001".into(),
            clock: NonceClock::monotonic(),
            strict: true,
            presign,
        }))
    }

    fn nonce(header: &str) -> u64 {
        header.split('.').next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_ready_header_is_taken_once_and_nonces_keep_increasing() {
        let s = signer(true);
        s.presign_now();
        assert!(s.has_ready());
        let first = s.take();
        assert_eq!(s.presigned_calls(), 1);
        assert!(!s.has_ready());
        // nothing ready: signs inline, with a larger nonce
        let second = s.take();
        assert_eq!(s.presigned_calls(), 1);
        assert!(nonce(&second) > nonce(&first));
    }

    #[test]
    fn a_ready_header_older_than_a_sent_one_is_dropped() {
        let s = signer(true);
        s.presign_now();
        let presigned = nonce(&lock(&s.ready).as_ref().unwrap().value);
        // a call signs inline meanwhile (as when two calls overlap): take it without the
        // ready header, as `take` does when the ready one is gone
        let ready = lock(&s.ready).take();
        let inline = s.take();
        *lock(&s.ready) = ready;
        assert!(nonce(&inline) > presigned);
        let next = s.take();
        assert_eq!(s.presigned_calls(), 0, "the stale header must not be used");
        assert!(nonce(&next) > nonce(&inline));
    }

    #[test]
    fn presign_now_does_not_store_a_header_below_what_was_sent() {
        let s = signer(true);
        let sent = nonce(&s.take());
        s.presign_now();
        let ready = nonce(&lock(&s.ready).as_ref().unwrap().value);
        assert!(ready > sent);
    }

    #[tokio::test]
    async fn the_thread_presigns_after_submit() {
        let s = signer(true);
        submit(&s);
        presigned().await;
        assert!(s.has_ready());
        let off = signer(false);
        submit(&off);
        presigned().await;
        assert!(!off.has_ready());
    }

    #[test]
    fn the_header_verifies_as_the_axon_checks_it() {
        let s = signer(true);
        s.presign_now();
        let header = s.take();
        let parts: Vec<&str> = header.split('.').collect();
        assert_eq!(parts.len(), 4);
        let message =
            signing::legacy_v2_message(parts[0].parse().unwrap(), parts[1], &s.receiver, parts[3]);
        let sig = neuron_wallet::Signature::from_hex(parts[2]).unwrap();
        let pk = neuron_wallet::PublicKey::from_ss58(parts[1]).unwrap();
        assert!(pk.verify(message.as_bytes(), &sig));
    }
}
