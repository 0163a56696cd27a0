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

/// The core clock in GHz while every core is busy, measured: each of `cores` threads times a
/// chain of dependent 64-bit multiplies (`imul`: 3 cycles' latency on every x86-64 core from
/// Intel Core 2 and AMD Zen on; a chain of `add reg, 1` would not do, since recent Intel cores
/// fold small immediates at rename and it ran at a "21 GHz" here), after a warm-up that lets
/// the cores reach their all-core boost. The median of the threads' rates. `None` off x86-64. Under a hypervisor /proc/cpuinfo reports the
/// nominal clock, which boost can exceed by half (a 2.6 GHz "cpu MHz" measured here at 3.9),
/// and a peak computed from it would flatter every fraction of it.
pub fn measured_clock_ghz(cores: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        fn chain(rounds: u64) -> f64 {
            let t = std::time::Instant::now();
            let mut x = 3u64;
            for _ in 0..rounds {
                // SAFETY: register-only arithmetic, no memory or flags the compiler relies on.
                unsafe {
                    core::arch::asm!(
                        "imul {x}, {x}", "imul {x}, {x}", "imul {x}, {x}", "imul {x}, {x}",
                        "imul {x}, {x}", "imul {x}, {x}", "imul {x}, {x}", "imul {x}, {x}",
                        x = inout(reg) x,
                        options(nomem, nostack),
                    );
                }
            }
            std::hint::black_box(x);
            (3 * 8 * rounds) as f64 / t.elapsed().as_secs_f64() / 1e9
        }
        let mut rates: Vec<f64> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..cores.max(1))
                .map(|_| {
                    s.spawn(|| {
                        chain(25_000_000);
                        chain(50_000_000)
                    })
                })
                .collect();
            threads.into_iter().filter_map(|t| t.join().ok()).collect()
        });
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cores;
        None
    }
}
