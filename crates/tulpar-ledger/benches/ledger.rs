//! Ledger benchmarks: durable append throughput, proofs, open, the check of the closed segments and
//! full verification at 1M entries.
//!
//! The 1M-entry ledger (1 KiB entries) is built once per run in a temporary directory.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tulpar_core::keys::SigningKey;
use tulpar_ledger::{Ledger, LedgerOptions, verify_dir};
use tulpar_proto::v1::{LedgerEntry, TrustPinned, ledger_entry::Kind};

const BIG: u64 = 1_000_000;

fn key() -> SigningKey {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[7u8; 32]);
    SigningKey::from_pkcs8_der(&der).unwrap()
}

fn open(dir: &Path) -> Ledger {
    Ledger::open(
        dir,
        LedgerOptions {
            origin: "tulpar/KZ".to_owned(),
            signing_key: key(),
            earlier_keys: Vec::new(),
            views: vec![],
        },
    )
    .unwrap()
    .0
}

/// An entry whose encoding is 1024 bytes.
fn entry(i: u64) -> LedgerEntry {
    let mut e = LedgerEntry {
        recorded_at: None,
        alert_id: format!("ALERT-{:08}", i % 100_000),
        kind: Some(Kind::TrustPinned(TrustPinned {
            country: "UZ".to_owned(),
            root_public_key: vec![0x5a; 980],
            pinned_by: "bench".to_owned(),
        })),
    };
    let len = prost::Message::encoded_len(&e);
    if let Some(Kind::TrustPinned(t)) = &mut e.kind {
        t.root_public_key.resize(980 + 1024 - len, 0x5a);
    }
    e
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `total` entries with `appenders` concurrent tasks.
async fn append_many(ledger: &Ledger, appenders: u64, total: u64) {
    let per = total / appenders;
    let tasks: Vec<_> = (0..appenders)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for k in 0..per {
                    ledger.append(entry(t * per + k)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn append_throughput(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("append_1KiB_durable");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for appenders in [1u64, 16, 256] {
        let per_iter = appenders * if appenders == 1 { 64 } else { 32 };
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        group.throughput(Throughput::Elements(per_iter));
        group.bench_with_input(
            BenchmarkId::from_parameter(appenders),
            &appenders,
            |b, &appenders| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        rt.block_on(append_many(&ledger, appenders, per_iter));
                    }
                    start.elapsed()
                });
            },
        );
    }
    group.finish();
}

struct Big {
    dir: tempfile::TempDir,
    ledger: Ledger,
}

fn build_big(rt: &tokio::runtime::Runtime) -> Big {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let start = Instant::now();
    rt.block_on(append_many(&ledger, 1000, BIG));
    let took = start.elapsed();
    println!(
        "built a {BIG}-entry ledger in {took:.1?} ({:.0} entries/s with 1000 appenders)",
        BIG as f64 / took.as_secs_f64()
    );
    let segs = dir_bytes(&dir.path().join("segments"));
    let index = dir_bytes(&dir.path().join("index"));
    println!(
        "disk: segments {:.1} B/entry (entry 1024 B), sled index {:.1} B/entry, total {:.1} B/entry",
        segs as f64 / BIG as f64,
        index as f64 / BIG as f64,
        (segs + index) as f64 / BIG as f64
    );
    Big { dir, ledger }
}

fn at_one_million(c: &mut Criterion) {
    let rt = runtime();
    let big = build_big(&rt);
    let ledger = big.ledger.clone();
    let mut group = c.benchmark_group("ledger_1M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| ledger.inclusion_proof(next() % BIG, BIG).unwrap())
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            ledger
                .consistency_proof(1 + next() % (BIG - 1), BIG)
                .unwrap()
        })
    });
    group.bench_function("entry_read", |b| {
        b.iter(|| ledger.entry(next() % BIG).unwrap())
    });
    drop(ledger);
    drop(big.ledger);
    let path = big.dir.path().to_owned();
    group.bench_function("open", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let ledger = open(&path);
                total += start.elapsed();
                drop(ledger);
            }
            total
        })
    });
    group.measurement_time(Duration::from_secs(20));
    // What a node checks in the background at start: every closed segment (all but the last).
    let opened = open(&path);
    let checked = opened.check_closed_segments(|_| {}, || false).unwrap();
    println!(
        "check_closed_segments covers {} entries in {} segments ({:.0} MiB)",
        checked.entries,
        checked.segments,
        checked.bytes as f64 / f64::from(1u32 << 20)
    );
    group.throughput(Throughput::Elements(checked.entries));
    group.bench_function("check_closed_segments", |b| {
        b.iter(|| {
            let report = opened.check_closed_segments(|_| {}, || false).unwrap();
            assert!(report.damage.is_empty());
        })
    });
    drop(opened);
    group.throughput(Throughput::Elements(BIG));
    group.bench_function("verify_all", |b| {
        b.iter(|| {
            let report = verify_dir(&path, None, |_| {}).unwrap();
            assert_eq!(report.size, BIG);
        })
    });
    group.finish();
}

criterion_group!(benches, append_throughput, at_one_million);
criterion_main!(benches);
