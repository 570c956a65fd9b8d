use super::kernels::{scan_f32, scan_i8};
use super::store::*;
use super::types::*;
use crate::domain::{PersonId, Timestamp};
use alloc::vec::Vec;

fn store_and_probe(precision: Precision, dim: usize) -> (TemplateStore, Probe) {
    let mut store = TemplateStore::new(dim, precision).unwrap();
    let mut x = 0x1234_5678_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    for p in 0..300 {
        let v: Vec<f32> = (0..dim).map(|_| next()).collect();
        store.insert(PersonId(p), &v, Timestamp::NEVER).unwrap();
    }
    let q: Vec<f32> = (0..dim).map(|_| next()).collect();
    (store, Probe::new(&q, dim).unwrap())
}

/// The runtime-dispatched scans give bit-identical results to the portable bodies that the
/// firmware and other targets run, for dimensions with and without a remainder.
#[test]
fn dispatched_and_portable_scans_agree_bit_for_bit() {
    for dim in [7, 32, 100, 128, 512] {
        for precision in [Precision::F32, Precision::Int8] {
            let (store, probe) = store_and_probe(precision, dim);
            let dispatched = store.search(&probe, 300, -2.0).unwrap();
            let mut portable = Vec::new();
            match precision {
                Precision::F32 => {
                    scan_f32(&store.values_f32, dim, &store.persons, &probe.normalized, 300, -2.0, &mut portable)
                }
                Precision::Int8 => scan_i8(
                    &store.values_i8,
                    &store.scales,
                    dim,
                    &store.persons,
                    &probe.widened,
                    probe.scale,
                    300,
                    -2.0,
                    &mut portable,
                ),
            }
            assert_eq!(dispatched.len(), 300);
            for (a, b) in dispatched.iter().zip(&portable) {
                assert_eq!(a.person, b.person);
                assert_eq!(a.score.to_bits(), b.score.to_bits(), "{precision:?} dim {dim}");
            }
        }
    }
}
