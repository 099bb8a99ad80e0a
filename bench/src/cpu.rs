//! Where the CPU went during a measured period: the gateway, PostgreSQL, the benchmark itself
//! and the whole machine, from `/proc` (Linux; zeros elsewhere).

use std::time::Instant;

use serde_json::{Value, json};

/// Clock ticks per second of `/proc/*/stat` and `/proc/stat` (`getconf CLK_TCK`: 100 on every
/// Linux the benchmark targets).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time so far, in ticks.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    gateway: u64,
    postgres: u64,
    bench: u64,
    busy: u64,
}

impl Snapshot {
    /// Reads the counters now; `gateway` is the gateway's process id.
    pub fn take(gateway: Option<u32>) -> Snapshot {
        let proc_ticks = |pid: &str| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| process_ticks(&s).map(|(_, t)| t))
                .unwrap_or(0)
        };
        Snapshot {
            at: Instant::now(),
            gateway: gateway.map(|p| proc_ticks(&p.to_string())).unwrap_or(0),
            postgres: postgres_ticks(),
            bench: proc_ticks("self"),
            busy: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| busy_ticks(&s))
                .unwrap_or(0),
        }
    }

    /// Cores used on average between `self` and `later`.
    pub fn until(&self, later: &Snapshot) -> CpuUse {
        let secs = later.at.saturating_duration_since(self.at).as_secs_f64();
        let cores = |a: u64, b: u64| {
            if secs > 0.0 {
                b.saturating_sub(a) as f64 / TICKS_PER_SEC / secs
            } else {
                0.0
            }
        };
        CpuUse {
            gateway: cores(self.gateway, later.gateway),
            postgres: cores(self.postgres, later.postgres),
            bench: cores(self.bench, later.bench),
            machine: cores(self.busy, later.busy),
        }
    }
}

/// Average cores in use over a period.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuUse {
    /// `openbsp serve`.
    pub gateway: f64,
    /// Every `postgres` process of the machine (0 on SQLite runs, bar other users).
    pub postgres: f64,
    /// This benchmark (the receiver and the load).
    pub bench: f64,
    /// The whole machine (busy, not idle or waiting for I/O).
    pub machine: f64,
}

impl CpuUse {
    /// The rest of the machine's busy time: other processes (a build, the kernel's threads).
    pub fn other(self) -> f64 {
        (self.machine - self.gateway - self.postgres - self.bench).max(0.0)
    }

    /// `gateway 1.52, postgres 0.20, bench 0.25, other 0.01: machine 1.98 cores`.
    pub fn summary(self) -> String {
        format!(
            "gateway {:.2}, postgres {:.2}, bench {:.2}, other {:.2}: machine {:.2} cores",
            self.gateway,
            self.postgres,
            self.bench,
            self.other(),
            self.machine
        )
    }

    /// As a JSON object.
    pub fn to_json(self) -> Value {
        let r = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "gateway": r(self.gateway),
            "postgres": r(self.postgres),
            "bench": r(self.bench),
            "other": r(self.other()),
            "machine": r(self.machine),
        })
    }
}

/// `(comm, utime + stime)` of a `/proc/<pid>/stat` line.
pub fn process_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After the comm: state (field 3), …, utime (14), stime (15).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Busy ticks of the machine: the `cpu` line of `/proc/stat` without idle and iowait.
pub fn busy_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user].
    let total: u64 = v.iter().take(8).sum();
    Some(total.saturating_sub(*v.get(3)? + v.get(4).copied().unwrap_or(0)))
}

/// CPU ticks of every process named `postgres`.
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| process_ticks(&s))
        .filter(|(comm, _)| comm == "postgres")
        .map(|(_, t)| t)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_process_stat() {
        let stat = "6916 (tokio (x) y) R 6909 6909 32677 0 -1 4194304 100 0 0 0 250 31 0 0 20 0 1 0 160826 3133440 362";
        assert_eq!(process_ticks(stat), Some(("tokio (x) y".into(), 281)));
        assert_eq!(process_ticks("garbage"), None);
    }

    #[test]
    fn reads_machine_stat() {
        let stat = "cpu  117542 0 22346 177371 1635 0 409 59 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(busy_ticks(stat), Some(117_542 + 22_346 + 409 + 59));
        assert_eq!(busy_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn measures_this_process() {
        let a = Snapshot::take(Some(std::process::id()));
        // Busy until this process has used 150 ms of CPU, however much of a core the machine
        // gives it (a loaded machine gave it a fifth: a test of the wall clock failed there).
        let t = Instant::now();
        let mut x = 0u64;
        while Snapshot::take(None).bench < a.bench + 15 && t.elapsed().as_secs() < 30 {
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        let b = Snapshot::take(Some(std::process::id()));
        let u = a.until(&b);
        assert!(x > 0);
        assert!(b.bench >= a.bench + 15, "{a:?} {b:?}");
        // Its share of the period: some of one core, never more than the machine has.
        assert!(u.bench > 0.0 && u.bench < 4.0, "{u:?}");
        // The same process, read as the gateway.
        assert!(u.gateway > 0.0, "{u:?}");
        assert!(u.summary().contains("cores"));
        assert_eq!(CpuUse::default().to_json()["machine"], 0.0);
        let busy = CpuUse {
            gateway: 1.0,
            postgres: 0.25,
            bench: 0.25,
            machine: 1.75,
        };
        assert!((busy.other() - 0.25).abs() < 1e-9);
        assert_eq!(
            busy.summary(),
            "gateway 1.00, postgres 0.25, bench 0.25, other 0.25: machine 1.75 cores"
        );
    }
}
