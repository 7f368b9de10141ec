//! Running one future per target as tokio tasks and waiting for all of them, with one
//! wake-up of the caller.
//!
//! A fan-out's calls run as tasks of their own so that signing, encoding and decoding
//! spread over the runtime's worker threads instead of all running on the caller's.
//! Awaiting the tasks' `JoinHandle`s (`join_all`) would wake the caller each time a task
//! ends; a caller on the thread of `Runtime::block_on` (as under `#[tokio::main]`) is
//! parked between those wake-ups, so a fan-out to 256 targets would cost 256 futex wake-ups
//! and context switches of that thread on top of the calls. Here each task puts its output
//! in its own slot and counts down; the task that ends last wakes the caller, once.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::lock;

struct Shared<T> {
    slots: Box<[Mutex<Option<T>>]>,
    left: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

/// Counts one task down when dropped: after its output is stored, or while the task
/// unwinds from a panic or is dropped by a runtime shutting down (its slot stays empty).
struct CountDown<T>(Arc<Shared<T>>);

impl<T> Drop for CountDown<T> {
    fn drop(&mut self) {
        if self.0.left.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(done) = lock(&self.0.done).take()
        {
            let _ = done.send(());
        }
    }
}

/// Aborts the tasks still running when the caller stops waiting for them.
struct AbortOnDrop(Vec<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Spawns every future as a tokio task and returns their outputs in order, once all have
/// ended; `None` for a task that panicked or was cancelled. Dropping the returned future
/// aborts the tasks still running, as dropping the futures themselves would have.
pub(crate) async fn gather<T, F>(futures: Vec<F>) -> Vec<Option<T>>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    if futures.is_empty() {
        return Vec::new();
    }
    let (done, finished) = oneshot::channel();
    let shared = Arc::new(Shared {
        slots: futures.iter().map(|_| Mutex::new(None)).collect(),
        left: AtomicUsize::new(futures.len()),
        done: Mutex::new(Some(done)),
    });
    let mut running = AbortOnDrop(Vec::with_capacity(futures.len()));
    for (i, future) in futures.into_iter().enumerate() {
        let count = CountDown(shared.clone());
        let task = tokio::spawn(async move {
            let output = future.await;
            *lock(&count.0.slots[i]) = Some(output);
            drop(count);
        });
        running.0.push(task.abort_handle());
    }
    // The last task to count down sends. The sender cannot be dropped unsent while
    // `shared`, which holds it, is alive here, so this returns only once all have ended.
    let _ = finished.await;
    running.0.clear();
    shared.slots.iter().map(|slot| lock(slot).take()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outputs_come_back_in_order_whatever_order_tasks_end_in() {
        let futures: Vec<_> = (0..300u64)
            .map(|i| async move {
                // tasks yield a different number of times, so they end out of order
                for _ in 0..(300 - i) % 7 {
                    tokio::task::yield_now().await;
                }
                i * 2
            })
            .collect();
        let out = gather(futures).await;
        assert_eq!(out, (0..300u64).map(|i| Some(i * 2)).collect::<Vec<_>>());
        assert!(
            gather(Vec::<std::future::Ready<u8>>::new())
                .await
                .is_empty()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_task_gives_none_and_the_others_still_count() {
        let futures: Vec<std::pin::Pin<Box<dyn Future<Output = u8> + Send>>> = vec![
            Box::pin(async { 1 }),
            Box::pin(async { panic!("this task fails on purpose") }),
            Box::pin(async { 3 }),
        ];
        let out = tokio::time::timeout(Duration::from_secs(10), gather(futures))
            .await
            .expect("gather must not wait for a task that panicked");
        assert_eq!(out, vec![Some(1), None, Some(3)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_wait_aborts_the_tasks_still_running() {
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let flag = Flag(dropped.clone());
        let never = async move {
            let _flag = flag;
            let _ = started_tx.send(());
            std::future::pending::<u8>().await
        };
        let mut waiting = Box::pin(gather(vec![never]));
        // poll until the task has started, then stop waiting
        tokio::select! {
            _ = &mut waiting => unreachable!("a task that never ends cannot complete"),
            _ = started_rx => {}
        }
        drop(waiting);
        // the aborted task's future is dropped, with its flag
        tokio::time::timeout(Duration::from_secs(10), async {
            while !dropped.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the task was not aborted");
    }

    #[test]
    fn tasks_dropped_by_a_runtime_shutting_down_release_the_caller() {
        // the caller waits on another runtime; the tasks run (and are dropped) on this one
        let tasks = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (ran_tx, ran_rx) = std::sync::mpsc::channel();
        let (out_tx, out_rx) = std::sync::mpsc::channel();
        {
            let handle = tasks.handle().clone();
            std::thread::spawn(move || {
                let _guard = handle.enter();
                let out = futures::executor::block_on(gather(vec![
                    Box::pin(async move {
                        ran_tx.send(()).unwrap();
                        7u8
                    }) as std::pin::Pin<Box<dyn Future<Output = u8> + Send>>,
                    Box::pin(std::future::pending()),
                ]));
                out_tx.send(out).unwrap();
            });
        }
        // the first task has run (its output is stored in the same poll); the second
        // never ends and is dropped by the shutdown
        ran_rx.recv().unwrap();
        tasks.shutdown_timeout(Duration::from_secs(10));
        let out = out_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the caller was never released");
        assert_eq!(out, vec![Some(7), None]);
    }
}
