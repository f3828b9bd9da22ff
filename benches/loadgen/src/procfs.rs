//! What other processes cost: CPU time from `/proc/<pid>/stat`, resident
//! memory from `/proc/<pid>/status`, and the whole machine's busy time from
//! `/proc/stat` (so a run can say how much CPU *other* processes took while
//! it measured — on a shared 2-core machine that is the noise floor).

use std::fs;

/// Clock ticks per second, for the jiffies in `/proc`.
fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU time of one process (all its threads), in seconds, split the way the
/// kernel accounts it: its own code against the kernel's work for it
/// (syscalls, the network stack, page cache). The split tells a proxy's
/// per-request pipeline from what the sockets and files cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

impl CpuTimes {
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// utime and stime of one process; zero when it is gone.
pub fn cpu_times(pid: u32) -> CpuTimes {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return CpuTimes::default();
    };
    parse_cpu_times(&stat, ticks_per_sec())
}

/// utime and stime from the text of `/proc/<pid>/stat`.
fn parse_cpu_times(stat: &str, ticks: f64) -> CpuTimes {
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. utime and stime are fields 14 and 15 (1-based), i.e.
    // the 12th and 13th after the name.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return CpuTimes::default();
    };
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0.0, |j| j as f64 / ticks)
    };
    CpuTimes {
        user: next(),
        system: next(),
    }
}

/// Sum of [`cpu_times`] over `pids`.
pub fn cpu_times_all(pids: &[u32]) -> CpuTimes {
    pids.iter()
        .map(|&p| cpu_times(p))
        .fold(CpuTimes::default(), |a, b| CpuTimes {
            user: a.user + b.user,
            system: a.system + b.system,
        })
}

/// utime + stime of one process, in seconds; 0 when it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    cpu_times(pid).total()
}

/// Sum of [`cpu_seconds`] over `pids`.
pub fn cpu_seconds_all(pids: &[u32]) -> f64 {
    cpu_times_all(pids).total()
}

/// Resident set size of one process in bytes (VmRSS); 0 when it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Sum of [`rss_bytes`] over `pids`.
pub fn rss_bytes_all(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| rss_bytes(p)).sum()
}

/// Busy seconds of the whole machine (all CPUs, everything but idle and
/// iowait, steal included) since boot.
pub fn machine_busy_seconds() -> f64 {
    busy_ticks(&machine_ticks()) as f64 / ticks_per_sec()
}

/// Seconds the hypervisor kept this machine's CPUs from running (steal),
/// summed over CPUs, since boot. 0 on bare metal.
pub fn machine_steal_seconds() -> f64 {
    steal_ticks(&machine_ticks()) as f64 / ticks_per_sec()
}

// The columns of /proc/stat's cpu line: user nice system idle iowait irq
// softirq steal guest guest_nice (guest time is already in user and nice).
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const STEAL: usize = 7;

fn busy_ticks(ticks: &[u64]) -> u64 {
    ticks
        .iter()
        .take(STEAL + 1)
        .enumerate()
        .filter(|(i, _)| *i != IDLE && *i != IOWAIT)
        .map(|(_, x)| *x)
        .sum()
}

fn steal_ticks(ticks: &[u64]) -> u64 {
    ticks.get(STEAL).copied().unwrap_or(0)
}

/// The all-CPU line of /proc/stat, in ticks; empty when unreadable.
fn machine_ticks() -> Vec<u64> {
    fs::read_to_string("/proc/stat").map_or_else(|_| Vec::new(), |stat| parse_machine_ticks(&stat))
}

fn parse_machine_ticks(stat: &str) -> Vec<u64> {
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return Vec::new();
    };
    cpu.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Number of CPUs in the machine (not this process's affinity mask).
pub fn cpus() -> usize {
    fs::read_to_string("/proc/stat")
        .map(|s| {
            s.lines()
                .filter(|l| {
                    l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
                })
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(rss_bytes(me) > 0);
        assert!(cpu_seconds(me) >= 0.0);
        assert_eq!(rss_bytes(u32::MAX), 0);
        assert!(machine_busy_seconds() > 0.0);
    }

    #[test]
    fn user_and_system_time_come_from_fields_14_and_15() {
        // A command name with spaces and a ')' of its own, as the kernel
        // prints it; utime 250 and stime 120 ticks.
        let stat =
            "4242 (a b) c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 120 0 0 20 0 3 0 100 0 0";
        let t = parse_cpu_times(stat, 100.0);
        assert_eq!(
            t,
            CpuTimes {
                user: 2.5,
                system: 1.2
            }
        );
        assert!((t.total() - 3.7).abs() < 1e-9);
        let later = CpuTimes {
            user: 3.0,
            system: 2.0,
        };
        assert_eq!(later.since(t).user, 0.5);
        assert!((later.since(t).system - 0.8).abs() < 1e-9);
        assert_eq!(parse_cpu_times("garbage", 100.0), CpuTimes::default());
    }

    #[test]
    fn busy_time_leaves_out_idle_and_iowait_and_steal_is_the_eighth_column() {
        let stat = "cpu  100 2 30 5000 40 0 6 70 9 0\ncpu0 50 1 15 2500 20 0 3 35 0 0\n";
        let ticks = parse_machine_ticks(stat);
        assert_eq!(busy_ticks(&ticks), 100 + 2 + 30 + 6 + 70);
        assert_eq!(steal_ticks(&ticks), 70);
        // A kernel too old to report steal: no steal, no panic.
        let old = parse_machine_ticks("cpu  100 2 30 5000 40 0 6\n");
        assert_eq!((busy_ticks(&old), steal_ticks(&old)), (138, 0));
        assert!(parse_machine_ticks("intr 1 2 3").is_empty());
    }
}
