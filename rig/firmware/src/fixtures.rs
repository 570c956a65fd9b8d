//! Deterministic inputs the benchmark and the self-test build on the target itself.

use alloc::vec::Vec;

use gatelab_core::consent::{ConsentRecord, Grantor};
use gatelab_core::{
    AdminCommand, CompoundId, ConsentId, Credential, CredentialId, CredentialKind, Person, PersonId, PersonKind,
    Timestamp,
};

/// xorshift64*: the same vectors from the same seed on every target.
pub struct Vectors(pub u64);

impl Vectors {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
    pub fn fill(&mut self, dim: usize, out: &mut Vec<f32>) {
        out.clear();
        out.extend((0..dim).map(|_| self.unit()));
    }
    #[cfg_attr(not(feature = "selftest"), allow(dead_code))]
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(dim);
        self.fill(dim, &mut v);
        v
    }
}

/// What the desk sends for an adult owner who consents to face access at compound 1 and
/// enrols `embedding`: registration, an IC card (id `card`), the consent, the enrolment.
pub fn enrolled_owner(
    person: PersonId,
    card: u64,
    now: Timestamp,
    retention_ms: u64,
    embedding: Vec<f32>,
) -> [AdminCommand; 4] {
    [
        AdminCommand::RegisterPerson(Person { id: person, kind: PersonKind::Owner, household: None, age_years: 40 }),
        AdminCommand::IssueCredential(Credential {
            id: CredentialId(card),
            holder: person,
            kind: CredentialKind::IcCard,
            expires_at: None,
        }),
        AdminCommand::RecordConsent(ConsentRecord::face_access(
            ConsentId(u64::from(person.0)),
            person,
            CompoundId(1),
            Grantor::Subject,
            now,
            retention_ms,
        )),
        AdminCommand::Enroll { person, embedding },
    ]
}
