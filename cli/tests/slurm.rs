//! Sweeps under a real scheduler: a single-node Slurm cluster (Debian's `slurm-wlm` and `munge`,
//! installed by `cargo xtask setup`) started by hand without systemd, as `../shared/RECIPES.md`
//! describes. A plan's spec runs as a job array of 4 shards and merges into the plan's own bytes;
//! a shard killed mid-way and resubmitted alone merges into the same bytes; `gatelab plan
//! --slurm --wait` submits the array and the dependent merge itself.
//!
//! Needs root (munged and slurmd run as root here). Where Slurm cannot be started the test says
//! why and passes — except under CI (`CI=true`), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{scratch, text};

const GATELAB: &str = env!("CARGO_BIN_EXE_gatelab");
const OUTPUTS: [&str; 3] = ["plan.json", "plan.csv", "report.html"];

fn scenario(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    p.canonicalize().unwrap().to_string_lossy().into_owned()
}

fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(program);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Why Slurm cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    let uid = run("id", &["-u"], &[]);
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (munged and slurmd need it here)".into());
    }
    for bin in ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/sbin/mungekey"]
    {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} is missing (`cargo xtask setup` installs slurm-wlm and munge)"));
        }
    }
    None
}

/// A one-node cluster in a scratch folder; its daemons are stopped, by their process ids, when
/// it is dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let w = dir.join("slurm");
        for sub in ["munge", "log", "state", "spool"] {
            std::fs::create_dir_all(w.join(sub)).unwrap();
        }
        Command::new("chmod").args(["755", w.to_str().unwrap(), w.join("munge").to_str().unwrap()]).status().ok();
        let key = w.join("munge/munge.key");
        let o = run("/usr/sbin/mungekey", &["--create", "--force", &format!("--keyfile={}", key.display())], &[]);
        assert!(o.status.success(), "mungekey: {}", text(&o));
        let socket = w.join("munge/sock");
        let mut cluster = Cluster { dir: w.clone(), conf: w.join("slurm.conf"), daemons: Vec::new() };
        let p = |s: &str| w.join(s).to_string_lossy().into_owned();
        cluster.spawn(
            "/usr/sbin/munged",
            &[
                "-F",
                "-f",
                &format!("--socket={}", socket.display()),
                &format!("--key-file={}", key.display()),
                &format!("--pid-file={}", p("munge/pid")),
                &format!("--seed-file={}", p("munge/seed")),
                &format!("--log-file={}", p("log/munged.log")),
            ],
        );
        wait_for(|| socket.exists(), "munged's socket");
        let host = String::from_utf8_lossy(&run("hostname", &["-s"], &[]).stdout).trim().to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
            .unwrap_or(4 << 20);
        let conf = format!(
            "ClusterName=gatelab\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={sock}\n\
             StateSaveLocation={state}\nSlurmdSpoolDir={spool}\nSlurmctldPidFile={w}/slurmctld.pid\n\
             SlurmdPidFile={w}/slurmd.pid\nSlurmctldLogFile={w}/log/slurmctld.log\nSlurmdLogFile={w}/log/slurmd.log\n\
             SlurmctldPort=16817\nSlurmdPort=16818\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            sock = socket.display(),
            state = p("state"),
            spool = p("spool"),
            w = w.display(),
            mem = (mem_kib / 1024).saturating_sub(1024).max(512),
        );
        std::fs::write(&cluster.conf, conf).unwrap();
        let conf = cluster.conf.to_string_lossy().into_owned();
        cluster.spawn("/usr/sbin/slurmctld", &["-D", "-f", &conf]);
        cluster.spawn("/usr/sbin/slurmd", &["-D", "-f", &conf]);
        wait_for(
            || {
                let o = cluster.cmd("sinfo", &["-h", "-o", "%T"]);
                String::from_utf8_lossy(&o.stdout).trim() == "idle"
            },
            "the node to be idle",
        );
        cluster
    }

    fn spawn(&mut self, program: &str, args: &[&str]) {
        let child = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        self.daemons.push(child);
    }

    /// A Slurm client command against this cluster.
    fn cmd(&self, program: &str, args: &[&str]) -> Output {
        run(program, args, &[("SLURM_CONF", self.conf.to_str().unwrap())])
    }

    fn sbatch(&self, args: &[&str]) -> String {
        let o = self.cmd("sbatch", args);
        assert!(o.status.success(), "sbatch {}: {}", args.join(" "), text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Wait until no task of job `id` is queued or running.
    fn wait(&self, id: &str) {
        wait_for(
            || String::from_utf8_lossy(&self.cmd("squeue", &["-h", "-j", id]).stdout).trim().is_empty(),
            &format!("job {id} to finish"),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // slurmd, slurmctld, then munged: by the ids we started them with.
        for child in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        // A job step's slurmstepd lingers a moment after its job ends; let it go.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let o = Command::new("pgrep").args(["-f", &self.conf.to_string_lossy()]).output();
            if o.is_ok_and(|o| o.stdout.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn same_files(a: &Path, b: &Path) {
    for f in OUTPUTS {
        let (x, y) = (std::fs::read(a.join(f)), std::fs::read(b.join(f)));
        assert!(x.is_ok() && x.ok() == y.ok(), "{f} differs between {} and {}", a.display(), b.display());
    }
}

fn gatelab(args: &[&str]) -> Output {
    Command::new(GATELAB).env("RAYON_NUM_THREADS", "1").args(args).output().expect("the binary runs")
}

#[test]
fn a_plan_sharded_over_a_real_slurm_job_array_merges_into_the_same_bytes() {
    if let Some(why) = unavailable() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but Slurm cannot run here: {why}");
        eprintln!("skipped: Slurm cannot run here: {why}");
        return;
    }
    let dir = scratch("slurm");
    let cluster = Cluster::start(&dir);
    let d = |s: &str| dir.join(s).to_string_lossy().into_owned();

    // The plan in one process; its spec.json lists every run it made.
    let o = gatelab(&[
        "plan",
        &scenario("dongcheng"),
        "--lanes",
        "1..3",
        "--replications",
        "8",
        "--max-replications",
        "8",
        "--duration-min",
        "60",
        "--no-sensitivity",
        "--quiet",
        "--out",
        &d("single"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let spec = d("single/spec.json");

    // 4 shards as a job array: the shard comes from Slurm's own variables.
    let sweep = format!("{GATELAB} sweep {spec} --quiet --out {}/shard-$SLURM_ARRAY_TASK_ID", d("array"));
    let id = cluster.sbatch(&["--parsable", "--array=0-3", "-o", &d("array-%A_%a.log"), "--wrap", &sweep]);
    cluster.wait(&id);
    let shards: Vec<String> = (0..4).map(|i| d(&format!("array/shard-{i}"))).collect();
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    let merged = d("array/plan");
    args.extend(["--out", &merged]);
    let o = gatelab(&args);
    assert!(o.status.success(), "{}", text(&o));
    same_files(&dir.join("single"), Path::new(&merged));

    // Again, with shard 1 killed mid-way and resubmitted alone (GATELAB_SHARDS fixes the count,
    // so an array of one index still runs shard 1 of 4).
    let again = format!("{GATELAB} sweep {spec} --quiet --out {}/shard-$SLURM_ARRAY_TASK_ID", d("retry"));
    let id = cluster.sbatch(&[
        "--parsable",
        "--array=0-3",
        "--export=ALL,GATELAB_SHARDS=4",
        "-o",
        &d("retry-%A_%a.log"),
        "--wrap",
        &again,
    ]);
    // Kill shard 1 while its sweep is at work.
    let task = format!("{id}_1");
    let shard_1 = d("retry/shard-1");
    wait_for(
        || Command::new("pgrep").args(["-f", &shard_1]).output().is_ok_and(|o| !o.stdout.is_empty()),
        "shard 1's sweep to start",
    );
    let o = cluster.cmd("scancel", &[&task]);
    assert!(o.status.success(), "scancel: {}", text(&o));
    cluster.wait(&id);
    assert!(!dir.join("retry/shard-1/units.jsonl").exists(), "the killed shard wrote nothing");
    let shards: Vec<String> = (0..4).map(|i| d(&format!("retry/shard-{i}"))).collect();
    let partial = gatelab(&["merge", &shards[0], &shards[2], &shards[3], "--out", &d("retry/partial")]);
    assert!(!partial.status.success() && text(&partial).contains("missing"), "{}", text(&partial));
    let id = cluster.sbatch(&[
        "--parsable",
        "--array=1",
        "--export=ALL,GATELAB_SHARDS=4",
        "-o",
        &d("retry-%A_%a.log"),
        "--wrap",
        &again,
    ]);
    cluster.wait(&id);
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    let merged = d("retry/plan");
    args.extend(["--out", &merged]);
    let o = gatelab(&args);
    assert!(o.status.success(), "{}", text(&o));
    same_files(&dir.join("single"), Path::new(&merged));

    // `gatelab plan --slurm --wait`: the array and the dependent merge, submitted by gatelab.
    let o = Command::new(GATELAB)
        .env("SLURM_CONF", &cluster.conf)
        .args([
            "plan",
            &scenario("dongcheng"),
            "--lanes",
            "1..2",
            "--replications",
            "2",
            "--duration-min",
            "30",
            "--slurm",
            "--shards",
            "3",
            "--wait",
            "--quiet",
            "--out",
            &d("submitted"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let printed = text(&o);
    assert!(printed.contains("job array") && printed.contains("merge job"), "{printed}");
    for f in OUTPUTS {
        assert!(dir.join("submitted").join(f).is_file(), "{f}: {printed}");
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
