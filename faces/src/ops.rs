//! `gatelab faces`: enrol, verify, identify and withdraw real faces on one terminal's store, and
//! evaluate the model on a labelled folder. Every decision is the core terminal's: consent is
//! checked by the core (a template without a valid separate consent is refused), 1:N search is
//! the core's matcher. Photos are read and dropped; the only thing written is the store, the
//! core's encrypted, power-loss-safe journal ([`crate::store`]): templates never leave the core.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use gatelab_core::persist::PersistentTerminal;
use gatelab_core::{
    Action, AdminCommand, CompoundId, ConsentRecord, Credential, CredentialId, CredentialKind, Event, GateId, Person,
    PersonId, PersonKind, Policy, Terminal, TerminalConfig, TerminalId, Timestamp,
};
use serde::Serialize;

use crate::store::{self, FileFlash};
use crate::{FaceError, MultiFace, Pipeline};

const COMPOUND: CompoundId = CompoundId(1);

/// The store's terminal and where its audit log goes (`STORE/audit.jsonl`, appended: each
/// command is a new life of the terminal, starting with its `Restarted` record).
struct StoreTerminal {
    terminal: PersistentTerminal<FileFlash, FileFlash>,
    audit: PathBuf,
}

impl StoreTerminal {
    fn terminal(&self) -> &Terminal {
        self.terminal.terminal()
    }

    fn keep(&self, actions: &[Action]) -> Result<()> {
        let records: Vec<_> =
            actions.iter().filter_map(|a| if let Action::Audit(r) = a { Some(r) } else { None }).collect();
        if records.is_empty() {
            return Ok(());
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.audit)
            .with_context(|| format!("could not open the audit log {}", self.audit.display()))?;
        let mut w = std::io::BufWriter::new(file);
        gatelab_core::audit::jsonl::write(&mut w, records)
            .and_then(|()| std::io::Write::flush(&mut w))
            .with_context(|| format!("could not append to {}", self.audit.display()))
    }
}

fn config(threshold: f32, dim: usize) -> TerminalConfig {
    let id = TerminalId { gate: GateId(1), direction: gatelab_core::Direction::Inbound };
    let mut config = TerminalConfig::new(id, COMPOUND, dim);
    config.precision = gatelab_core::template::Precision::F32;
    config.match_threshold = threshold;
    config
}

/// The terminal of the store folder `dir` (created on first use).
fn open_store(dir: &Path, threshold: f32, dim: usize) -> Result<StoreTerminal> {
    let files = store::open(dir)?;
    let (terminal, restart, _recovery) = PersistentTerminal::open(
        config(threshold, dim),
        Policy::compliant(),
        files.identity,
        files.biometric,
        &files.key,
    )
    .map_err(|e| anyhow!("could not open the store {}: {e}", dir.display()))?;
    let store = StoreTerminal { terminal, audit: dir.join("audit.jsonl") };
    store.keep(&restart)?;
    Ok(store)
}

fn rejected<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Option<String> {
    actions
        .into_iter()
        .filter_map(|a| if let Action::AdminRejected(r) = a { Some(format!("{r:?}")) } else { None })
        .next()
}

fn registration(person: PersonId) -> Event {
    let p = Person { id: person, kind: PersonKind::Owner, household: None, age_years: 30 };
    Event::Admin(AdminCommand::RegisterPerson(p))
}

/// Ask the core, on a scratch terminal, whether this consent allows a template: nothing is
/// opened or written for a consent it refuses.
fn consent_first(person: PersonId, consent: &ConsentRecord, dim: usize) -> Result<()> {
    let mut t = Terminal::new(config(0.5, dim), Policy::compliant()).map_err(|e| anyhow!("{e:?}"))?;
    let now = consent.given_at;
    t.handle(now, registration(person)).for_each(drop);
    let actions: Vec<Action> = t.handle(now, Event::Admin(AdminCommand::RecordConsent(*consent))).collect();
    if let Some(why) = rejected(&actions) {
        bail!(
            "the core refused the consent for {person}: {why} (it must be separate, explicit, for face access, by the person or a guardian)"
        );
    }
    Ok(())
}

