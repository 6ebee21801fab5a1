//! Crash safety: a child process appends under load and is SIGKILLed at random moments; every
//! append it saw acknowledged must survive, the ledger must verify, and appending must continue.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tulpar_ledger::verify_dir;

const CHILD_DIR: &str = "TULPAR_LEDGER_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "TULPAR_LEDGER_CRASH_CHILD_ROUND";
const ROUNDS: u32 = 20;

/// The child side: does nothing unless started by the test below.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let round = std::env::var(CHILD_ROUND).unwrap();
    let (ledger, _) = common::open(std::path::Path::new(&dir));
    let rt = common::runtime();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..16 {
            let ledger = ledger.clone();
            let round = round.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0.. {
                    let id = format!("r{round}-t{task}-{k}");
                    let appended = ledger
                        .append(common::entry(&id, 300 + k % 700))
                        .await
                        .unwrap();
                    println!("ACK {} {id}", appended.index);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// A small xorshift generator; the seed is printed so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = std::env::var("TULPAR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let rt = common::runtime();
    let mut truncations = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let (index, id) = rest.split_once(' ').unwrap();
                    lines.push((index.parse::<u64>().unwrap(), id.to_owned()));
                }
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(40 + rng.next() % 300));
        child.kill().unwrap();
        child.wait().unwrap();
        for (index, id) in reader.join().unwrap() {
            assert!(
                acked.insert(index, id).is_none(),
                "index {index} acknowledged twice"
            );
        }

        let (ledger, report) = common::open(dir.path());
        truncations += usize::from(report.truncated.is_some());
        for (index, id) in &acked {
            let entry = ledger.entry(*index).unwrap_or_else(|e| {
                panic!("round {round}: acknowledged entry {index} lost: {e} (seed {seed})")
            });
            assert_eq!(
                &entry.alert_id, id,
                "round {round}, entry {index} (seed {seed})"
            );
        }
        let appended = rt
            .block_on(ledger.append(common::entry(&format!("parent-{round}"), 10)))
            .unwrap();
        acked.insert(appended.index, format!("parent-{round}"));
        let checkpoint = ledger.latest_checkpoint();
        drop(ledger);
        let verified = verify_dir(dir.path(), None, |_| {}).unwrap();
        assert_eq!(verified.size, checkpoint.size());
        assert_eq!(&verified.root, checkpoint.root());
    }
    println!(
        "{} acknowledged appends over {ROUNDS} kills, {truncations} torn tails cut",
        acked.len()
    );
    assert!(acked.len() > ROUNDS as usize);
}
