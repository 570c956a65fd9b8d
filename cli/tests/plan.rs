//! `gatelab plan`, `sweep` and `merge` as a planner and a cluster meet them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{scratch, text};
use gatelab_plan::{self as plan, SweepSpec, analytic};
use gatelab_tests::queue_scenario;

fn gatelab(args: &[&str], threads: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .env("RAYON_NUM_THREADS", threads)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scenario(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    p.to_string_lossy().into_owned()
}

const OUTPUTS: [&str; 3] = ["plan.json", "plan.csv", "report.html"];

/// A short plan of the courier-surge morning into `out`.
fn short_plan(out: &Path, threads: &str) {
    let o = gatelab(
        &[
            "plan",
            &scenario("courier-surge"),
            "--target-wait-p95",
            "30",
            "--lanes",
            "1..2",
            "--replications",
            "2",
            "--duration-min",
            "30",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        threads,
    );
    assert!(o.status.success(), "{}", text(&o));
    for f in OUTPUTS {
        assert!(out.join(f).is_file(), "{f}: {}", text(&o));
    }
}

fn same_files(a: &Path, b: &Path) {
    for f in OUTPUTS {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn three_shards_merged_equal_one_process_byte_for_byte_and_threads_do_not_matter() {
    let dir = scratch("shards");
    let single = dir.join("single");
    short_plan(&single, "2");
    let spec = single.join("spec.json");
    let mut shard_dirs = Vec::new();
    for i in 0..3 {
        let out = dir.join(format!("shard-{i}"));
        let o = gatelab(
            &["sweep", spec.to_str().unwrap(), "--shard", &format!("{i}/3"), "--quiet", "--out", out.to_str().unwrap()],
            "2",
        );
        assert!(o.status.success(), "{}", text(&o));
        shard_dirs.push(out.to_string_lossy().into_owned());
    }
    // Slurm's variables pick the shard too (the README's job-array script relies on it).
    let slurm = Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .args(["sweep", spec.to_str().unwrap(), "--quiet", "--out"])
        .arg(dir.join("slurm-1"))
        .output()
        .unwrap();
    assert!(slurm.status.success(), "{}", text(&slurm));
    assert_eq!(
        std::fs::read(dir.join("slurm-1/units.jsonl")).unwrap(),
        std::fs::read(dir.join("shard-1/units.jsonl")).unwrap()
    );
    let merged = dir.join("merged");
    let mut args = vec!["merge"];
    args.extend(shard_dirs.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = gatelab(&args, "2");
    assert!(o.status.success(), "{}", text(&o));
    same_files(&single, &merged);
    // One thread gives the same bytes as two.
    let one_thread = dir.join("one-thread");
    short_plan(&one_thread, "1");
    same_files(&single, &one_thread);
    // A missing shard is refused, not silently planned without.
    let o = gatelab(&["merge", &shard_dirs[0], &shard_dirs[1], "--out", dir.join("partial").to_str().unwrap()], "2");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn on_an_mmc_scenario_the_plan_recommends_the_erlang_c_lane_count() {
    // λ = 0.07/s, exponential service of 20 s, one shared queue, no walking: M/M/c. Erlang C's
    // p95 wait: 2 lanes 81.5 s, 3 lanes 17.5 s, so a 40 s target needs 3.
    let scenario = queue_scenario(1, 0.07 * 3600.0, 20.0, "exponential", 8);
    let target = 40.0;
    let spec = SweepSpec { seed: Some(4), ..SweepSpec::new(target, 1, 5, 4) };
    spec.validate(&scenario).unwrap();
    let units = plan::run_units(&spec, &scenario, (0, 1), &gatelab_sim::progress::Silent).unwrap();
    let result = plan::summarise(&spec, &scenario, &units);
    let erlang = analytic::erlang_c_lanes(0.07, 20.0, target, 5);
    assert_eq!(erlang, Some(3));
    assert_eq!(
        result.recommended.as_ref().and_then(|r| r.config.uniform_lanes()),
        erlang,
        "{}",
        plan::render_table(&result)
    );
}

#[test]
fn the_report_renders_in_headless_chromium_with_every_plot_drawn() {
    const CHROMIUM: &str = "/usr/bin/chromium";
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: `cargo xtask setup` installs Debian's chromium");
    let dir = scratch("report");
    let out = dir.join("plan");
    short_plan(&out, "2");
    let report = out.join("report.html").canonicalize().unwrap();
    let url = format!("file://{}", report.display());
    let profile = dir.join("chromium-profile");
    let chromium = |extra: &[&str]| {
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    // The DOM Chromium built: every plot is an inline SVG with its marks drawn.
    let dom = chromium(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let figures: Vec<&str> = dom.split("<figure class=\"plot\"").skip(1).collect();
    assert!(
        figures.len() >= 5,
        "5 plots expected (p95 vs lanes, queue, CDF, throughput, tornado), got {}",
        figures.len()
    );
    for f in &figures {
        let svg = &f[..f.find("</figure>").unwrap_or(f.len())];
        assert!(svg.contains("<svg"), "a figure without its plot");
        let marks = svg.matches("<polyline").count() + svg.matches("<rect").count() + svg.matches("<path").count();
        assert!(marks >= 3, "a blank plot: {}", &svg[..svg.len().min(300)]);
    }
    assert!(dom.contains("id=\"recommendation\""));
    // And the pixels: a tall screenshot that is not blank, with coloured series on it.
    let shot = dir.join("report.png");
    let o = chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=900,2600"]);
    assert!(shot.is_file(), "no screenshot: {}", text(&o));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels = bytes.len() / channels;
    let coloured =
        bytes.chunks(channels).filter(|p| p.len() >= 3 && (i32::from(p[0]) - i32::from(p[2])).abs() > 60).count();
    let non_white = bytes.chunks(channels).filter(|p| p.iter().take(3).any(|&c| c < 200)).count();
    assert!(non_white > pixels / 200, "the screenshot is nearly blank ({non_white} of {pixels} pixels drawn)");
    assert!(coloured > 500, "no coloured plot series on screen ({coloured} coloured pixels)");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_plan_inputs_get_a_clear_message() {
    let dir = scratch("bad");
    let out = dir.to_str().unwrap();
    let o = gatelab(&["plan", &scenario("dongcheng"), "--target-wait-p95", "0.5", "--out", out], "2");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("below the fastest transaction"), "{}", text(&o));
    let o = gatelab(&["plan", &scenario("dongcheng"), "--lanes", "4..2", "--out", out], "2");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("the range is empty"), "{}", text(&o));
    let o = gatelab(&["plan", &scenario("dongcheng"), "--lanes", "three", "--out", out], "2");
    assert!(text(&o).contains("FROM..TO"), "{}", text(&o));
    let o = gatelab(&["sweep", "no-such-spec.toml", "--out", out], "2");
    assert!(text(&o).contains("could not read the sweep spec"), "{}", text(&o));
    let o = gatelab(&["sweep", &scenario("dongcheng"), "--shard", "3/3", "--out", out], "2");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shard_comes_from_the_flag_slurm_or_kubernetes() {
    let none = |_: &str| None;
    assert_eq!(plan::shard_from(Some("2/5"), &none).unwrap(), (2, 5));
    assert!(plan::shard_from(Some("5/5"), &none).is_err());
    let slurm = |k: &str| match k {
        "SLURM_ARRAY_TASK_ID" => Some("4".to_string()),
        "SLURM_ARRAY_TASK_COUNT" => Some("8".to_string()),
        _ => None,
    };
    assert_eq!(plan::shard_from(None, &slurm).unwrap(), (4, 8));
    // A resubmitted index is an array of one: GATELAB_SHARDS keeps it shard 1 of 4.
    let resubmitted = |k: &str| match k {
        "SLURM_ARRAY_TASK_ID" | "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
        "SLURM_ARRAY_TASK_COUNT" => Some("1".to_string()),
        "GATELAB_SHARDS" => Some("4".to_string()),
        _ => None,
    };
    assert_eq!(plan::shard_from(None, &resubmitted).unwrap(), (1, 4));
    let k8s = |k: &str| match k {
        "JOB_COMPLETION_INDEX" => Some("1".to_string()),
        "GATELAB_SHARDS" => Some("3".to_string()),
        _ => None,
    };
    assert_eq!(plan::shard_from(None, &k8s).unwrap(), (1, 3));
    let k8s_without_count = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
    assert!(plan::shard_from(None, &k8s_without_count).unwrap_err().to_string().contains("GATELAB_SHARDS"));
    assert_eq!(plan::shard_from(None, &none).unwrap(), (0, 1));
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_that_runs_every_shard_from_the_volume() {
    let dir = scratch("k8s");
    let out = dir.join("work");
    let manifest = dir.join("sweep.yaml");
    let o = gatelab(
        &[
            "plan",
            &scenario("courier-surge"),
            "--lanes",
            "1..3",
            "--replications",
            "2",
            "--shards",
            "6",
            "--image",
            "registry.example/gatelab:1.2",
            "--volume",
            "plans",
            "--k8s-manifest",
            manifest.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "1",
    );
    assert!(o.status.success(), "{}", text(&o));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    // The batch/v1 Job fields it uses, as the API defines them.
    assert_eq!(yaml["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(yaml["kind"].as_str(), Some("Job"));
    assert!(yaml["metadata"]["name"].as_str().is_some_and(|n| !n.is_empty() && n.len() <= 63));
    let spec = &yaml["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_u64(), Some(6));
    assert_eq!(spec["parallelism"].as_u64(), Some(6));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"), "Indexed Jobs need Never or OnFailure");
    let container = &pod["containers"][0];
    assert_eq!(container["image"].as_str(), Some("registry.example/gatelab:1.2"));
    let env = container["env"].as_sequence().unwrap();
    assert!(env.iter().any(|e| e["name"].as_str() == Some("GATELAB_SHARDS") && e["value"].as_str() == Some("6")));
    let command: Vec<&str> = container["command"].as_sequence().unwrap().iter().filter_map(|c| c.as_str()).collect();
    assert!(command.iter().any(|c| c.contains("gatelab sweep /work/spec.json") && c.contains("$JOB_COMPLETION_INDEX")));
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/work"));
    let volume = &pod["volumes"][0];
    assert_eq!(volume["name"].as_str(), mount["name"].as_str());
    assert_eq!(volume["persistentVolumeClaim"]["claimName"].as_str(), Some("plans"));
    // The folder to copy onto the volume: the spec and, beside it, its scenario.
    let spec = plan::SweepSpec::load(&out.join("spec.json")).unwrap();
    assert_eq!(spec.replications, 2);
    assert!(out.join("courier-surge.toml").is_file());
    std::fs::remove_dir_all(&dir).ok();
}
