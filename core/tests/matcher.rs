//! Template store and 1:N matcher: normalisation, int8 agreement with f32, top-k order,
//! deterministic ties, deletion, deadlines and a 100,000-template gallery.

use gatelab_core::template::{Precision, Probe, TemplateError, TemplateStore};
use gatelab_core::{PersonId, Timestamp};
use proptest::prelude::*;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn vector(seed: u64, dim: usize) -> Vec<f32> {
    (0..dim as u64).map(|i| (splitmix(seed << 16 | i) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

fn noisy(base: &[f32], seed: u64, amount: f32) -> Vec<f32> {
    base.iter().zip(vector(seed ^ 0xABCD_0000, base.len())).map(|(b, n)| b + amount * n).collect()
}

const NEVER: Timestamp = Timestamp::NEVER;

#[test]
fn bad_embeddings_are_refused_with_a_reason() {
    let mut store = TemplateStore::new(4, Precision::F32).unwrap();
    assert_eq!(
        store.insert(PersonId(1), &[1.0, 2.0], NEVER),
        Err(TemplateError::WrongDimension { expected: 4, got: 2 })
    );
    assert_eq!(store.insert(PersonId(1), &[1.0, f32::NAN, 0.0, 0.0], NEVER), Err(TemplateError::NotFinite));
    assert_eq!(store.insert(PersonId(1), &[0.0; 4], NEVER), Err(TemplateError::ZeroVector));
    // Huge but finite values normalise without overflowing.
    store.insert(PersonId(1), &[f32::MAX, f32::MAX, 0.0, 0.0], NEVER).unwrap();
    assert!(!store.is_empty());
    assert!(TemplateStore::new(0, Precision::Int8).is_err());
    assert!(TemplateStore::new(100_000, Precision::Int8).is_err());
    assert!(Probe::new(&[1.0; 3], 4).is_err());
    let probe = Probe::new(&[1.0; 8], 8).unwrap();
    assert!(store.search(&probe, 1, 0.0).is_err(), "a probe of another dimension is refused");
}

#[test]
fn genuine_probes_find_their_person_in_both_precisions() {
    for precision in [Precision::F32, Precision::Int8] {
        for dim in [128, 512] {
            let mut store = TemplateStore::new(dim, precision).unwrap();
            for p in 0..500u32 {
                store.insert(PersonId(p), &vector(u64::from(p), dim), NEVER).unwrap();
            }
            for p in (0..500u32).step_by(37) {
                let probe = Probe::new(&noisy(&vector(u64::from(p), dim), u64::from(p), 0.3), dim).unwrap();
                let top = store.search(&probe, 3, 0.4).unwrap();
                assert_eq!(top.first().map(|c| c.person), Some(PersonId(p)), "{precision:?} {dim}");
                assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
            }
            // A stranger scores below threshold.
            let stranger = Probe::new(&vector(99_999, dim), dim).unwrap();
            assert!(store.search(&stranger, 1, 0.4).unwrap().is_empty());
        }
    }
}

#[test]
fn ties_go_to_the_smaller_person_id() {
    for precision in [Precision::F32, Precision::Int8] {
        let mut store = TemplateStore::new(8, precision).unwrap();
        let v = vector(1, 8);
        // Inserted out of order; identical templates score identically.
        for p in [9u32, 3, 7, 5] {
            store.insert(PersonId(p), &v, NEVER).unwrap();
        }
        let probe = Probe::new(&v, 8).unwrap();
        let top: Vec<u32> = store.search(&probe, 4, -1.0).unwrap().iter().map(|c| c.person.0).collect();
        assert_eq!(top, vec![3, 5, 7, 9]);
        let top: Vec<u32> = store.search(&probe, 2, -1.0).unwrap().iter().map(|c| c.person.0).collect();
        assert_eq!(top, vec![3, 5]);
    }
}

#[test]
fn a_hundred_thousand_templates_on_the_host() {
    let dim = 128;
    let n = 100_000u32;
    let mut store = TemplateStore::new(dim, Precision::Int8).unwrap();
    store.reserve(n as usize);
    for p in 0..n {
        store.insert(PersonId(p), &vector(u64::from(p), dim), NEVER).unwrap();
    }
    assert_eq!(store.len(), n as usize);
    assert_eq!(store.gallery_bytes(), n as usize * (dim + 4));
    for p in [0u32, 54_321, n - 1] {
        let probe = Probe::new(&noisy(&vector(u64::from(p), dim), 7, 0.3), dim).unwrap();
        assert_eq!(store.search(&probe, 1, 0.4).unwrap()[0].person, PersonId(p));
    }
    // Deleting from the middle keeps every other template findable.
    assert!(store.remove(PersonId(54_321)));
    let probe = Probe::new(&vector(54_321, dim), dim).unwrap();
    assert!(store.search(&probe, 1, 0.4).unwrap().is_empty());
    let probe = Probe::new(&vector(u64::from(n - 1), dim), dim).unwrap();
    assert_eq!(store.search(&probe, 1, 0.4).unwrap()[0].person, PersonId(n - 1));
}

#[test]
fn expired_templates_go_in_id_order() {
    let mut store = TemplateStore::new(4, Precision::Int8).unwrap();
    store.insert(PersonId(5), &[1.0, 0.0, 0.0, 0.0], Timestamp(100)).unwrap();
    store.insert(PersonId(2), &[0.0, 1.0, 0.0, 0.0], Timestamp(50)).unwrap();
    store.insert(PersonId(8), &[0.0, 0.0, 1.0, 0.0], Timestamp(300)).unwrap();
    assert_eq!(store.next_deadline(), Timestamp(50));
    let mut gone = Vec::new();
    store.remove_expired(Timestamp(100), |p| gone.push(p.0));
    assert_eq!(gone, vec![2, 5]);
    assert_eq!(store.next_deadline(), Timestamp(300));
    assert!(store.set_deadline(PersonId(8), Timestamp(10)));
    assert_eq!(store.next_deadline(), Timestamp(10));
}

proptest! {
    /// int8 search ranks like f32 search to within quantisation error, and both agree with a
    /// brute-force reference on membership and order.
    #[test]
    fn int8_scores_track_f32(seeds in prop::collection::vec(any::<u64>(), 1..40), probe_seed: u64, k in 1usize..6) {
        let dim = 64;
        let mut f = TemplateStore::new(dim, Precision::F32).unwrap();
        let mut q = TemplateStore::new(dim, Precision::Int8).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            f.insert(PersonId(i as u32), &vector(*s, dim), NEVER).unwrap();
            q.insert(PersonId(i as u32), &vector(*s, dim), NEVER).unwrap();
        }
        let probe = Probe::new(&vector(probe_seed, dim), dim).unwrap();
        let tf = f.search(&probe, seeds.len(), -2.0).unwrap();
        let tq = q.search(&probe, seeds.len(), -2.0).unwrap();
        prop_assert_eq!(tf.len(), seeds.len());
        for c in &tq {
            let exact = tf.iter().find(|e| e.person == c.person).unwrap().score;
            prop_assert!((exact - c.score).abs() < 0.02, "{} vs {}", exact, c.score);
        }
        // Top-k is the prefix of the full ranking.
        let topk = f.search(&probe, k, -2.0).unwrap();
        prop_assert_eq!(&topk[..], &tf[..k.min(tf.len())]);
    }

    /// Insert/remove in any order leaves exactly the live persons searchable.
    #[test]
    fn removal_keeps_the_gallery_consistent(ops in prop::collection::vec((0u32..20, any::<bool>()), 1..80)) {
        let dim = 16;
        let mut store = TemplateStore::new(dim, Precision::Int8).unwrap();
        let mut live = std::collections::BTreeSet::new();
        for (p, insert) in ops {
            if insert {
                store.insert(PersonId(p), &vector(u64::from(p), dim), NEVER).unwrap();
                live.insert(p);
            } else {
                prop_assert_eq!(store.remove(PersonId(p)), live.remove(&p));
            }
            prop_assert_eq!(store.persons().map(|p| p.0).collect::<Vec<_>>(), live.iter().copied().collect::<Vec<_>>());
        }
        for &p in &live {
            let probe = Probe::new(&vector(u64::from(p), dim), dim).unwrap();
            prop_assert_eq!(store.search(&probe, 1, 0.9).unwrap()[0].person, PersonId(p));
        }
    }
}
