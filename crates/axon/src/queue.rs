//! A bounded priority queue in front of the handlers, shared by every dialect.
//!
//! At most `workers` handlers run at once. Requests beyond that wait in a heap ordered by
//! the priority hook's value (higher first, first-come first-served among equals); when
//! `capacity` requests are already waiting, a new one is refused at once so the axon sheds
//! load instead of building an unbounded backlog. A waiter that goes away (client
//! disconnect, timeout) gives up its place; a slot handed to a waiter that has just gone away
//! is passed on to the next one.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The queue is full: the request is refused (HTTP 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue full")]
pub struct QueueFull;

/// Concurrency limit plus a bounded wait queue ordered by priority.
#[derive(Debug, Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workers: usize,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    next_seq: u64,
    waiting: BinaryHeap<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    priority: f64,
    seq: u64,
    slot: oneshot::Sender<Permit>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    /// Max-heap order: higher priority first, then the earlier arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A running slot; dropping it lets the next waiter (by priority) run.
#[derive(Debug)]
pub struct Permit {
    scheduler: Option<Scheduler>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.release();
        }
    }
}

impl Scheduler {
    /// A scheduler running at most `workers` jobs (at least one) with at most `capacity`
    /// waiting.
    pub fn new(workers: usize, capacity: usize) -> Self {
        Scheduler {
            inner: Arc::new(Inner {
                workers: workers.max(1),
                capacity,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No critical section can panic half-way, so a poisoned state is still consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a slot. `priority` orders this request among the waiting ones (NaN counts
    /// as the lowest). Fails at once with [`QueueFull`] when the wait queue is full.
    pub async fn acquire(&self, priority: f64) -> Result<Permit, QueueFull> {
        let priority = if priority.is_nan() {
            f64::NEG_INFINITY
        } else {
            priority
        };
        let receiver = {
            let mut state = self.lock();
            if state.running < self.inner.workers && state.waiting.is_empty() {
                state.running += 1;
                return Ok(Permit {
                    scheduler: Some(self.clone()),
                });
            }
            if state.waiting.len() >= self.inner.capacity {
                // Waiters that already gave up do not count against the bound.
                state.waiting.retain(|w| !w.slot.is_closed());
                if state.waiting.len() >= self.inner.capacity {
                    return Err(QueueFull);
                }
            }
            let (slot, receiver) = oneshot::channel();
            let seq = state.next_seq;
            state.next_seq = state.next_seq.wrapping_add(1);
            state.waiting.push(Waiter {
                priority,
                seq,
                slot,
            });
            receiver
        };
        // The sender lives in the heap until a slot is handed over; it is only dropped
        // unsent if the scheduler itself goes away, which cannot happen while `self` lives.
        receiver.await.map_err(|_| QueueFull)
    }

    /// Hands the slot of a finished job to the best live waiter, or frees it.
    fn release(&self) {
        loop {
            let waiter = {
                let mut state = self.lock();
                match state.waiting.pop() {
                    Some(waiter) => waiter,
                    None => {
                        state.running = state.running.saturating_sub(1);
                        return;
                    }
                }
            };
            let permit = Permit {
                scheduler: Some(self.clone()),
            };
            match waiter.slot.send(permit) {
                Ok(()) => return,
                // The waiter gave up: disarm the returned permit (the slot is still ours)
                // and offer it to the next one.
                Err(mut unused) => {
                    unused.scheduler = None;
                }
            }
        }
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// The concurrency limit.
    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// The wait-queue bound.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn orders_waiters_by_priority_then_arrival() {
        let s = Scheduler::new(1, 8);
        let first = s.acquire(0.0).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let mut tasks = Vec::new();
        for (name, p) in [("low", 1.0), ("high", 9.0), ("mid", 5.0), ("mid2", 5.0)] {
            let s2 = s.clone();
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = s2.acquire(p).await.unwrap();
                tx.send(name).await.unwrap();
            }));
            // Each waiter must be queued before the next one arrives.
            while s.waiting() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        let mut order = Vec::new();
        for _ in 0..4 {
            order.push(rx.recv().await.unwrap());
        }
        assert_eq!(order, ["high", "mid", "mid2", "low"]);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.running(), 0);
    }

    #[tokio::test]
    async fn refuses_when_full_and_skips_abandoned_waiters() {
        let s = Scheduler::new(1, 1);
        let first = s.acquire(0.0).await.unwrap();
        let s2 = s.clone();
        let abandoned = tokio::spawn(async move { s2.acquire(1.0).await.map(|_| ()) });
        while s.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(s.acquire(2.0).await.err(), Some(QueueFull));
        abandoned.abort();
        let _ = abandoned.await;
        drop(first);
        assert_eq!(s.running(), 0);
        assert_eq!(s.waiting(), 0);
        let again = s.acquire(0.0).await.unwrap();
        assert_eq!(s.running(), 1);
        drop(again);
        assert_eq!(s.running(), 0);
    }
}
