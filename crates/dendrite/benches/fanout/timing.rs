//! Timing helpers shared by the fan-out benchmarks.
#![allow(dead_code)]

use std::time::Duration;

/// CPU time used by the whole process so far (every thread, user and system).
pub fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The p50 and p90 of a round's wall time, and the median CPU time of a round.
pub struct Timing {
    pub p50: Duration,
    pub p90: Duration,
    pub cpu: Duration,
}

impl Timing {
    /// From each round's wall and CPU times.
    pub fn of(mut wall: Vec<Duration>, mut cpu: Vec<Duration>) -> Self {
        wall.sort();
        cpu.sort();
        Self {
            p50: percentile(&wall, 0.5),
            p90: percentile(&wall, 0.9),
            cpu: percentile(&cpu, 0.5),
        }
    }
}

/// The value at fraction `p` of `sorted` (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The command line's arguments that are not `--flags`, in order.
pub fn positional_args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}
