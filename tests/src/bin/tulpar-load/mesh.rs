//! `tulpar-load mesh`: six countries (KZ, UZ, TJ, TM, KG, AZ) in a full mesh, as `tulpar-node`
//! processes with the production intervals (witnessing every 60 s, trust reload 10 s, directory
//! refresh 15 min).
//!
//! It reports, for every node, its resident memory (VmRSS, and the peak VmHWM) once started and after
//! `--settle-seconds` idle, and the CPU it spent (utime + stime from `/proc/<pid>/stat`) over
//! `--idle-seconds` of idling, as a share of one core. Then KZ fans out: `--alerts` alerts, each to
//! all five partners, `--concurrency` submits in flight (or `--rate` per second, when given); each
//! alert is timed from submit until KZ's watch stream shows the receipt of each partner, and until
//! the fifth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::Federation;

/// The six countries of the mesh, with their units.
pub(crate) const SIX: &[(&str, &[&str])] = &[
    ("KZ", &["KZ-AKTAU-PCU"]),
    ("UZ", &["UZ-TASHKENT-PCU"]),
    ("TJ", &["TJ-DUSHANBE-PCU"]),
    ("TM", &["TM-TURKMENBASHI-PCU"]),
    ("KG", &["KG-BISHKEK-PCU"]),
    ("AZ", &["AZ-ALYAT-PCU"]),
];

