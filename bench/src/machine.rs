//! The machine a benchmark ran on, for the report.

use serde_json::{Value, json};

/// CPUs, CPU model and memory of this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// Logical CPUs available to this process (what `nproc` prints).
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo, or "unknown".
    pub cpu_model: String,
    /// `MemTotal` from /proc/meminfo, in bytes (0 if unknown).
    pub memory_bytes: u64,
}

impl Machine {
    /// Reads this machine's description.
    pub fn detect() -> Machine {
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            nproc,
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            memory_bytes: mem_total_bytes(&meminfo).unwrap_or(0),
        }
    }

    /// Total memory in GiB.
    pub fn memory_gib(&self) -> f64 {
        self.memory_bytes as f64 / (1024.0 * 1024.0 * 1024.0)
    }

    /// One line: `2 CPUs, <model>, 7.8 GiB RAM`.
    pub fn summary(&self) -> String {
        let cpus = if self.nproc == 1 { "CPU" } else { "CPUs" };
        format!(
            "{} {cpus}, {}, {:.1} GiB RAM",
            self.nproc,
            self.cpu_model,
            self.memory_gib()
        )
    }

    /// As a JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "nproc": self.nproc,
            "cpu_model": self.cpu_model,
            "memory_bytes": self.memory_bytes,
            "memory_gib": round(self.memory_gib(), 2),
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The first `model name` (x86) or `Model`/`Hardware` (ARM) line of /proc/cpuinfo.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu model"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        })
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        let factor = match parts.next() {
            Some("kB") | Some("KB") | Some("kb") => 1024,
            Some("mB") | Some("MB") => 1024 * 1024,
            None => 1,
            Some(_) => return None,
        };
        Some(value * factor)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_x86_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(text).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
    }

    #[test]
    fn reads_arm_cpuinfo() {
        let text =
            "processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(
            cpu_model(text).as_deref(),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn reads_meminfo() {
        let text = "MemTotal:        8039964 kB\nMemFree:          123 kB\n";
        assert_eq!(mem_total_bytes(text), Some(8039964 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn summary_and_json() {
        let m = Machine {
            nproc: 2,
            cpu_model: "Test CPU".into(),
            memory_bytes: 8 * 1024 * 1024 * 1024,
        };
        assert_eq!(m.summary(), "2 CPUs, Test CPU, 8.0 GiB RAM");
        let j = m.to_json();
        assert_eq!(j["nproc"], 2);
        assert_eq!(j["cpu_model"], "Test CPU");
        assert_eq!(j["memory_gib"], 8.0);
    }

    #[test]
    fn detects_something() {
        let m = Machine::detect();
        assert!(m.nproc >= 1);
        assert!(!m.cpu_model.is_empty());
    }
}
