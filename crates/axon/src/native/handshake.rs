//! The handshake: the exact bytes each side signs, and the axon's bounded replay cache and
//! session table.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Length of the client nonce, the axon nonce and the session id.
pub const NONCE_LEN: usize = 32;

/// Domain tag of the client's signed message.
pub const HELLO_TAG: &str = "neuron-native-v1/hello";
/// Domain tag of the axon's signed message.
pub const WELCOME_TAG: &str = "neuron-native-v1/welcome";

/// Lowercase hex without prefix.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The message the client signs:
/// `neuron-native-v1/hello.{client_hotkey}.{axon_hotkey}.{timestamp_ns}.{hex(client_nonce)}.{client_uuid}`
/// (UTF-8, no trailing newline).
pub fn hello_message(
    client_hotkey: &str,
    axon_hotkey: &str,
    timestamp_ns: u64,
    client_nonce: &[u8],
    client_uuid: &str,
) -> String {
    format!(
        "{HELLO_TAG}.{client_hotkey}.{axon_hotkey}.{timestamp_ns}.{}.{client_uuid}",
        hex(client_nonce)
    )
}

/// The message the axon signs:
/// `neuron-native-v1/welcome.{axon_hotkey}.{client_hotkey}.{hex(client_nonce)}.{hex(axon_nonce)}.{hex(session_id)}`.
pub fn welcome_message(
    axon_hotkey: &str,
    client_hotkey: &str,
    client_nonce: &[u8],
    axon_nonce: &[u8],
    session_id: &[u8],
) -> String {
    format!(
        "{WELCOME_TAG}.{axon_hotkey}.{client_hotkey}.{}.{}.{}",
        hex(client_nonce),
        hex(axon_nonce),
        hex(session_id)
    )
}

/// A verified peer, as the session table remembers it.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) hotkey: String,
    pub(crate) uuid: String,
    pub(crate) timestamp_ns: u64,
    pub(crate) expires: Instant,
}

/// Why a handshake or a session lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A field is missing or has the wrong length.
    #[error("malformed handshake: {0}")]
    Malformed(&'static str),
    /// The handshake names another axon.
    #[error("handshake is addressed to another axon")]
    WrongAxon,
    /// The timestamp is outside the accepted window.
    #[error("handshake timestamp outside the accepted window")]
    Stale,
    /// The client nonce was seen before.
    #[error("handshake replayed")]
    Replayed,
    /// The signature does not verify for the claimed hotkey.
    #[error("handshake signature does not verify")]
    BadSignature,
    /// A bounded table is full of live entries.
    #[error("too many {0}")]
    Full(&'static str),
}

/// Bounded, TTL-based state of the handshake: seen client nonces and live sessions, with
/// the session ids of each hotkey (oldest first) for the per-hotkey bound.
#[derive(Debug)]
pub(crate) struct Tables {
    nonces: HashMap<[u8; NONCE_LEN], Instant>,
    sessions: HashMap<[u8; NONCE_LEN], Session>,
    by_hotkey: HashMap<String, VecDeque<[u8; NONCE_LEN]>>,
    max_nonces: usize,
    max_sessions: usize,
    max_per_hotkey: usize,
}

impl Tables {
    pub(crate) fn new(max_nonces: usize, max_sessions: usize, max_per_hotkey: usize) -> Self {
        Self {
            nonces: HashMap::new(),
            sessions: HashMap::new(),
            by_hotkey: HashMap::new(),
            max_nonces,
            max_sessions,
            max_per_hotkey: max_per_hotkey.max(1),
        }
    }

    /// Forgets session `id` of `hotkey` in the per-hotkey index.
    fn unindex(&mut self, hotkey: &str, id: &[u8; NONCE_LEN]) {
        if let Some(ids) = self.by_hotkey.get_mut(hotkey) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.by_hotkey.remove(hotkey);
            }
        }
    }

    /// Drops expired sessions (and their index entries).
    fn purge(&mut self, now: Instant) {
        let by_hotkey = &mut self.by_hotkey;
        self.sessions.retain(|id, s| {
            let live = s.expires > now;
            if !live && let Some(ids) = by_hotkey.get_mut(&s.hotkey) {
                ids.retain(|x| x != id);
            }
            live
        });
        self.by_hotkey.retain(|_, ids| !ids.is_empty());
    }

    /// Records a client nonce until `until`; fails if it is already known or the cache is
    /// full of unexpired nonces.
    pub(crate) fn remember_nonce(
        &mut self,
        nonce: [u8; NONCE_LEN],
        now: Instant,
        until: Instant,
    ) -> Result<(), HandshakeError> {
        if self.nonces.get(&nonce).is_some_and(|&t| t > now) {
            return Err(HandshakeError::Replayed);
        }
        if self.nonces.len() >= self.max_nonces {
            self.nonces.retain(|_, t| *t > now);
            if self.nonces.len() >= self.max_nonces {
                return Err(HandshakeError::Full("handshakes in flight"));
            }
        }
        self.nonces.insert(nonce, until);
        Ok(())
    }

    /// Stores a new session. A hotkey at its bound loses its oldest session first; fails
    /// when the whole table is full of live sessions.
    pub(crate) fn insert_session(
        &mut self,
        id: [u8; NONCE_LEN],
        session: Session,
        now: Instant,
    ) -> Result<(), HandshakeError> {
        let own = self.by_hotkey.get(&session.hotkey).map_or(0, VecDeque::len);
        if own >= self.max_per_hotkey
            && let Some(oldest) = self
                .by_hotkey
                .get_mut(&session.hotkey)
                .and_then(VecDeque::pop_front)
        {
            self.sessions.remove(&oldest);
        }
        if self.sessions.len() >= self.max_sessions {
            self.purge(now);
            if self.sessions.len() >= self.max_sessions {
                return Err(HandshakeError::Full("sessions"));
            }
        }
        self.by_hotkey
            .entry(session.hotkey.clone())
            .or_default()
            .push_back(id);
        self.sessions.insert(id, session);
        Ok(())
    }

    /// Live sessions of `hotkey`.
    pub(crate) fn sessions_of(&self, hotkey: &str) -> usize {
        self.by_hotkey.get(hotkey).map_or(0, VecDeque::len)
    }

    /// The live session with this id (expired ones are removed).
    pub(crate) fn session(&mut self, key: &[u8; NONCE_LEN], now: Instant) -> Option<Session> {
        match self.sessions.get(key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                if let Some(gone) = self.sessions.remove(key) {
                    self.unindex(&gone.hotkey, key);
                }
                None
            }
            None => None,
        }
    }

    /// Number of stored sessions (live or not yet purged).
    pub(crate) fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

/// `now + d` (`now` itself if that overflows, i.e. already expired: fail closed).
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}
