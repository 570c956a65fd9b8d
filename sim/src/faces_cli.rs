//! `gatelab faces`: enrol, verify, identify and withdraw real faces on one terminal's store, and
//! evaluate the model on a labelled folder. Every decision is the core terminal's: consent is
//! checked by the core (a template without a valid separate consent is refused), 1:N search is
//! the core's matcher. Photos are read and dropped; the only file written is the store.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gatelab_core::{
    Action, AdminCommand, CompoundId, ConsentRecord, Event, GateId, Person, PersonId, PersonKind, Policy, Terminal,
    TerminalConfig, TerminalId, Timestamp,
};
use gatelab_faces::Pipeline;
use serde::{Deserialize, Serialize};

use crate::run::stat;

const COMPOUND: CompoundId = CompoundId(1);

/// One terminal's template store on disk: who is enrolled, under which consent, and the
/// template (postcard; never exported, never printed).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FaceStore {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    pub person: PersonId,
    pub consent: ConsentRecord,
    pub template: Vec<f32>,
}

impl FaceStore {
    pub fn load(path: &Path) -> Result<FaceStore> {
        if !path.exists() {
            return Ok(FaceStore::default());
        }
        let bytes = std::fs::read(path).with_context(|| format!("could not read the store {}", path.display()))?;
        postcard::from_bytes(&bytes).with_context(|| {
            format!("{} is not a gatelab face store (damaged?); it was left untouched", path.display())
        })
    }

