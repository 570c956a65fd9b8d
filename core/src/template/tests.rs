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

/// The Arm kernels' early-exit floor is sound: every dot product below it scores under the
/// threshold at the gallery's largest scale, and the floor itself is the first that may not.
#[test]
fn the_early_exit_floor_never_skips_a_row_that_could_match() {
    let mut x = 0x9E37_79B9_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    for _ in 0..2_000 {
        let threshold = 0.05 + 0.9 * next();
        let scale_max = 1e-5 + 1e-3 * next();
        let qs = 1e-5 + 1e-3 * next();
        let c_max = qs * scale_max;
        let Some(floor) = (Bound { threshold, scale_max }).min_dot(qs) else { continue };
        assert!(floor == 0 || ((floor - 1) as f32) * c_max < threshold, "{floor} too high");
        assert!((floor as f32) * c_max >= threshold || floor >= i32::MAX >> 8, "{floor} too low");
    }
    assert_eq!((Bound { threshold: 0.0, scale_max: 1.0 }).min_dot(1.0), None, "nothing ruled out at 0");
}
