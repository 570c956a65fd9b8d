//! Who lives in the compound and who comes by, and registration day: every person, card,
//! consent and enrolment goes into the core through admin commands, as a property office would.

use bevy::prelude::*;
use gatelab_core::consent::Grantor;
use gatelab_core::{
    AdminCommand, CompoundId, ConsentId, ConsentRecord, Credential, CredentialId, CredentialKind, HouseholdId, Person,
    PersonId, PersonKind, Policy, Timestamp,
};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::core_link::CoreLink;
use super::faces::FaceModel;
use super::model::{AgentKind, Means, Rngs};
use gatelab_scenario::Scenario;

pub const COMPOUND: CompoundId = CompoundId(1);
const DAY_MS: u64 = 24 * 3_600_000;
/// Consent is given for a year (the compliant policy's retention limit).
const CONSENT_RETENTION_MS: u64 = 365 * DAY_MS;

#[derive(Debug, Clone)]
pub struct Resident {
    pub person: PersonId,
    pub kind: AgentKind,
    pub minor: bool,
    pub elderly: bool,
    pub opt_out: bool,
    pub household: u32,
    /// Enrolled at the terminals (consent given and enrolment accepted).
    pub enrolled: bool,
    /// The IC card the property office issued, if the policy issues one.
    pub ic_card: Option<CredentialId>,
    /// Their national ID card, registered with the office (renters: until the lease ends).
    pub id_card: CredentialId,
    /// When the lease (and with it the cards) ends, for renters.
    pub lease_ends_ms: Option<u64>,
    pub template: Option<usize>,
    /// Not drawn for another trip before this time ([`TRIP_COOLDOWN_MS`]).
    pub free_at_ms: u64,
}

/// A person drawn for a trip is not drawn again for this long (their errand), however long the
/// queues: who arrives when never depends on how fast the gate serves (common random numbers),
/// and nobody is in two queues unless a queue takes half an hour.
pub const TRIP_COOLDOWN_MS: u64 = 30 * 60_000;

#[derive(Debug, Clone)]
pub struct Courier {
    pub person: PersonId,
    pub id_card: CredentialId,
    pub enrolled: bool,
    pub template: Option<usize>,
    /// Not drawn for another trip before this time ([`TRIP_COOLDOWN_MS`]).
    pub free_at_ms: u64,
}

/// Everyone the simulation can send to a gate, and the faces the office enrolled.
#[derive(Resource, Debug, Clone)]
pub struct Population {
    pub residents: Vec<Resident>,
    /// Couriers with a registered card (fixed couriers), some enrolled.
    pub couriers: Vec<Courier>,
    /// Food couriers registered with their ID card.
    pub food_couriers: Vec<Courier>,
    pub next_food_courier: usize,
    /// One guard per gate, with a guard-override credential.
    pub guards: Vec<CredentialId>,
    pub faces: FaceModel,
    templates: Vec<Vec<f32>>,
    /// Residents may use their ID card at the reader (the policy accepts it).
    pub id_card_accepted: bool,
    pub opted_out: u32,
    pub enrolled: u32,
    /// Consents withdrawn during the run.
    pub withdrawn: u32,
}

impl Population {
    pub fn template(&self, index: usize) -> &[f32] {
        &self.templates[index]
    }

    /// How resident `r` can get through today; `forgot_card` leaves the IC card at home.
    pub fn resident_means(&self, r: usize, forgot_card: bool) -> Means {
        let res = &self.residents[r];
        let credential = match res.ic_card {
            Some(card) if !forgot_card => Some((CredentialKind::IcCard, card)),
            _ if self.id_card_accepted => Some((CredentialKind::IdCard, res.id_card)),
            _ => None,
        };
        Means { face: res.enrolled, credential }
    }