fn handle(t: &mut StoreTerminal, now: Timestamp, event: Event) -> Result<Vec<Action>> {
    let actions = t.terminal.handle(now, event).context("could not write the store")?.to_vec();
    t.keep(&actions)?;
    Ok(actions)
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

/// Every photo's face, each a live capture: a photo that presentation-attack detection scores
/// below `liveness_min` (a print, a screen) is refused, naming it — the wrong face must never
/// be enrolled, and a template from a replayed photo would let that photo in later.
fn embed_all_live(pipeline: &mut Pipeline, images: &[PathBuf], liveness_min: f32) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(images.len());
    for path in images {
        let probe = pipeline.probe_file(path)?;
        if let Some(score) = probe.liveness
            && (score.is_nan() || score < liveness_min)
        {
            bail!(
                "{}: presentation-attack detection scored it {score:.2}, below liveness_min {liveness_min}: \
                 enrolment needs a live capture (a photo of a print or of a screen is refused); take the \
                 photo again in front of the camera",
                path.display()
            );
        }
        out.push(probe.embedding);
    }
    Ok(out)
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
    store_dir: &Path,
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
    let dim = pipeline.embedder().output_dim;
    // The core decides, before any photo is looked at: no valid separate consent, no processing (C1/C3).
    consent_first(person, &consent, dim)?;
    let mut terminal = open_store(store_dir, threshold, dim)?;
    let liveness_min = terminal.terminal().policy().liveness_min;
    let template = mean_template(&embed_all_live(pipeline, images, liveness_min)?);
    let now = terminal.terminal().now().max(consent.given_at);
    handle(&mut terminal, now, registration(person))?;
    // A non-face way in must always exist (C2): everyone enrolled here also holds a card.
    let card = CredentialId(1_000_000 + u64::from(person.0));
    let has_card = terminal.terminal().valid_non_face_credentials(person).next().is_some();
    if !has_card {
        let issue = Credential { id: card, holder: person, kind: CredentialKind::IcCard, expires_at: None };
        handle(&mut terminal, now, Event::Admin(AdminCommand::IssueCredential(issue)))?;
    }
    let recorded = handle(&mut terminal, now, Event::Admin(AdminCommand::RecordConsent(consent)))?;
    if let Some(why) = rejected(&recorded) {
        bail!("the core refused the consent for {person}: {why}");
    }
    let enrolled = handle(&mut terminal, now, Event::Admin(AdminCommand::Enroll { person, embedding: template }))?;
    if let Some(why) = rejected(&enrolled) {
        bail!("the core refused to enrol {person}: {why}");
    }
    let card_note = if has_card {
        String::new()
    } else {
        format!(" (and IC card {} issued: face is never the only way in)", card.0)
    };
    Ok(format!("{person} enrolled from {} photo(s) into {}{card_note}\n", images.len(), store_dir.display()))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The core's 1:N decision for one photo: who it grants, if anyone, how many are enrolled,
/// and why it refused when it did.
fn decide(
    pipeline: &mut Pipeline,
    store_dir: &Path,
    image: &Path,
    threshold: f32,
) -> Result<(Option<PersonId>, usize, Option<String>)> {
    if !store_dir.exists() {
        bail!("no store at {} (enrol someone first: `gatelab faces enroll`)", store_dir.display());
    }
    let probe = pipeline.probe_file(image)?;
    let mut terminal = open_store(store_dir, threshold, probe.embedding.len())?;
    let enrolled = terminal.terminal().store().len();
    let now = terminal.terminal().now();
    let liveness_min = terminal.terminal().policy().liveness_min;
    // The score goes to the core with the probe, which judges it; it is never written (C6).
    let event = match probe.liveness {
        Some(liveness) => Event::ScoredFaceProbe { embedding: probe.embedding, liveness },
        None => Event::FaceProbe { embedding: probe.embedding },
    };
    let actions = handle(&mut terminal, now, event)?;
    let granted = actions.iter().find_map(|a| match a {
        Action::Grant { person, .. } => Some(*person),
        _ => None,
    });
    let spoof = actions
        .iter()
        .any(|a| matches!(a, Action::Deny { reason: gatelab_core::audit::DecisionReason::SuspectedSpoof, .. }));
    let why = spoof.then(|| {
        format!(
            "refused as a suspected presentation attack (liveness {:.2} below {liveness_min}); a card still opens the gate",
            probe.liveness.unwrap_or(f32::NAN)
        )
    });
    Ok((granted, enrolled, why))
}

/// 1:1 through the core: the photo's best match at or above the threshold is this person.
pub fn verify(
    pipeline: &mut Pipeline,
    store_dir: &Path,
    person: u32,
    image: &Path,
    threshold: f32,
) -> Result<(bool, String)> {
    let person = PersonId(person);
    let (granted, _, why) = decide(pipeline, store_dir, image, threshold)?;
    let ok = granted == Some(person);
    let verdict = match granted {
        _ if why.is_some() => why.unwrap_or_default(),
        Some(p) if p == person => format!("is {person}"),
        Some(p) => format!("is not {person} (the core matched {p})"),
        None => format!("is not {person} (no enrolled face at or above threshold {threshold})"),
    };
    Ok((ok, format!("{}: {verdict}\n", image.display())))
}

pub fn identify(pipeline: &mut Pipeline, store_dir: &Path, image: &Path, threshold: f32) -> Result<(bool, String)> {
    let (granted, enrolled, why) = decide(pipeline, store_dir, image, threshold)?;
    Ok(match granted {
        _ if why.is_some() => (false, format!("{}: {}\n", image.display(), why.unwrap_or_default())),
        Some(p) => (true, format!("{}: {p} (1:N over {enrolled} enrolled)\n", image.display())),
        None => (false, format!("{}: nobody enrolled matches (1:N over {enrolled})\n", image.display())),
    })
}

/// Ask the terminal to export templates or face images: the core always refuses, and the
/// attempt is in the store's audit log (C6). Returns the refusal.
pub fn export(store_dir: &Path, what: gatelab_core::audit::ExportKind, dim: usize) -> Result<String> {
    if !store_dir.exists() {
        bail!("no store at {}", store_dir.display());
    }
    let mut terminal = open_store(store_dir, 0.5, dim)?;
    let now = terminal.terminal().now();
    let actions = handle(&mut terminal, now, Event::Admin(AdminCommand::ExportRequest(what)))?;
    match rejected(&actions) {
        Some(why) => Ok(format!(
            "refused ({why}): templates and face images never leave the terminal (C6); the attempt is audited in {}\n",
            terminal.audit.display()
        )),
        None => bail!("the terminal did not refuse an export: this is a bug, report it"),
    }
}

/// Withdraw consent: the core deletes the template and the store erases it from flash.
pub fn withdraw(store_dir: &Path, person: u32, dim: usize) -> Result<String> {
    if !store_dir.exists() {
        bail!("no store at {}", store_dir.display());
    }
    let mut terminal = open_store(store_dir, 0.5, dim)?;
    let person = PersonId(person);
    if terminal.terminal().person(person).is_none() {
        bail!("{person} is not enrolled in {}", store_dir.display());
    }
    let now = terminal.terminal().now();
    handle(&mut terminal, now, Event::Admin(AdminCommand::WithdrawConsent(person)))?;
    Ok(format!("{person}'s consent withdrawn: template deleted and erased from {}\n", store_dir.display()))
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
    /// Files of the folder not used, each with why (absent when every file was used).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A file `eval` did not use, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// How `eval` treats the photos of a folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    pub multi_face: MultiFace,
    /// Stop at the first file that cannot be used, instead of skipping it.
    pub strict: bool,
}

/// Why a photo could not be used, in a few words (the file is named beside it).
fn short_reason(e: &FaceError) -> String {
    match e {
        FaceError::Image { reason, .. } => format!("not a readable picture: {reason}"),
        FaceError::NoFace { .. } => "no face found".into(),
        FaceError::SeveralFaces { count, .. } => format!("{count} faces (--multi-face skip)"),
        other => other.to_string(),
    }
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

/// Score every pair of photos in `dir/<identity>/*`. Every file is tried, whatever its name
/// (pictures are recognised by content); one that cannot be used — not a picture, truncated, no
/// face, several faces with [`MultiFace::Skip`] — is listed in `skipped` with its reason, unless
/// `strict` (or [`MultiFace::Error`] for a group photo) makes it an error.
pub fn eval(pipeline: &mut Pipeline, dir: &Path, options: EvalOptions) -> Result<(Evaluation, Vec<f32>, Vec<f32>)> {
    let mut people: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut embedded: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut images = 0;
    let mut skipped = Vec::new();
    for person in &people {
        let mut files: Vec<PathBuf> = std::fs::read_dir(person)
            .with_context(|| format!("could not read {}", person.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut mine = Vec::new();
        for file in &files {
            match pipeline.embed_file_choosing(file, options.multi_face) {
                Ok(e) => mine.push(e),
                Err(e) if options.strict => {
                    return Err(anyhow::Error::from(e).context("--strict: stopped at the first unusable photo"));
                }
                Err(e @ FaceError::SeveralFaces { .. }) if options.multi_face == MultiFace::Error => {
                    return Err(anyhow::Error::from(e).context("--multi-face error"));
                }
                Err(e @ (FaceError::Image { .. } | FaceError::NoFace { .. } | FaceError::SeveralFaces { .. })) => {
                    let file = file.strip_prefix(dir).unwrap_or(file).display().to_string();
                    skipped.push(Skipped { file, reason: short_reason(&e) });
                }
                // The runtime or a model failing is no property of one photo: stop.
                Err(e) => return Err(e.into()),
            }
        }
        images += mine.len();
        embedded.push(mine);
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
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let sd = |v: &[f32]| {
        let m = mean(v);
        (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
    };
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
        skipped,
    };
    Ok((evaluation, genuine, impostor))
}

/// One operating point of presentation-attack detection (ISO/IEC 30107-3 names).
#[derive(Debug, Clone, Serialize)]
pub struct PadPoint {
    pub threshold: f64,
    /// Bona fide presentations classified as attacks (score below the threshold).
    pub bpcer: f64,
    /// Attack presentations classified as bona fide (score at or above it); null when no attack
    /// presentation was given — then nothing about attack detection is measured.
    pub apcer: Option<f64>,
}

/// What `faces pad-eval` reports (pad.json).
#[derive(Debug, Serialize)]
pub struct PadEvaluation {
    pub model: String,
    pub bona_fide: usize,
    pub attacks: usize,
    /// False when no attack folder was given: APCER is then not measured, only BPCER.
    pub attacks_measured: bool,
    pub bona_fide_mean: f64,
    pub bona_fide_sd: f64,
    pub attack_mean: Option<f64>,
    pub attack_sd: Option<f64>,
    pub points: Vec<PadPoint>,
    /// The BPCER asked for, the highest threshold that keeps BPCER at or under it, and the
    /// APCER there (when attacks were given).
    pub target_bpcer: f64,
    pub threshold_for_target: f64,
    pub apcer_at_target: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// Every file under `dir` (subfolders too), sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("could not read {}", d.display()))? {
            let path = entry.with_context(|| format!("could not read {}", d.display()))?.path();
            if path.is_dir() { stack.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    Ok(out)
}

/// Liveness scores of every photo under `dir`; unusable photos are skipped (listed with their
/// reason) unless `strict`.
fn pad_scores(
    pipeline: &mut Pipeline,
    dir: &Path,
    options: EvalOptions,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<f32>> {
    let mut scores = Vec::new();
    for file in files_under(dir)? {
        match pipeline.probe_file_choosing(&file, options.multi_face) {
            Ok(probe) => scores.push(probe.liveness.context("no presentation-attack detection model is loaded")?),
            Err(e) if options.strict => {
                return Err(anyhow::Error::from(e).context("--strict: stopped at the first unusable photo"));
            }
            Err(e @ FaceError::SeveralFaces { .. }) if options.multi_face == MultiFace::Error => {
                return Err(anyhow::Error::from(e).context("--multi-face error"));
            }
            Err(e @ (FaceError::Image { .. } | FaceError::NoFace { .. } | FaceError::SeveralFaces { .. })) => {
                skipped.push(Skipped { file: file.display().to_string(), reason: short_reason(&e) });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(scores)
}

/// Presentation-attack detection on a folder of bona fide (live) photos and, when given, one of
/// attack presentations (prints, screens, masks captured by the same camera): BPCER and APCER
/// at thresholds, and the threshold that keeps BPCER at `target_bpcer`. Returns the report and
/// the scores (bona fide, attack) for the plot.
pub fn pad_eval(
    pipeline: &mut Pipeline,
    bona_fide_dir: &Path,
    attack_dir: Option<&Path>,
    target_bpcer: f64,
    options: EvalOptions,
) -> Result<(PadEvaluation, Vec<f32>, Vec<f32>)> {
    let model = pipeline
        .pad()
        .map(|c| c.model.display().to_string())
        .context("no presentation-attack detection model is loaded (run `cargo xtask setup`, or give --pad)")?;
    if !(0.0..1.0).contains(&target_bpcer) {
        bail!("--bpcer {target_bpcer}: a share from 0 to below 1, e.g. 0.05");
    }
    let mut skipped = Vec::new();
    let mut bona = pad_scores(pipeline, bona_fide_dir, options, &mut skipped)?;
    let attack = match attack_dir {
        Some(dir) => pad_scores(pipeline, dir, options, &mut skipped)?,
        None => Vec::new(),
    };
    if bona.is_empty() {
        bail!("{}: no usable bona fide photo (every file was skipped)", bona_fide_dir.display());
    }
    if attack_dir.is_some() && attack.is_empty() {
        bail!("the attack folder holds no usable photo (every file was skipped)");
    }
    bona.sort_by(f32::total_cmp);
    let measured = !attack.is_empty();
    let bpcer = |t: f64| bona.iter().filter(|&&s| f64::from(s) < t).count() as f64 / bona.len() as f64;
    let apcer =
        |t: f64| measured.then(|| attack.iter().filter(|&&s| f64::from(s) >= t).count() as f64 / attack.len() as f64);
    let points = (1..=19)
        .map(|k| f64::from(k) * 0.05)
        .map(|t| PadPoint { threshold: (t * 100.0).round() / 100.0, bpcer: bpcer(t), apcer: apcer(t) })
        .collect();
    // The k-th lowest bona fide score: at most k scores lie below it.
    let k = ((target_bpcer * bona.len() as f64).floor() as usize).min(bona.len() - 1);
    let threshold_for_target = f64::from(bona[k]);
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (mean, var.sqrt())
    };
    let (bona_fide_mean, bona_fide_sd) = stats(&bona);
    let (attack_mean, attack_sd) = if measured {
        let (m, s) = stats(&attack);
        (Some(m), Some(s))
    } else {
        (None, None)
    };
    let report = PadEvaluation {
        model,
        bona_fide: bona.len(),
        attacks: attack.len(),
        attacks_measured: measured,
        bona_fide_mean,
        bona_fide_sd,
        attack_mean,
        attack_sd,
        points,
        target_bpcer,
        threshold_for_target,
        apcer_at_target: apcer(threshold_for_target),
        skipped,
    };
    Ok((report, bona, attack))
}
