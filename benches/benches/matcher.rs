//! 1:N search at 512-d, f32 and int8, N = 1,000 / 10,000 / 100,000, on one core.
//!
//! Besides criterion's statistics, prints this machine's single-core read bandwidth (a plain
//! large-array sum, measured in the same run) and each search's bytes/s as a fraction of it:
//! an exhaustive scan cannot beat reading the gallery once, so that fraction is the honest
//! efficiency figure. Aim: int8 ≥ 70 %.
//!
//! Two yardsticks are printed because server last-level caches are large (260 MiB on the dev
//! machine): DRAM bandwidth (a 1 GiB array) and the read bandwidth of an array of the gallery's
//! own size, which is what the search is really up against. N = 1,000,000 int8 (512 MB) is
//! added as the case that must come from DRAM.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use gatelab_benches::{gallery, median_secs, probes, read_bandwidth};
use gatelab_core::template::Precision;

const DIM: usize = 512;
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn main() {
    let bandwidth = read_bandwidth(1 << 30, 5);
    println!("single-core DRAM read bandwidth: {:.2} GB/s (1 GiB sequential sum, best of 5)", bandwidth / 1e9);

    let mut criterion = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let probes = probes(16, DIM);
    let mut summary = Vec::new();
    for precision in [Precision::F32, Precision::Int8] {
        let mut group = criterion.benchmark_group(format!("search_512d_{precision:?}").to_lowercase());
        let dram_case = (precision == Precision::Int8).then_some(1_000_000);
        for n in SIZES.into_iter().chain(dram_case) {
            let store = gallery(n, DIM, precision);
            let bytes = store.gallery_bytes();
            group.throughput(Throughput::Bytes(bytes as u64));
            let mut top = Vec::with_capacity(10);
            let mut i = 0;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| {
                    i = (i + 1) % probes.len();
                    store.search_into(&probes[i], 10, -1.0, &mut top).expect("same dimension");
                    black_box(&top);
                })
            });
            let batch = (2_000_000 / n).max(1);
            let secs = median_secs(15, batch, || {
                i = (i + 1) % probes.len();
                store.search_into(&probes[i], 10, -1.0, &mut top).expect("same dimension");
                black_box(&top);
            });
            summary.push((precision, n, bytes, secs, read_bandwidth(bytes, 9)));
        }
        group.finish();
    }

    println!();
    println!("1:N search, {DIM}-d, top-10, one core; DRAM read bandwidth {:.2} GB/s", bandwidth / 1e9);
    println!(
        "{:<5} {:>9} {:>11} {:>9} {:>8} {:>14} {:>9} {:>9}",
        "type", "N", "gallery MB", "ms/probe", "GB/s", "same-size read", "of that", "of DRAM"
    );
    for (precision, n, bytes, secs, same_size) in summary {
        let rate = bytes as f64 / secs;
        println!(
            "{:<5} {:>9} {:>11.1} {:>9.3} {:>8.2} {:>9.2} GB/s {:>8.0}% {:>8.0}%",
            format!("{precision:?}").to_lowercase(),
            n,
            bytes as f64 / 1e6,
            secs * 1e3,
            rate / 1e9,
            same_size / 1e9,
            100.0 * rate / same_size,
            100.0 * rate / bandwidth
        );
    }
    criterion.final_summary();
}
