//! Minting one leaf certificate (`switchyard::ca::leaf::mint`: a fresh P-256
//! key, signed by the CA), and a leaf-cache miss (mint plus the rustls
//! server config built from it) — the CPU part of a first CONNECT to a new
//! host.
//!
//! `cargo bench -p loadgen --bench leaf`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::ca::leaf::{mint, LeafCache};
use switchyard::ca::{Authority, CaPaths};

fn authority() -> Authority {
    // A throw-away CA in a per-process temp directory.
    let dir = std::env::temp_dir().join(format!("switchyard-bench-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let paths = CaPaths {
        cert: dir.join("ca.pem"),
        key: dir.join("ca-key.pem"),
    };
    Authority::load_or_create(&paths).expect("CA")
}

fn bench(c: &mut Criterion) {
    let ca = Arc::new(authority());
    c.bench_function("leaf_mint", |b| {
        b.iter(|| mint(&ca, "api.bench.test").expect("mint"))
    });
    let cache = LeafCache::new(ca.clone());
    let n = AtomicU64::new(0);
    c.bench_function("leaf_cache_miss", |b| {
        b.iter(|| {
            let host = format!("h{}.bench.test", n.fetch_add(1, Ordering::Relaxed));
            cache.server_config(&host).expect("config")
        })
    });
    c.bench_function("leaf_cache_hit", |b| {
        cache.server_config("warm.bench.test").expect("config");
        b.iter(|| cache.server_config("warm.bench.test").expect("config"))
    });
    if let Some(dir) = ca.paths.cert.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