    /// Write atomically: a crash leaves the old store, never half a new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = postcard::to_allocvec(self).context("could not encode the store")?;
        let tmp = path.with_extension("store-writing");
        std::fs::write(&tmp, bytes).with_context(|| format!("could not write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("could not replace {}", path.display()))
    }

    /// A core terminal holding this store: people registered, consents recorded, templates enrolled.
    fn terminal(&self, threshold: f32, dim: usize) -> Result<Terminal> {
        let id = TerminalId { gate: GateId(1), direction: gatelab_core::Direction::Inbound };
        let mut config = TerminalConfig::new(id, COMPOUND, dim);
        config.precision = gatelab_core::template::Precision::F32;
        config.match_threshold = threshold;
        let mut t = Terminal::new(config, Policy::compliant()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for e in &self.entries {
            admit(&mut t, e.person, &e.consent, &e.template)?;
        }
        Ok(t)
    }
}

fn rejected(actions: impl Iterator<Item = Action>) -> Option<String> {
    actions.filter_map(|a| if let Action::AdminRejected(r) = a { Some(format!("{r:?}")) } else { None }).next()
}

/// Register the person and record the consent; the core refuses what the rules refuse.
fn consent_first(t: &mut Terminal, person: PersonId, consent: &ConsentRecord) -> Result<()> {
    let now = Timestamp(consent.given_at.0);
    let p = Person { id: person, kind: PersonKind::Owner, household: None, age_years: 30 };
    let _ = rejected(t.handle(now, Event::Admin(AdminCommand::RegisterPerson(p))));
    if let Some(why) = rejected(t.handle(now, Event::Admin(AdminCommand::RecordConsent(*consent)))) {
        bail!(
            "the core refused the consent for {person}: {why} (it must be separate, explicit, for face access, by the person or a guardian)"
        );
    }
    Ok(())
}

/// Register, consent, enrol through the core.
fn admit(t: &mut Terminal, person: PersonId, consent: &ConsentRecord, template: &[f32]) -> Result<()> {
    consent_first(t, person, consent)?;
    let now = Timestamp(consent.given_at.0);
    let enroll = AdminCommand::Enroll { person, embedding: template.to_vec() };
    if let Some(why) = rejected(t.handle(now, Event::Admin(enroll))) {
        bail!("the core refused to enrol {person}: {why}");
    }
    Ok(())
}

fn mean_template(embeddings: &[Vec<f32>]) -> Vec<f32> {
    let dim = embeddings.first().map_or(0, Vec::len);
    let mut sum = vec![0.0f32; dim];
    for e in embeddings {
        sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
    }
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    sum.iter().map(|v| v / norm).collect()
}

fn embed_all(pipeline: &mut Pipeline, images: &[PathBuf]) -> Result<Vec<Vec<f32>>> {
    images.iter().map(|p| pipeline.embed_file(p).map_err(anyhow::Error::from)).collect()
}

pub fn embed(pipeline: &mut Pipeline, images: &[PathBuf]) -> Result<String> {
    let mut out = String::new();
    for path in images {
        let e = pipeline.embed_file(path)?;
        // The vector itself is biometric data: it is not printed (C6), only that it exists.
        let _ = writeln!(out, "{}: one face, {}-d template, unit length", path.display(), e.len());
    }
    Ok(out)
}

pub fn enroll(
    pipeline: &mut Pipeline,
    store_path: &Path,
    person: u32,
    consent_path: &Path,
    images: &[PathBuf],
    threshold: f32,
) -> Result<String> {
    let text = std::fs::read_to_string(consent_path)
        .with_context(|| format!("could not read the consent record {}", consent_path.display()))?;
    let consent: ConsentRecord = toml::from_str(&text).with_context(|| {
        format!("{} is not a consent record (see `gatelab faces enroll --help` for its fields)", consent_path.display())
    })?;
    let person = PersonId(person);
    if consent.person != person {
        bail!("{} is {}'s consent, not {person}'s", consent_path.display(), consent.person);
    }
    if images.is_empty() {
        bail!("give at least one photo of {person}");
    }
    let mut store = FaceStore::load(store_path)?;
    let dim = pipeline.embedder().output_dim;
    let mut terminal = store.terminal(threshold, dim)?;
    // The core decides, before any photo is looked at: no valid separate consent, no processing (C1/C3).
    consent_first(&mut terminal, person, &consent)?;
    let template = mean_template(&embed_all(pipeline, images)?);
    let now = Timestamp(consent.given_at.0);
    let enrol = AdminCommand::Enroll { person, embedding: template.clone() };
    if let Some(why) = rejected(terminal.handle(now, Event::Admin(enrol))) {
        bail!("the core refused to enrol {person}: {why}");
    }
    store.entries.retain(|e| e.person != person);
    store.entries.push(Entry { person, consent, template });
    store.entries.sort_by_key(|e| e.person);
    store.save(store_path)?;
    Ok(format!("{person} enrolled from {} photo(s) into {}\n", images.len(), store_path.display()))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn verify(
    pipeline: &mut Pipeline,
    store_path: &Path,
    person: u32,
    image: &Path,
    threshold: f32,
) -> Result<(bool, String)> {
    let store = FaceStore::load(store_path)?;
    let person = PersonId(person);
    let entry = store
        .entries
        .iter()
        .find(|e| e.person == person)
        .with_context(|| format!("{person} is not enrolled in {}", store_path.display()))?;
    let probe = pipeline.embed_file(image)?;
    let score = cosine(&probe, &entry.template);
    let ok = score >= threshold;
    Ok((
        ok,
        format!(
            "{}: {} {person} (cosine {score:.3}, threshold {threshold})\n",
            image.display(),
            if ok { "is" } else { "is not" }
        ),
    ))
}

pub fn identify(pipeline: &mut Pipeline, store_path: &Path, image: &Path, threshold: f32) -> Result<(bool, String)> {
    let store = FaceStore::load(store_path)?;
    let probe = pipeline.embed_file(image)?;
    let mut terminal = store.terminal(threshold, probe.len())?;
    let now = store.entries.iter().map(|e| e.consent.given_at).max().unwrap_or(Timestamp(0));
    let found = terminal.handle(now, Event::FaceProbe { embedding: probe }).find_map(|a| match a {
        Action::Grant { person, .. } => Some(person),
        _ => None,
    });
    Ok(match found {
        Some(p) => (true, format!("{}: {p} (1:N over {} enrolled)\n", image.display(), store.entries.len())),
        None => (false, format!("{}: nobody enrolled matches (1:N over {})\n", image.display(), store.entries.len())),
    })
}

pub fn withdraw(store_path: &Path, person: u32) -> Result<String> {
    let mut store = FaceStore::load(store_path)?;
    let person = PersonId(person);
    let before = store.entries.len();
    store.entries.retain(|e| e.person != person);
    if store.entries.len() == before {
        bail!("{person} is not enrolled in {}", store_path.display());
    }
    store.save(store_path)?;
    Ok(format!("{person}'s consent withdrawn: template deleted from {}\n", store_path.display()))
}

/// What `faces eval` reports (eval.json).
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub identities: usize,
    pub images: usize,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub genuine_mean: f64,
    pub genuine_sd: f64,
    pub impostor_mean: f64,
    pub impostor_sd: f64,
    /// FNMR at FMR = 1e-2 and 1e-3; null where there are too few impostor pairs to say.
    pub fnmr_at_fmr: std::collections::BTreeMap<String, Option<f64>>,
    pub threshold: f64,
    pub fmr_at_threshold: f64,
    pub fnmr_at_threshold: f64,
}

/// Threshold at which the share of impostor scores at or above it is at most `fmr`.
fn threshold_for(impostor_desc: &[f32], fmr: f64) -> Option<f32> {
    let allowed = (fmr * impostor_desc.len() as f64).floor() as usize;
    if impostor_desc.len() < (1.0 / fmr).ceil() as usize {
        return None;
    }
    // Just above the (allowed+1)-th highest impostor score.
    impostor_desc.get(allowed).map(|s| s + 1e-6)
}

pub fn eval(pipeline: &mut Pipeline, dir: &Path) -> Result<(Evaluation, Vec<f32>, Vec<f32>)> {
    let mut people: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut embedded: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut images = 0;
    for person in &people {
        let mut files: Vec<PathBuf> = std::fs::read_dir(person)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| ["png", "jpg", "jpeg"].contains(&x.to_string_lossy().to_lowercase().as_str()))
            })
            .collect();
        files.sort();
        images += files.len();
        embedded.push(embed_all(pipeline, &files)?);
    }
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, a) in embedded.iter().enumerate() {
        for (j, b) in embedded.iter().enumerate().skip(i) {
            for (x, ea) in a.iter().enumerate() {
                for (y, eb) in b.iter().enumerate() {
                    if i == j && y <= x {
                        continue;
                    }
                    if i == j { genuine.push(cosine(ea, eb)) } else { impostor.push(cosine(ea, eb)) }
                }
            }
        }
    }
    if genuine.is_empty() || impostor.is_empty() {
        bail!("{}: need at least two identities and one with two photos, as DIR/<identity>/*.png", dir.display());
    }
    let mut desc = impostor.clone();
    desc.sort_by(|a, b| b.total_cmp(a));
    let fnmr_at = |t: f32| genuine.iter().filter(|&&g| g < t).count() as f64 / genuine.len() as f64;
    let fmr_at = |t: f32| impostor.iter().filter(|&&s| s >= t).count() as f64 / impostor.len() as f64;
    let mut fnmr_at_fmr = std::collections::BTreeMap::new();
    for (key, fmr) in [("1e-2", 1e-2), ("1e-3", 1e-3)] {
        fnmr_at_fmr.insert(key.to_string(), threshold_for(&desc, fmr).map(fnmr_at));
    }
    let threshold = threshold_for(&desc, 1e-3).or_else(|| threshold_for(&desc, 1e-2)).unwrap_or(desc[0] + 1e-6);
    let sd = |v: &[f32]| {
        let s = stat(v.iter().map(|&x| f64::from(x)));
        let m = s.mean;
        (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
    };
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let evaluation = Evaluation {
        identities: people.len(),
        images,
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        genuine_mean: mean(&genuine),
        genuine_sd: sd(&genuine),
        impostor_mean: mean(&impostor),
        impostor_sd: sd(&impostor),
        fnmr_at_fmr,
        threshold: f64::from(threshold),
        fmr_at_threshold: fmr_at(threshold),
        fnmr_at_threshold: fnmr_at(threshold),
    };
    Ok((evaluation, genuine, impostor))
}

/// The `[matcher]` table a scenario uses for synthetic faces that behave like this model.
pub fn calibration_toml(e: &Evaluation, dim: usize) -> String {
    format!(
        "# Written by `gatelab faces eval --emit-calibration` from {} genuine and {} impostor pairs.\n\
         # Use it as a scenario's matcher: `[matcher] calibration = \"this-file.toml\"`.\n\
         threshold = {:.4}\ngenuine_mean = {:.4}\ngenuine_sd = {:.4}\nimpostor_mean = {:.4}\nimpostor_sd = {:.4}\ndim = {dim}\n",
        e.genuine_pairs,
        e.impostor_pairs,
        e.threshold,
        e.genuine_mean,
        e.genuine_sd,
        e.impostor_mean.max(0.0),
        e.impostor_sd
    )
}