/// A process's resident memory now and at its peak, in MiB, from `/proc/<pid>/status`.
pub(crate) fn memory_mib(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The CPU time a process has used (user + system), from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("/proc/{pid}/stat has no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |at: usize| -> Result<u64> {
        fields
            .get(at)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat: no field {}", at + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    // The kernel reports in USER_HZ, 100 on every Linux architecture this runs on.
    Ok(Duration::from_millis(total * 10))
}

fn pids(federation: &Federation) -> Result<Vec<(String, u32)>> {
    federation
        .countries
        .iter()
        .map(|(code, country)| {
            Ok((
                code.clone(),
                country
                    .pid()
                    .with_context(|| format!("{code} is not running"))?,
            ))
        })
        .collect()
}

fn print_memory(federation: &Federation, when: &str) -> Result<()> {
    let mut line = format!("RSS {when} (VmRSS / VmHWM, MiB):");
    for (code, pid) in pids(federation)? {
        let (rss, hwm) = memory_mib(pid)?;
        line.push_str(&format!(" {code} {rss:.1}/{hwm:.1}"));
    }
    println!("{line}");
    Ok(())
}

/// Submission times and receipts seen, by alert id.
#[derive(Default)]
struct Fanout {
    submitted: HashMap<String, Instant>,
    /// Receipt times of alerts whose submit has not been answered yet.
    early: HashMap<String, Vec<Instant>>,
    /// Receipts seen so far per alert, to find the fifth.
    seen: HashMap<String, usize>,
    each: Vec<Duration>,
    all: Vec<Duration>,
}

impl Fanout {
    fn submitted(&mut self, id: String, at: Instant) {
        for receipt in self.early.remove(&id).unwrap_or_default() {
            self.record(&id, at, receipt);
        }
        self.submitted.insert(id, at);
    }

    fn record(&mut self, id: &str, start: Instant, receipt: Instant) {
        let latency = receipt.saturating_duration_since(start);
        self.each.push(latency);
        let seen = self.seen.entry(id.to_owned()).or_default();
        *seen += 1;
        if *seen == 5 {
            self.all.push(latency);
        }
    }
}

impl crate::OnDelivery for Fanout {
    fn delivered(&mut self, id: String, at: Instant) {
        match self.submitted.get(&id) {
            Some(start) => {
                let start = *start;
                self.record(&id, start, at);
            }
            None => self.early.entry(id).or_default().push(at),
        }
    }
}

pub(crate) async fn run(args: &[String]) -> Result<()> {
    let settle = crate::flag(args, "--settle-seconds", 10);
    let idle = crate::flag(args, "--idle-seconds", 60);
    let alerts = crate::flag(args, "--alerts", 5000);
    let concurrency = crate::flag(args, "--concurrency", 64) as usize;
    let rate =
        crate::option(args, "--rate").map(|r| r.parse::<u64>().unwrap_or_else(|_| crate::usage()));

    let mut federation = Federation::new(SIX)?;
    crate::production_settings(&mut federation);
    federation.start_all_processes().await?;
    print_memory(&federation, "once every node serves")?;
    tokio::time::sleep(Duration::from_secs(settle)).await;
    print_memory(&federation, &format!("after {settle} s idle"))?;

    let before: Vec<(String, u32, Duration)> = pids(&federation)?
        .into_iter()
        .map(|(code, pid)| Ok((code, pid, cpu_time(pid)?)))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let elapsed = started.elapsed();
    let mut line = format!(
        "CPU idle over {:.0} s (% of one core):",
        elapsed.as_secs_f64()
    );
    for (code, pid, was) in before {
        let used = cpu_time(pid)?.saturating_sub(was);
        line.push_str(&format!(
            " {code} {:.2}%",
            100.0 * used.as_secs_f64() / elapsed.as_secs_f64()
        ));
    }
    println!("{line}");
    print_memory(&federation, &format!("after {idle} s more idle"))?;

    if alerts == 0 {
        return Ok(());
    }
    let kz = federation.country("KZ");
    let mut watcher = kz.client("focal-point").await?;
    let events = crate::watch(&mut watcher, AlertEventKind::Delivered).await?;
    let timings = Arc::new(Mutex::new(Fanout::default()));
    let receipts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let listener = crate::listen(events, timings.clone(), receipts.clone());
    let officer = kz.client("KZ-AKTAU-PCU").await?;
    let partners: Vec<&str> = SIX.iter().map(|(c, _)| *c).filter(|c| *c != "KZ").collect();
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", partners[0]);
    let first = content.recipients[0].clone();
    content.recipients = partners
        .iter()
        .map(|country| proto::Recipient {
            country: (*country).to_owned(),
            ..first.clone()
        })
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut ticker = rate.map(|rate| {
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        ticker
    });
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..alerts {
        // At a fixed rate the ticker paces the submits; otherwise the permits bound those in flight.
        let permit = match &mut ticker {
            Some(ticker) => {
                ticker.tick().await;
                None
            }
            None => Some(permits.clone().acquire_owned().await?),
        };
        let (mut officer, timings, content) = (officer.clone(), timings.clone(), content.clone());
        tasks.spawn(async move {
            let at = Instant::now();
            let id = officer
                .submit_alert(proto::SubmitAlertRequest {
                    request_id: String::new(),
                    content: Some(content),
                })
                .await?
                .into_inner()
                .alert_id;
            drop(permit);
            timings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .submitted(id, at);
            anyhow::Ok(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let submitted_in = started.elapsed();
    let expected = alerts * partners.len() as u64;
    crate::wait_for_count(
        &receipts,
        expected,
        "receipts",
        &listener,
        Duration::from_secs(180),
    )
    .await?;
    let all_in = started.elapsed();
    listener.abort();
    let how = match rate {
        Some(rate) => format!("{rate}/s"),
        None => format!("concurrency {concurrency}"),
    };
    println!(
        "fan-out to 5 partners, {how}: {alerts} alerts submitted in {:.2} s ({:.0}/s); all {expected} \
         receipts durable at KZ after {:.2} s: {:.0} alerts/s ({:.0} deliveries/s)",
        submitted_in.as_secs_f64(),
        alerts as f64 / submitted_in.as_secs_f64(),
        all_in.as_secs_f64(),
        alerts as f64 / all_in.as_secs_f64(),
        expected as f64 / all_in.as_secs_f64(),
    );
    let (mut each, mut all) = {
        let mut timings = timings.lock().unwrap_or_else(|p| p.into_inner());
        (
            std::mem::take(&mut timings.each),
            std::mem::take(&mut timings.all),
        )
    };
    crate::report(
        "fan-out",
        "submit until one partner's receipt is durable at KZ",
        &mut each,
    );
    crate::report(
        "fan-out",
        "submit until the fifth partner's receipt is durable at KZ",
        &mut all,
    );
    print_memory(&federation, "after the fan-out")?;
    crate::print_warnings(&federation);
    Ok(())
}
