//! `gatelab faces`: real faces on ONNX Runtime through one terminal's store. The operations are
//! `gatelab_faces::ops`; this module parses, prints and draws the evaluation's plots.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gatelab_faces::ops as faces;

use crate::args::{ExportWhat, FacesArgs, FacesCommand, MultiFaceArg};

pub fn faces(args: FacesArgs) -> Result<ExitCode> {
    let FacesArgs { command, store, threshold, embedder, pad } = args;
    let store = store.as_path();
    let models = gatelab_faces::paths::models_dir();
    let config = match embedder {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{} is not an embedder configuration", path.display()))?
        }
        None => gatelab_faces::EmbedderConfig::fr_feature(&models),
    };
    if let FacesCommand::Withdraw { person } = command {
        print!("{}", faces::withdraw(store, person, config.output_dim)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let FacesCommand::Export { what } = command {
        let what = match what {
            ExportWhat::Templates => gatelab_core::audit::ExportKind::Templates,
            ExportWhat::FaceImages => gatelab_core::audit::ExportKind::FaceImages,
        };
        print!("{}", faces::export(store, what, config.output_dim)?);
        return Ok(ExitCode::from(3));
    }
    let pad = match pad {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a presentation-attack detection configuration", path.display()))?
        }
        None => gatelab_faces::PadConfig::fr_liveness(&models),
    };
    let library = gatelab_faces::paths::runtime_library();
    let mut pipeline = gatelab_faces::Pipeline::load(&library, &models, config)?.with_pad(&library, pad)?;
    let verdict = |(ok, text): (bool, String)| {
        print!("{text}");
        if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
    };
    Ok(match command {
        FacesCommand::Embed { images } => {
            print!("{}", faces::embed(&mut pipeline, &images)?);
            ExitCode::SUCCESS
        }
        FacesCommand::Enroll { person, consent, images } => {
            print!("{}", faces::enroll(&mut pipeline, store, person, &consent, &images, threshold)?);
            ExitCode::SUCCESS
        }
        FacesCommand::Verify { person, image } => {
            verdict(faces::verify(&mut pipeline, store, person, &image, threshold)?)
        }
        FacesCommand::Identify { image } => verdict(faces::identify(&mut pipeline, store, &image, threshold)?),
        FacesCommand::Withdraw { .. } | FacesCommand::Export { .. } => ExitCode::SUCCESS,
        FacesCommand::PadEval { bona_fide, attack, out, bpcer, emit_calibration, folder } => {
            let options = faces::EvalOptions { multi_face: folder.multi_face.into(), strict: folder.strict };
            let (e, bona, attacks) = faces::pad_eval(&mut pipeline, &bona_fide, attack.as_deref(), bpcer, options)?;
            println!(
                "{} bona fide photo(s): liveness mean {:.3} (sd {:.3}); {}",
                e.bona_fide,
                e.bona_fide_mean,
                e.bona_fide_sd,
                match (e.attack_mean, e.attack_sd) {
                    (Some(m), Some(sd)) => format!("{} attack presentation(s): mean {m:.3} (sd {sd:.3})", e.attacks),
                    _ => "no attack presentations given: APCER (attacks accepted) is NOT measured".into(),
                }
            );
            if !e.skipped.is_empty() {
                println!("  skipped {} file(s) (--strict stops at the first instead):", e.skipped.len());
                for s in &e.skipped {
                    println!("    {}: {}", s.file, s.reason);
                }
            }
            let min = gatelab_core::Policy::compliant().liveness_min;
            let at_default = bona.iter().filter(|&&s| s >= min).count();
            println!(
                "  at the default liveness_min {min}: {at_default} of {} live photos pass (BPCER {:.3})",
                e.bona_fide,
                1.0 - at_default as f64 / e.bona_fide as f64
            );
            println!(
                "  threshold for BPCER ≤ {}: {:.3}{}",
                e.target_bpcer,
                e.threshold_for_target,
                e.apcer_at_target.map(|a| format!(" (APCER there {a:.3})")).unwrap_or_default()
            );
            if let Some(dir) = out {
                std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
                let json = dir.join("pad.json");
                std::fs::write(&json, serde_json::to_string_pretty(&e)? + "\n")
                    .with_context(|| format!("could not write {}", json.display()))?;
                let (png, svg) = crate::faces_plots::pad_plot(&bona, &attacks)?;
                for (name, bytes) in [("pad-det.png", png.as_slice()), ("pad-det.svg", svg.as_bytes())] {
                    let path = dir.join(name);
                    std::fs::write(&path, bytes).with_context(|| format!("could not write {}", path.display()))?;
                }
                println!("  wrote {}/pad.json, pad-det.png (and .svg)", dir.display());
            }
            if let Some(file) = emit_calibration {
                std::fs::write(&file, pad_calibration_toml(&e))
                    .with_context(|| format!("could not write {}", file.display()))?;
                println!("  [attacks] distributions for the simulation: {}", file.display());
            }
            ExitCode::SUCCESS
        }
        FacesCommand::Eval { dir, out, emit_calibration, folder } => {
            let options = faces::EvalOptions { multi_face: folder.multi_face.into(), strict: folder.strict };
            let (e, genuine, impostor) = faces::eval(&mut pipeline, &dir, options)?;
            println!(
                "{} identities, {} photos: {} genuine pairs (mean {:.3}), {} impostor pairs (mean {:.3})",
                e.identities, e.images, e.genuine_pairs, e.genuine_mean, e.impostor_pairs, e.impostor_mean
            );
            if !e.skipped.is_empty() {
                println!("  skipped {} file(s) (--strict stops at the first instead):", e.skipped.len());
                for s in &e.skipped {
                    println!("    {}: {}", s.file, s.reason);
                }
            }
            for (fmr, fnmr) in &e.fnmr_at_fmr {
                match fnmr {
                    Some(v) => println!("  FNMR at FMR {fmr}: {:.3}", v),
                    None => println!("  FNMR at FMR {fmr}: too few impostor pairs to say"),
                }
            }
            println!(
                "  recommended threshold {:.3}: FMR {:.4}, FNMR {:.4}",
                e.threshold, e.fmr_at_threshold, e.fnmr_at_threshold
            );
            if let Some(dir) = out {
                std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
                let json = dir.join("eval.json");
                std::fs::write(&json, serde_json::to_string_pretty(&e)? + "\n")
                    .with_context(|| format!("could not write {}", json.display()))?;
                let plots = crate::faces_plots::plots(&genuine, &impostor, e.threshold)?;
                let files: [(&str, &[u8]); 4] = [
                    ("det.png", &plots.det_png),
                    ("histogram.png", &plots.histogram_png),
                    ("det.svg", plots.det_svg.as_bytes()),
                    ("histogram.svg", plots.histogram_svg.as_bytes()),
                ];
                for (name, bytes) in files {
                    let path = dir.join(name);
                    std::fs::write(&path, bytes).with_context(|| format!("could not write {}", path.display()))?;
                }
                println!("  wrote {}/eval.json, det.png, histogram.png (and .svg)", dir.display());
            }
            if let Some(file) = emit_calibration {
                std::fs::write(&file, calibration_toml(&e, pipeline.embedder().output_dim)?)
                    .with_context(|| format!("could not write {}", file.display()))?;
                println!("  calibration for the simulation: {}", file.display());
            }
            ExitCode::SUCCESS
        }
    })
}