    /// The re-confirmation at `at`: each household did not re-sign with probability
    /// `not_resigned_share` (drawn per household from its own stream); the consents of their
    /// enrolled members lapse — the office logs a withdrawal for each, so every template is
    /// deleted — and they come through on cards the next morning. Returns how many lapsed.
    pub fn reconfirm(
        &mut self,
        at: Timestamp,
        not_resigned_share: f64,
        rng: &mut ChaCha8Rng,
        core: &mut CoreLink,
    ) -> u32 {
        let households = self.residents.iter().map(|r| r.household + 1).max().unwrap_or(0);
        let lapsed: Vec<bool> = (0..households).map(|_| rng.random_bool(not_resigned_share)).collect();
        let mut count = 0;
        for r in self.residents.iter_mut().filter(|r| r.enrolled && lapsed[r.household as usize]) {
            core.admin(at, &AdminCommand::WithdrawConsent(r.person));
            r.enrolled = false;
            count += 1;
        }
        self.enrolled -= count;
        count
    }

    /// Registration day: build the population and register it in the core at midnight.
    pub fn register(scenario: &Scenario, policy: &Policy, rngs: &mut Rngs, core: &mut CoreLink) -> Population {
        let p = &scenario.population;
        let rng = &mut rngs.population;
        let faces = FaceModel::new(&scenario.matcher);
        let midnight = Timestamp(0);
        let ic_card_issued = policy.accepts_resident_non_face(CredentialKind::IcCard);
        let id_card_accepted = policy.accepts_resident_non_face(CredentialKind::IdCard);
        let n = (p.owners + p.renters) as usize;
        let households = p.households.clamp(1, n as u32) as usize;

        // Who is a child, who is elderly, who refuses face: fixed by the seed. The first member
        // of every household is an adult, so every child has a guardian at home.
        let mut later: Vec<usize> = (households..n).collect();
        later.shuffle(rng);
        let minors: Vec<usize> = later.iter().copied().take(p.children as usize).collect();
        let mut adults: Vec<usize> = (0..n).filter(|i| !minors.contains(i)).collect();
        adults.shuffle(rng);
        let elderly: Vec<usize> = adults.iter().copied().take(p.elderly as usize).collect();
        let mut is_minor = vec![false; n];
        minors.iter().for_each(|&i| is_minor[i] = true);
        let mut is_elderly = vec![false; n];
        elderly.iter().for_each(|&i| is_elderly[i] = true);
        // Renters are spread over the households after the owners.
        let mut residents = Vec::with_capacity(n);
        let mut credential_serial = 1_000_000u64;
        let mut next_credential = || {
            credential_serial += 1;
            CredentialId(credential_serial)
        };
        for i in 0..n {
            let renter = i >= p.owners as usize;
            let kind = if renter { AgentKind::Renter } else { AgentKind::Owner };
            let person = PersonId(i as u32 + 1);
            let age = if is_minor[i] {
                rng.random_range(4..14)
            } else if is_elderly[i] {
                rng.random_range(65..90)
            } else {
                rng.random_range(18..65)
            };
            core.admin(
                midnight,
                &AdminCommand::RegisterPerson(Person {
                    id: person,
                    kind: if renter { PersonKind::Renter } else { PersonKind::Owner },
                    household: Some(HouseholdId((i % households) as u32)),
                    age_years: age,
                }),
            );
            let lease_ends_ms = renter.then(|| {
                let days = rng.random_range(0.0..2.0 * f64::from(p.renter_card_days.max(1)));
                (days * DAY_MS as f64) as u64
            });
            let expires_at = lease_ends_ms.map(Timestamp);
            let id_card = next_credential();
            core.admin(
                midnight,
                &AdminCommand::IssueCredential(Credential {
                    id: id_card,
                    holder: person,
                    kind: CredentialKind::IdCard,
                    expires_at,
                }),
            );
            let ic_card = ic_card_issued.then(|| {
                let id = next_credential();
                core.admin(
                    midnight,
                    &AdminCommand::IssueCredential(Credential {
                        id,
                        holder: person,
                        kind: CredentialKind::IcCard,
                        expires_at,
                    }),
                );
                id
            });
            residents.push(Resident {
                person,
                kind,
                minor: is_minor[i],
                elderly: is_elderly[i],
                opt_out: rng.random_bool(p.opt_out_share),
                household: (i % households) as u32,
                enrolled: false,
                ic_card,
                id_card,
                lease_ends_ms,
                template: None,
                free_at_ms: 0,
            });
        }
        let mut templates = Vec::new();
        let mut consent_serial = 0u64;
        let mut enrol = |core: &mut CoreLink, rng: &mut rand_chacha::ChaCha8Rng, person: PersonId, grantor: Grantor| {
            consent_serial += 1;
            let consent = ConsentRecord::face_access(
                ConsentId(consent_serial),
                person,
                COMPOUND,
                grantor,
                midnight,
                CONSENT_RETENTION_MS,
            );
            if core.admin(midnight, &AdminCommand::RecordConsent(consent)).rejected {
                return None;
            }
            let template = faces.template(rng);
            if core.admin(midnight, &AdminCommand::Enroll { person, embedding: template.clone() }).rejected {
                // Refused (e.g. a renter whose lease has already ended): no face for them.
                core.admin(midnight, &AdminCommand::WithdrawConsent(person));
                return None;
            }
            templates.push(template);
            Some(templates.len() - 1)
        };
        for i in 0..n {
            if residents[i].opt_out {
                continue;
            }
            let grantor =
                if residents[i].minor { Grantor::Guardian(residents[i % households].person) } else { Grantor::Subject };
            let person = residents[i].person;
            if let Some(t) = enrol(core, rng, person, grantor) {
                residents[i].enrolled = true;
                residents[i].template = Some(t);
            }
        }

        // Couriers: fixed couriers carry a registered card and may enrol; food couriers use
        // their ID card. Pools sized for the run, reused round-robin if the day is busier.
        let hours = f64::from(scenario.run.duration_min) / 60.0;
        let fixed = (p.couriers_per_hour * p.couriers_with_card_share * hours / 2.0).ceil() as usize;
        let food = (p.food_couriers_per_hour * hours * 1.2).ceil() as usize;
        let mut next_person = n as u32 + 1;
        // A non-resident with one credential: registered at midnight like everyone else.
        let mut outsider = |core: &mut CoreLink, kind: PersonKind, credential: CredentialKind, expires: Option<u64>| {
            next_person += 1;
            let person = PersonId(next_person);
            let age_years = if kind == PersonKind::Guard { 45 } else { 30 };
            core.admin(
                midnight,
                &AdminCommand::RegisterPerson(Person { id: person, kind, household: None, age_years }),
            );
            let id = next_credential();
            let expires_at = expires.map(Timestamp);
            core.admin(
                midnight,
                &AdminCommand::IssueCredential(Credential { id, holder: person, kind: credential, expires_at }),
            );
            (person, id)
        };
        let mut courier = |core: &mut CoreLink, valid_ms: u64| {
            let (person, id_card) = outsider(core, PersonKind::Courier, CredentialKind::IdCard, Some(valid_ms));
            Courier { person, id_card, enrolled: false, template: None, free_at_ms: 0 }
        };
        let mut couriers: Vec<Courier> = (0..fixed).map(|_| courier(core, 30 * DAY_MS)).collect();
        let food_couriers: Vec<Courier> = (0..food).map(|_| courier(core, DAY_MS)).collect();
        for c in &mut couriers {
            if !rng.random_bool(p.opt_out_share)
                && let Some(t) = enrol(core, rng, c.person, Grantor::Subject)
            {
                c.enrolled = true;
                c.template = Some(t);
            }
        }
        let guards = (0..scenario.gates.len())
            .map(|_| outsider(core, PersonKind::Guard, CredentialKind::GuardOverride, None).1)
            .collect();
        let opted_out = residents.iter().filter(|r| r.opt_out).count() as u32;
        let enrolled = residents.iter().filter(|r| r.enrolled).count() as u32;
        Population {
            residents,
            couriers,
            food_couriers,
            next_food_courier: 0,
            guards,
            faces,
            templates,
            id_card_accepted,
            opted_out,
            enrolled,
            withdrawn: 0,
        }
    }
}
