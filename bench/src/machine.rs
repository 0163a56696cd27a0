//! Which machine a figure came from: CPU model, core count, OS, toolchain, date.

use serde::Serialize;

/// A description of this machine for reports.
#[derive(Clone, Debug, Serialize)]
pub struct MachineInfo {
    /// CPU model name (from /proc/cpuinfo).
    pub cpu: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// `uname -sr`-like OS string.
    pub os: String,
    /// rustc version the binary was built with, when known at build time.
    pub rustc: String,
    /// UTC date and time of the run (RFC 3339, from `date -u`).
    pub date: String,
    /// 1-minute load average when the figures were taken (/proc/loadavg): timings from a
    /// loaded machine are noisier, so every report carries it.
    pub load_average: String,
}

impl MachineInfo {
    /// Reads this machine's description.
    pub fn collect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            cpu,
            cores,
            os: run("uname", &["-sr"]),
            rustc: run("rustc", &["--version"]),
            date: run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|t| t.split_whitespace().next().map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    /// One line: "CPU, N cores, OS, date, load".
    pub fn summary(&self) -> String {
        format!(
            "{}, {} cores, {}, {}, load average {}",
            self.cpu, self.cores, self.os, self.date, self.load_average
        )
    }
}