/// `pad-eval --emit-calibration`: the `[attacks]` score distributions (Beta by mean and sd, the
/// scenario's own fields), kept inside what a Beta can have.
fn pad_calibration_toml(e: &faces::PadEvaluation) -> String {
    let fit = |mean: f64, sd: f64| {
        let mean = mean.clamp(0.001, 0.999);
        let sd = sd.clamp(0.001, 0.99 * (mean * (1.0 - mean)).sqrt());
        ((mean * 1e4).round() / 1e4, (sd * 1e4).round() / 1e4)
    };
    let (bm, bs) = fit(e.bona_fide_mean, e.bona_fide_sd);
    let mut out = format!(
        "# Written by `gatelab faces pad-eval --emit-calibration` ({}): {} bona fide presentation(s){}.\n\
         # A scenario `include`s this and sets `[attacks] per_hour` itself.\n[attacks]\n\
         bona_fide_mean = {bm}\nbona_fide_sd = {bs}\n",
        e.model,
        e.bona_fide,
        if e.attacks_measured { format!(", {} attack presentation(s)", e.attacks) } else { String::new() }
    );
    match (e.attack_mean, e.attack_sd) {
        (Some(m), Some(sd)) => {
            let (am, asd) = fit(m, sd);
            out.push_str(&format!("attack_mean = {am}\nattack_sd = {asd}\n"));
        }
        _ => out.push_str("# No attack presentations were given: the attack distribution stays the scenario's own.\n"),
    }
    out
}

impl From<MultiFaceArg> for gatelab_faces::MultiFace {
    fn from(arg: MultiFaceArg) -> Self {
        match arg {
            MultiFaceArg::Largest => gatelab_faces::MultiFace::Largest,
            MultiFaceArg::Skip => gatelab_faces::MultiFace::Skip,
            MultiFaceArg::Error => gatelab_faces::MultiFace::Error,
        }
    }
}

/// `--emit-calibration`: the scenario's own `[matcher]` type (`gatelab_scenario::MatcherModel`),
/// written by toml, so the file and the reader cannot drift apart. Four decimals: a few hundred
/// pairs do not pin a mean or a spread any closer.
fn calibration_toml(e: &faces::Evaluation, dim: usize) -> Result<String> {
    let round = |x: f64| (x * 1e4).round() / 1e4;
    let matcher = gatelab_scenario::MatcherModel {
        calibration: None,
        threshold: round(e.threshold) as f32,
        genuine_mean: round(e.genuine_mean),
        genuine_sd: round(e.genuine_sd),
        impostor_mean: round(e.impostor_mean.max(0.0)),
        impostor_sd: round(e.impostor_sd),
        dim,
    };
    Ok(format!(
        "# Written by `gatelab faces eval --emit-calibration` from {} genuine and {} impostor pairs.\n\
         # Use it as a scenario's matcher: `[matcher] calibration = \"this-file.toml\"`.\n{}",
        e.genuine_pairs,
        e.impostor_pairs,
        toml::to_string(&matcher)?
    ))
}
