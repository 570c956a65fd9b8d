//! `gatelab plan --slurm` and `--k8s-manifest`: the same sweep handed to a scheduler. Both run a
//! fixed sweep (every lane count of the range, `--replications` each), because the planner's own
//! search is sequential: which run comes next depends on the last.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use gatelab_plan::{self as plan, SweepSpec};
use gatelab_scenario::Scenario;
use gatelab_sim::progress::Progress;

use crate::args::PlanArgs;
use crate::progress::Bar;

/// The spec a cluster runs: the plan's range and start, a fixed number of replications.
fn fixed(spec: &SweepSpec) -> Result<SweepSpec> {
    ensure!(
        !spec.per_gate,
        "--per-gate is a search whose next run depends on the last, so it cannot be handed to a scheduler in one \
         go: run `gatelab plan --per-gate` here, then shard the spec.json it writes with `gatelab sweep`"
    );
    Ok(SweepSpec { max_replications: None, runs: Vec::new(), ..spec.clone() })
}

/// Quote `text` for the shell `sbatch --wrap` runs.
fn sh(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn sbatch(args: &[String]) -> Result<String> {
    let o = Command::new("sbatch").args(args).output().map_err(|e| {
        anyhow::anyhow!(
            "could not run sbatch ({e}): --slurm needs Slurm's client commands on PATH (Debian: slurm-client) and a \
             reachable slurmctld (SLURM_CONF)"
        )
    })?;
    if !o.status.success() {
        bail!(
            "sbatch refused the job: {}\nCheck the partition (`sinfo`), the time limit (--time) and that slurmctld is \
             reachable (`scontrol ping`; SLURM_CONF names the cluster's slurm.conf)",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    // --parsable prints "id" or "id;cluster".
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.trim().split(';').next().unwrap_or_default().to_string();
    ensure!(!id.is_empty() && id.chars().all(|c| c.is_ascii_digit()), "sbatch printed {out:?}, not a job id");
    Ok(id)
}

fn squeue(args: &[&str]) -> Result<String> {
    let o = Command::new("squeue").args(args).output().context("could not run squeue")?;
    ensure!(o.status.success(), "squeue: {}", String::from_utf8_lossy(&o.stderr).trim());
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Submit the sweep as a job array and a dependent merge job; with `--wait`, follow them.
pub fn slurm(args: &PlanArgs, spec: &SweepSpec, scenario: &Scenario) -> Result<ExitCode> {
    let spec = fixed(spec)?;
    fs::create_dir_all(&args.out).with_context(|| format!("could not create {}", args.out.display()))?;
    let out = args.out.canonicalize().with_context(|| format!("{}", args.out.display()))?;
    let spec_path = plan::write_spec(&out, &spec)?;
    let exe = std::env::current_exe().context("where is this gatelab binary?")?;
    let n = args.shards;
    let shard = |i: &str| out.join(format!("shard-{i}")).to_string_lossy().into_owned();
    let mut common: Vec<String> = Vec::new();
    if let Some(p) = &args.partition {
        common.push(format!("--partition={p}"));
    }
    if let Some(t) = &args.time {
        common.push(format!("--time={t}"));
    }
    let mut array = vec![
        "--parsable".to_string(),
        "--job-name=gatelab-sweep".into(),
        format!("--array=0-{}", n - 1),
        // The shard count travels with the task, so a resubmitted index is still shard I of N.
        format!("--export=ALL,GATELAB_SHARDS={n}"),
        "-o".into(),
        out.join("slurm-%A_%a.log").to_string_lossy().into_owned(),
    ];
    array.extend(common.iter().cloned());
    array.push("--wrap".into());
    array.push(format!(
        "{} sweep {} --quiet --out {}$SLURM_ARRAY_TASK_ID",
        sh(&exe.to_string_lossy()),
        sh(&spec_path.to_string_lossy()),
        sh(&shard(""))
    ));
    let array_id = sbatch(&array)?;
    let shards: Vec<String> = (0..n).map(|i| sh(&shard(&i.to_string()))).collect();
    let mut merge = vec![
        "--parsable".to_string(),
        "--job-name=gatelab-merge".into(),
        format!("--dependency=afterok:{array_id}"),
        "-o".into(),
        out.join("slurm-merge-%j.log").to_string_lossy().into_owned(),
    ];
    merge.extend(common);
    merge.push("--wrap".into());
    merge.push(format!(
        "{} merge {} --out {}",
        sh(&exe.to_string_lossy()),
        shards.join(" "),
        sh(&out.to_string_lossy())
    ));
    let merge_id = sbatch(&merge)?;
    let runs = spec.units(scenario).len();
    println!(
        "submitted job array {array_id} ({n} shards of {runs} runs) and merge job {merge_id} (after the array succeeds)"
    );
    println!("the plan will appear in {}", out.display());
    println!("  follow: squeue -j {array_id},{merge_id}; logs: {}/slurm-*.log", out.display());
    println!(
        "  a failed shard I: `sbatch --array=I --export=ALL,GATELAB_SHARDS={n} ...` as above, then \
         `gatelab merge {}/shard-* --out {}`",
        out.display(),
        out.display()
    );
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let bar = Bar::new(args.quiet);
    bar.start(u64::from(n), &format!("waiting for job array {array_id}"));
    let mut done = 0;
    loop {
        let left = squeue(&["-h", "-r", "-j", &array_id, "-o", "%i"])?.lines().count() as u32;
        let now_done = n.saturating_sub(left);
        if now_done > done {
            bar.advance(u64::from(now_done - done));
            done = now_done;
        }
        let merge_state = squeue(&["-h", "-j", &merge_id, "-o", "%T %r"])?;
        if merge_state.trim().is_empty() {
            break;
        }
        if merge_state.contains("DependencyNeverSatisfied") {
            bar.finish();
            let _ = Command::new("scancel").arg(&merge_id).status();
            bail!(
                "a shard of job array {array_id} failed, so the merge cannot run (cancelled it): see {}/slurm-{array_id}_*.log, \
                 resubmit the failed index (`sbatch --array=I --export=ALL,GATELAB_SHARDS={n} ...`), then merge",
                out.display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bar.finish();
    let plan_json = out.join("plan.json");
    let text = fs::read_to_string(&plan_json).with_context(|| {
        format!("the merge job {merge_id} wrote no plan: see {}/slurm-merge-{merge_id}.log", out.display())
    })?;
    let plan: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}", plan_json.display()))?;
    println!("Decision — {}", plan["decision"].as_str().unwrap_or_default());
    println!("{}", plan["sentence"].as_str().unwrap_or_default());
    println!("open the report: {}", out.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

/// Write a Kubernetes Indexed Job that runs the sweep's shards from a shared volume, with the
/// spec (and the scenario beside it) in `--out` to copy onto that volume.
pub fn k8s_manifest(args: &PlanArgs, spec: &SweepSpec, file: &Path) -> Result<ExitCode> {
    let mut spec = fixed(spec)?;
    fs::create_dir_all(&args.out).with_context(|| format!("could not create {}", args.out.display()))?;
    // In the pod the folder is the volume's root: the scenario goes beside the spec.
    if let Some(path) = spec.scenario.clone() {
        let name = PathBuf::from(path.file_name().context("the scenario path has no file name")?);
        fs::copy(&path, args.out.join(&name))
            .with_context(|| format!("could not copy {} into {}", path.display(), args.out.display()))?;
        spec.scenario = Some(name);
    }
    plan::write_spec(&args.out, &spec)?;
    let n = args.shards;
    let manifest = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": "gatelab-sweep", "labels": { "app.kubernetes.io/name": "gatelab" } },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimitPerIndex": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "sweep",
                        "image": args.image,
                        "env": [{ "name": "GATELAB_SHARDS", "value": n.to_string() }],
                        "command": [
                            "sh", "-c",
                            "gatelab sweep /work/spec.json --quiet --out /work/shards/$JOB_COMPLETION_INDEX"
                        ],
                        "volumeMounts": [{ "name": "work", "mountPath": "/work" }]
                    }],
                    "volumes": [{ "name": "work", "persistentVolumeClaim": { "claimName": args.volume } }]
                }
            }
        }
    });
    let yaml = serde_yaml::to_string(&manifest).context("could not write the manifest as YAML")?;
    fs::write(
        file,
        format!("# gatelab sweep: {n} shards of {}; made by `gatelab plan --k8s-manifest`\n{yaml}", args.out.display()),
    )
    .with_context(|| format!("could not write {}", file.display()))?;
    println!("wrote {} (Indexed Job, {n} completions, image {}, claim {})", file.display(), args.image, args.volume);
    println!("  1. copy {}/ onto the volume's root (it holds spec.json and the scenario)", args.out.display());
    println!("  2. kubectl apply -f {}", file.display());
    println!("  3. when all {n} pods completed: gatelab merge /work/shards/* --out /work/plan");
    Ok(ExitCode::SUCCESS)
}
