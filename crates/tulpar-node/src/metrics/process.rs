//! The process metrics every Prometheus client library exports (`process_*`), read from `/proc/self`
//! at each scrape: prometheus-client has no process collector.

use std::time::{Duration, SystemTime};

use rustix::process::{Resource, getrlimit};

/// The process as `/proc` shows it now.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessStats {
    /// User and system CPU time.
    pub(crate) cpu_seconds: f64,
    /// Resident set size.
    pub(crate) resident_memory_bytes: u64,
    /// Virtual memory size.
    pub(crate) virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub(crate) open_fds: u64,
    /// The soft limit on open file descriptors.
    pub(crate) max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub(crate) start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads this process's statistics; `None` where `/proc` is not mounted.
    pub(crate) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let mut stats = parse_stat(
            &stat,
            &boot,
            rustix::param::clock_ticks_per_second(),
            rustix::param::page_size() as u64,
        )?;
        // The directory listing holds the descriptor it was read through.
        stats.open_fds = open_fds.saturating_sub(1);
        stats.max_fds = getrlimit(Resource::Nofile).current;
        Some(stats)
    }
}

/// The fields of `/proc/self/stat` (proc(5)) after the command name, which may hold spaces and
/// parentheses, and the boot time from `/proc/stat`.
fn parse_stat(stat: &str, proc_stat: &str, ticks: u64, page_size: u64) -> Option<ProcessStats> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; proc(5) numbers fields from 1.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let (utime, stime) = (field(14)?, field(15)?);
    let (start_ticks, vsize, rss_pages) = (field(22)?, field(23)?, field(24)?);
    let boot_seconds: u64 = proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let ticks = ticks.max(1) as f64;
    let start = SystemTime::UNIX_EPOCH
        + Duration::from_secs(boot_seconds)
        + Duration::from_secs_f64(start_ticks as f64 / ticks);
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / ticks,
        resident_memory_bytes: rss_pages * page_size,
        virtual_memory_bytes: vsize,
        open_fds: 0,
        max_fds: None,
        start_time_seconds: super::unix_seconds(start),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_a_tricky_name_parses() {
        let stat = "4242 (tulpar (node) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    12 0 1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let stats = parse_stat(stat, boot, 100, 4096).unwrap();
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.virtual_memory_bytes, 123_456_789);
        assert_eq!(stats.resident_memory_bytes, 300 * 4096);
        assert_eq!(stats.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn this_process_is_read() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_memory_bytes > 0);
        assert!(stats.open_fds >= 3, "{stats:?}");
        assert!(stats.start_time_seconds > 1_600_000_000.0);
    }
}
