//! The command line: every command's arguments as clap `Args` structs, with their defaults and
//! value parsers written once (the no-command default plan parses `gatelab plan`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "gatelab",
    version,
    about = "Size, test and check face-recognition entrance gates of residential compounds.",
    long_about = "Size, test and check face-recognition entrance gates of residential compounds.\n\n\
        Every gate decision is made by gatelab-core, the same sans-IO terminal that runs in the \
        simulation, on a host and on a Cortex-M board, and every run leaves an audit log that the \
        consent checker judges against the rules C1–C8 (separate consent, a non-face way in that is \
        no worse, no processing of non-consenting people, deletion on withdrawal, retention, no \
        export, safe degradation on faults, complete audit).\n\n\
        With no command, gatelab plans the built-in Dongcheng scenario (one gate, short-term \
        renters, residents who refuse face, a guard who opens the car gate, the scanner away for \
        repair): 1 to 4 lanes per gate and direction against a 60 s p95 wait, with the \
        sensitivity table, and says where the report is.",
    after_help = "Examples:\n  \
        gatelab                                            # plan the built-in Dongcheng gate: gatelab-plan/report.html\n  \
        gatelab plan scenarios/public-rental-estate.toml --target-wait-p95 30 --lanes 1..6\n  \
        gatelab run scenarios/tianjin-wenhuacun.toml --replications 20 --out out/tianjin\n  \
        gatelab run scenarios/dongcheng-forced-face.toml --out out/ff && gatelab check-consent out/ff/audit.jsonl\n  \
        gatelab scenario check scenarios/*.toml            # validate your own scenarios\n  \
        gatelab policy show compliant > my-policy.toml     # edit, then: gatelab check-consent LOG --policy my-policy.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print what the core does: modules, dimensions, policies and the consent rules it checks.
    Describe,
    /// Simulate a compound's rush hour: Bevy crowd, real core terminals, consent-checked audit log.
    ///
    /// Writes DIR/summary.json (every figure as mean and 95 % interval over replications),
    /// DIR/passages.csv (one row per passage or denied attempt), DIR/queue.csv (queue length per
    /// lane every 10 s) and DIR/audit.jsonl (the terminals' audit log); the last three are from
    /// the first replication. Same scenario and seed: byte-identical files.
    Run(RunArgs),
    /// Watch a run: the gate area to scale, terminals coloured by state, doors, the guard booth
    /// and car gate, everyone in the plaza coloured by who they are, and live counters.
    ///
    /// Live, it runs the very simulation `gatelab run` runs (same scenario and seed: the same
    /// passages as replication 0 of `gatelab run`). Keys: space pause, → step, ↑/↓ speed ×1…×64,
    /// [ and ] five minutes back or on, Home the start, J then HHMM and Enter jump to a time,
    /// Z/X zoom in on the gate and out, P save a screenshot. Needs a build with
    /// `--features viewer` (e.g. `cargo run --release --features viewer -- view`).
    View(ViewArgs),
    /// Size the gates: the smallest lanes per gate and direction whose p95 wait meets the target,
    /// with 95 % confidence, for everyone the lanes serve, and the desks the guard booth needs;
    /// beside Erlang C / M/D/c, with costs, a sensitivity table and an HTML report.
    ///
    /// The decision: a deployment meets the target when the upper end of the 95 % interval of
    /// each lane-served p95 wait (each gate and direction; face users, opt-outs and couriers with
    /// a card) is within it; unclear verdicts get more replications (--max-replications); the
    /// recommendation is the smallest deployment from which one lane more never fails; visitors
    /// and anyone helped at the booth are sized in desks against --booth-target-wait-p95.
    ///
    /// Writes DIR/plan.json (`decision`, `recommended`, `booth`, and one entry per
    /// configuration), DIR/plan.csv, DIR/report.html (self-contained, SVG plots) and
    /// DIR/spec.json, which lists every run so that `gatelab sweep` can shard it over a cluster
    /// and get the very same files.
    #[command(after_long_help = "Examples:\n  \
        gatelab plan scenarios/public-rental-estate.toml --target-wait-p95 30 --lanes 1..5\n  \
        gatelab plan scenarios/tianjin-wenhuacun.toml --per-gate --desks 1..3\n  \
        gatelab plan --slurm --shards 16 --wait --out /shared/plan")]
    Plan(PlanArgs),
    /// Run one shard of a sweep (a spec TOML, e.g. the spec.json `plan` wrote, or your own) into
    /// a folder; `gatelab merge` combines the folders into the plan.
    ///
    /// The shard is --shard I/N (0 <= I < N), else Slurm's SLURM_ARRAY_TASK_ID of
    /// GATELAB_SHARDS (or of SLURM_ARRAY_TASK_COUNT), else a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with
    /// GATELAB_SHARDS; without any, the whole sweep.
    Sweep(SweepArgs),
    /// Combine shard folders of one sweep into plan.json, plan.csv and report.html.
    Merge(MergeArgs),
    /// Real faces on ONNX Runtime: enrol (with a separate consent), verify, identify, withdraw,
    /// and evaluate the model on a labelled folder. The runtime and models come from
    /// `cargo xtask setup`; photos are read and dropped, only the store is written.
    Faces(FacesArgs),
    /// Calibrate a scenario from the compound's own gate logs: demand rows per 5 minutes (the
    /// peak hourly rows flatten), service times per credential fitted from saturated lanes, the
    /// credential mix and shares — written as a scenario fragment to include.
    ///
    /// Reads gatelab's passages.csv, the gatelab CSV layout (time, gate, direction, credential,
    /// result; optional person, lane, wait_s) or any CSV or JSON log through a --mapping,
    /// streamed (a 2 GB export needs no more memory than a small one). Attempts by one person within
    /// --retry-window-s are one arrival. A lane is saturated while people queue at it: then
    /// consecutive passages follow back to back and their headways are service times, fitted as
    /// lognormal and gamma by maximum likelihood, the better by AIC, with the Kolmogorov–Smirnov
    /// statistic. Where a lane was saturated the log's served count understates the arrivals:
    /// they are reconstructed (exactly from waits, else by a backlog estimate) and the rows are
    /// flagged SATURATED. Bad rows are listed (file:line: kind: why) and skipped; --strict stops
    /// at the first. Person ids only join retries: nothing per person is written.
    #[command(after_long_help = "Examples:\n  \
        gatelab run scenarios/sharp-peak.toml --out out/peak && \\\n    \
        gatelab calibrate out/peak/passages.csv --out calibrated/site.toml --report out/calib\n  \
        gatelab calibrate gate-log-*.csv --format gatelab --out calibrated/site.toml\n  \
        gatelab calibrate events.json --format mapped --mapping calibrate/mappings/hikvision-isapi-acsevent.toml --out site.toml\n\n\
        Then, at the top of a scenario: include = [\"calibrated/site.toml\"] (relative to the scenario;\n\
        leave out the keys the fragment sets), and `gatelab scenario check` it.")]
    Calibrate(CalibrateArgs),
    /// Hold the walking model to measured pedestrian data: RiMEA tests 1, 4, 6, 7, 9 and 12,
    /// lab bottleneck flows (doorways 0.8–2.5 m) and a saturated lane's service, each a
    /// multi-seed mean against a stated band (sources in the table and in
    /// `walk/src/validation.rs`). Prints case | measured | band | pass; exit status 1 when a case
    /// is out of its band. Give model parameters to validate another parameter set.
    #[command(after_long_help = "Examples:\n  \
        gatelab validate\n  \
        gatelab validate bottleneck rimea-4 --seeds 5 --json validation.json\n  \
        gatelab validate --time-gap 0.8 --radius 0.2 --trajectories traj/   # then PedPy: load_trajectory(traj/bottleneck-1.txt)")]
    Validate(ValidateArgs),
    /// Check an audit log (JSON Lines) against C1–C8. Exit status: 0 clean, 1 violations, 2 error.
    #[command(name = "check-consent", alias = "check")]
    Check(CheckArgs),
    /// Work with gate policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with compound scenarios (scenarios/*.toml).
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Work with a compound's site: its drawing (DXF, GeoJSON) or a [site] table of coordinates
    /// or WKT.
    ///
    /// The layer convention (DXF layers, or a GeoJSON feature's "layer" property):
    /// `walkable` — one closed outline of the ground people may walk on (pavement and yard);
    /// `obstacles` — closed outlines: buildings, fences, planters, parked cars, gate housings;
    /// `gate:<name>` — a line across each gate's opening, its ends on a fence or the outline;
    /// `source:<name>` — a building entrance (a point) where residents start and end;
    /// `street:<name>` — a street edge (a line) where visitors and couriers appear;
    /// `queue:<gate>` — a closed outline in front of the gate where its queue stands.
    /// Other layers are listed as skipped. DXF units come from $INSUNITS (millimetres, metres,
    /// …); GeoJSON is lon/lat (projected locally) unless its "crs" names a UTM or CGCS2000
    /// Gauss–Krüger zone. A [site] table: drawing = "FILE", or walkable / walkable_wkt,
    /// obstacles / obstacles_wkt, [[site.gates]] (name, line or wkt), [[site.sources]] (name,
    /// kind, share, at or wkt), [[site.queues]] (gate, area or wkt).
    #[command(after_long_help = "Examples:\n  \
        gatelab site check scenarios/sites/compound-entrance.toml --svg entrance.svg\n  \
        gatelab site check my-compound.dxf --png my-compound.png\n  \
        gatelab site check survey.geojson")]
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// The planner's workbench in the browser: start from a shipped scenario or upload your own
    /// (and its site drawing), change lanes, terminals, opt-outs, policy and a fault day, plan
    /// with live progress (cancel any time), keep alternatives, compare two side by side and
    /// download any as a scenario, its plan files and the report.
    ///
    /// Alternatives are folders under DATA/alternatives (a scenario.toml and the plan's files,
    /// exactly what `gatelab plan` writes): the server keeps nothing else, so a restart loses
    /// nothing. Plans run one at a time. It listens on 127.0.0.1 unless --bind says otherwise;
    /// bound elsewhere, give --token (then open /login?token=… once, or send Authorization:
    /// Bearer …). No face photo or template is accepted or shown.
    #[command(after_long_help = "Examples:\n  \
        gatelab serve                          # http://127.0.0.1:8080/, alternatives in ./gatelab-workbench\n  \
        gatelab serve --port 0 --data ~/plans  # any free port (printed)\n  \
        gatelab serve --bind 0.0.0.0 --token s3cret")]
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (0: any free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on: 127.0.0.1 (this machine only) unless you mean otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Folder holding the alternatives (created if missing).
    #[arg(long, value_name = "DIR", default_value = "gatelab-workbench")]
    pub data: PathBuf,
    /// Require this token on every request.
    #[arg(long)]
    pub token: Option<String>,
    /// Folder of shipped scenarios to start from (default: the ones that came with gatelab).
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Largest upload accepted, MB.
    #[arg(long, value_name = "MB", default_value_t = 16)]
    pub max_upload_mb: usize,
}

#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Check sites: every problem named with its file, layer or feature and the fix (exit 1 if
    /// any is invalid); print what each holds (areas, gates, sources, queue areas and how many
    /// people they hold at each Fruin level), and draw one to scale.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Draw the site to scale as SVG here.
        #[arg(long, value_name = "FILE.svg")]
        svg: Option<PathBuf>,
        /// Draw the site to scale as PNG here.
        #[arg(long, value_name = "FILE.png")]
        png: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// Validate scenario files; errors name the field and what to do. Exit 0 if all are valid.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum FacesCommand {
    /// Detect, align and embed each photo (reports the template, never prints it).
    Embed {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Enrol a person from photos under their consent record (TOML: id, person, purpose =
    /// "face_access", scope = 1, form = "separate", explicit = true, grantor = "subject",
    /// given_at, retention_ms). The core refuses a template without a valid separate consent.
    Enroll {
        #[arg(long)]
        person: u32,
        #[arg(long, value_name = "FILE")]
        consent: PathBuf,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// 1:1: is this the person (the core's best match at or above the threshold)? Exit 0 yes, 1 no.
    Verify {
        #[arg(long)]
        person: u32,
        image: PathBuf,
    },
    /// 1:N through the core's matcher: who is this? Exit 0 found, 1 nobody.
    Identify { image: PathBuf },
    /// Withdraw consent: the template is deleted from the store.
    Withdraw {
        #[arg(long)]
        person: u32,
    },
    /// Ask for the templates or face images to be exported. Always refused (C6), exit 3; the
    /// attempt is recorded in STORE/audit.jsonl. There is no way to get a template out.
    Export {
        #[arg(long, value_enum)]
        what: ExportWhat,
    },
    /// Genuine/impostor scores on DIR/<identity>/*.{png,jpg}: FNMR at FMR 1e-2 and 1e-3, the
    /// threshold to use, a DET curve and a histogram.
    Eval {
        dir: PathBuf,
        /// Write eval.json, det.png and histogram.png (the DET curve and the score histogram,
        /// 640×480) here, and the same plots as det.svg and histogram.svg for HTML.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the distribution parameters a scenario's synthetic matcher loads.
        #[arg(long, value_name = "FILE")]
        emit_calibration: Option<PathBuf>,
        #[command(flatten)]
        folder: PhotoFolderArgs,
    },
    /// Presentation-attack detection (liveness) on your own captures: BPCER (live people
    /// refused) and APCER (attacks accepted, ISO/IEC 30107-3) at thresholds 0.05–0.95, the
    /// threshold that keeps BPCER at --bpcer, and a DET-style plot. Every photo under each
    /// folder is used (subfolders too; PNG, JPEG or WebP by content; unusable files listed).
    ///
    /// Without --attack only BPCER is measured: nothing is said about attack detection. To
    /// measure it, capture attacks with the gate's own camera — prints of residents' photos
    /// and phone or tablet replays, at the distances and light of the gate — and give that
    /// folder as --attack; set the policy's liveness_min from the result.
    PadEval {
        /// Live (bona fide) captures.
        #[arg(long, value_name = "DIR")]
        bona_fide: PathBuf,
        /// Attack presentations (prints, screens, masks) captured by the same camera.
        #[arg(long, value_name = "DIR")]
        attack: Option<PathBuf>,
        /// Write pad.json and pad-det.png / pad-det.svg here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The BPCER to hold (share of live presentations refused); the threshold for it is reported.
        #[arg(long, default_value_t = 0.05)]
        bpcer: f64,
        /// Write the score distributions as an `[attacks]` scenario fragment (a scenario
        /// `include`s it and sets `per_hour` itself); the attack distribution only when
        /// --attack was given.
        #[arg(long, value_name = "FILE")]
        emit_calibration: Option<PathBuf>,
        #[command(flatten)]
        folder: PhotoFolderArgs,
    },
}

/// How a command reading a folder of photos treats the ones it cannot use.
#[derive(Args, Debug, Clone, Copy)]
pub struct PhotoFolderArgs {
    /// What a photo with several faces means: use the largest face (the person a labelled
    /// folder's photo is of), skip the photo, or stop with an error.
    #[arg(long, value_enum, default_value_t = MultiFaceArg::Largest)]
    pub multi_face: MultiFaceArg,
    /// Stop at the first file that cannot be used (not a picture, truncated, no face) instead
    /// of skipping it and listing it, with why, in the report's `skipped`.
    #[arg(long)]
    pub strict: bool,
}

/// `--multi-face`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiFaceArg {
    Largest,
    Skip,
    Error,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExportWhat {
    Templates,
    FaceImages,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print a built-in policy (compliant, forced-face) as TOML, to start your own from.
    Show { name: String },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario TOML (see scenarios/); the built-in Dongcheng scenario if omitted.
    pub scenario: Option<PathBuf>,
    /// Seed (default: the scenario's run.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replications, run in parallel on all cores (default: the scenario's run.replications).
    #[arg(long)]
    pub replications: Option<u32>,
    /// Simulate only this many minutes from run.start (a quick look).
    #[arg(long, value_name = "MIN")]
    pub duration_min: Option<u32>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "gatelab-out")]
    pub out: PathBuf,
    /// Print the summary as JSON instead of a table.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also record every event each terminal received (first replication) into FILE, for
    /// `gatelab-rig replay FILE` to feed to the firmware and compare decisions.
    #[arg(long, value_name = "FILE")]
    pub export_trace: Option<PathBuf>,
    /// Also record the first replication for `gatelab view --replay FILE`: everyone's
    /// position, the terminals, doors and counters every 0.5 s, and every passage and
    /// decision in order (a compact versioned file; recording changes no result).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also write, for the first replication, what a pedestrian engineer analyses (PedPy reads
    /// each without arguments): trajectories.txt (Jülich text format: id, frame, x/m, y/m;
    /// ids never reused, frames from 0 at the window's start), walkable_area.wkt,
    /// measurement_lines.wkt (a line across each lane at the gate line; measurement_lines.csv
    /// names their gate and lane), queue_areas.wkt and agents.csv (id, group, gate, lane,
    /// direction, arrival at the gate area, service start, passage, outcome; join on id).
    #[arg(long)]
    pub trajectories: bool,
    /// Frames per second in trajectories.txt (a divisor of the steps per second: 10, 5, 2, 1
    /// at run.dt_s = 0.1). An hour of a busy gate at 10 fps is millions of rows: lower it, or
    /// narrow --trajectory-window.
    #[arg(long, value_name = "FPS", default_value_t = 10, requires = "trajectories")]
    pub trajectory_fps: u32,
    /// Keep trajectories only between these times of day, HH:MM-HH:MM (default: the whole run).
    #[arg(long, value_name = "FROM-TO", requires = "trajectories", value_parser = parse_window)]
    pub trajectory_window: Option<(u64, u64)>,
}

#[derive(Args, Debug)]
pub struct ViewArgs {
    /// Scenario TOML; the built-in Dongcheng scenario if omitted.
    pub scenario: Option<PathBuf>,
    /// Seed, as for `gatelab run` (default: the scenario's run.seed).
    #[arg(long, conflicts_with = "replay")]
    pub seed: Option<u64>,
    /// Play back a recording made by `gatelab run --record FILE` instead of simulating.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    pub replay: Option<PathBuf>,
    /// Simulated seconds per real second: 1, 2, 4 … 64 (↑/↓ change it while watching).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub speed: u32,
    /// Start at this time of day instead of the beginning (the simulation runs up to it first).
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_of_day)]
    pub start: Option<u64>,
    /// Start paused.
    #[arg(long)]
    pub paused: bool,
    /// Render the view at --at off-screen into this PNG, write OUT.counts.json beside it
    /// (people drawn, by kind and where, and the simulation's own count), and exit.
    /// Needs a Vulkan driver (Debian: mesa-vulkan-drivers), no display.
    #[arg(long, value_name = "OUT.png", requires = "at")]
    pub screenshot: Option<PathBuf>,
    /// Time of day of the screenshot, e.g. 07:45.
    #[arg(long, value_name = "HH:MM", requires = "screenshot", value_parser = parse_time_of_day)]
    pub at: Option<u64>,
    /// Window (or screenshot) size in pixels.
    #[arg(long, value_name = "WxH", default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Scenario TOML; the built-in Dongcheng scenario if omitted.
    pub scenario: Option<PathBuf>,
    /// The p95 wait (seconds) every group using the lanes must meet — face users, opt-outs,
    /// couriers with a card — with 95 % confidence, at every gate and direction.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub target_wait_p95: f64,
    /// The p95 wait (seconds) at the guard booth, where visitors register and couriers without
    /// a card and anyone stuck are helped (default: --target-wait-p95).
    #[arg(long, value_name = "SECONDS")]
    pub booth_target_wait_p95: Option<f64>,
    /// The worst level of service a gate's queue area may reach over its busiest 15 minutes
    /// (Fruin's queuing levels by space per person: A ≥ 1.2 m², B ≥ 0.9, C ≥ 0.7, D ≥ 0.3,
    /// E ≥ 0.2, F below). The queue area is the space in front of the lanes (a gate's
    /// queue_area_depth_m deep); a configuration meets its targets only when the upper 95 %
    /// bound of that density stays within the level, at every gate and direction.
    #[arg(long, value_name = "LEVEL", default_value = "D")]
    pub los: gatelab_sim::QueuingLevel,
    /// Lanes per gate and direction to try, FROM..TO.
    #[arg(long, value_name = "FROM..TO", default_value = "1..4", value_parser = parse_lanes)]
    pub lanes: (u32, u32),
    /// Let the lane count differ between gates and directions: a greedy search (add a lane
    /// where the target is missed, then check one more lane everywhere still meets it).
    #[arg(long)]
    pub per_gate: bool,
    /// Desks at the booths to try when today's miss the booth's target, FROM..TO (default:
    /// today's + 1 ..= today's + 3; today's is each gate's booth_desks).
    #[arg(long, value_name = "FROM..TO", value_parser = parse_lanes)]
    pub desks: Option<(u32, u32)>,
    /// Replications each configuration starts with (default: the scenario's run.replications,
    /// at least 3).
    #[arg(long)]
    pub replications: Option<u32>,
    /// The sequential rule's cap: where a verdict is not yet clear (the 95 % interval straddles
    /// the target), add --replications more at a time up to this many. Equal to
    /// --replications: a fixed number.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub max_replications: u32,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulate only this many minutes from run.start.
    #[arg(long, value_name = "MIN")]
    pub duration_min: Option<u32>,
    /// Skip the sensitivity runs (10 more configurations).
    #[arg(long)]
    pub no_sensitivity: bool,
    #[arg(long, value_name = "DIR", default_value = "gatelab-plan")]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
    /// Run the sweep on Slurm instead of here: write DIR/spec.json (every lane count of the
    /// range, --replications each: a fixed sweep, as a cluster runs it), submit it as a job
    /// array of --shards tasks and a merge job that starts when all succeeded
    /// (--dependency=afterok); print the job ids and where the plan will appear. DIR must be on
    /// a filesystem the nodes share.
    #[arg(long, help_heading = "On a cluster")]
    pub slurm: bool,
    /// Shards of the sweep (array tasks, or Kubernetes completions).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10000), help_heading = "On a cluster")]
    pub shards: u32,
    /// Slurm partition (sbatch --partition).
    #[arg(long, value_name = "P", requires = "slurm", help_heading = "On a cluster")]
    pub partition: Option<String>,
    /// Slurm time limit per task (sbatch --time), e.g. 01:00:00.
    #[arg(long, value_name = "T", requires = "slurm", help_heading = "On a cluster")]
    pub time: Option<String>,
    /// With --slurm: wait for the merge, with a progress bar fed by squeue.
    #[arg(long, requires = "slurm", help_heading = "On a cluster")]
    pub wait: bool,
    /// Write a Kubernetes Indexed Job manifest for the sweep (--shards completions, each pod
    /// running one shard from DIR/spec.json on the volume) instead of planning here.
    #[arg(long, value_name = "FILE", conflicts_with = "slurm", help_heading = "On a cluster")]
    pub k8s_manifest: Option<PathBuf>,
    /// Container image with the gatelab binary, for --k8s-manifest.
    #[arg(long, value_name = "IMAGE", default_value = "gatelab:latest", help_heading = "On a cluster")]
    pub image: String,
    /// PersistentVolumeClaim holding the scenario and the shards (mounted at /work), for
    /// --k8s-manifest.
    #[arg(long, value_name = "CLAIM", default_value = "gatelab-work", help_heading = "On a cluster")]
    pub volume: String,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Sweep spec: a plan's spec.json (its runs are what the shards run), or a TOML by hand
    /// with scenario, target_wait_p95_s, lanes_from, lanes_to, replications, and optionally
    /// seed, sensitivity_lanes, duration_min.
    pub spec: PathBuf,
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    #[arg(long, value_name = "DIR", default_value = "gatelab-shard")]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    #[arg(long, value_name = "DIR", default_value = "gatelab-plan")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct FacesArgs {
    #[command(subcommand)]
    pub command: FacesCommand,
    /// The terminal's store: a folder holding the core's encrypted, power-loss-safe journal
    /// (identity.flash: persons and consents; biometric.flash: templates, AES-256-GCM-SIV;
    /// terminal.key: its key, made on first use, mode 0600). Created on the first enrolment.
    #[arg(long, global = true, value_name = "DIR", default_value = "gatelab-faces.store")]
    pub store: PathBuf,
    /// Cosine at or above which a face matches (fr_feature: 0.35–0.45; `faces eval` recommends one).
    #[arg(long, global = true, default_value_t = 0.35)]
    pub threshold: f32,
    /// An embedder of your own: TOML with model, input_size, mean, std, channel_order, output_dim.
    #[arg(long, global = true, value_name = "TOML")]
    pub embedder: Option<PathBuf>,
    /// A presentation-attack detection (liveness) model of your own: TOML with model,
    /// input_size, box_scale, mean, std, channel_order, live_class (default: fr_liveness.onnx,
    /// box ×2.7, 128×128 raw RGB, class 0 live). Every probe and enrolment photo is scored; the
    /// policy's liveness_min (default 0.5) refuses those below it.
    #[arg(long, global = true, value_name = "TOML")]
    pub pad: Option<PathBuf>,
}

/// `gatelab calibrate --format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Gatelab's own passages.csv (`gatelab run --out DIR`): has waits, so arrivals are exact.
    Passages,
    /// The gatelab CSV layout: time, gate, direction, credential, result [, person, lane, wait_s].
    Gatelab,
    /// Any CSV (or JSON log), through --mapping FILE.
    Mapped,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Cases to run (default: all): rimea-1, rimea-4, rimea-6, rimea-7, rimea-9, rimea-12,
    /// bottleneck, lane.
    #[arg(value_name = "CASE")]
    pub cases: Vec<String>,
    /// Replications per case (seeds 1..=N); each figure is their mean.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: u64,
    /// Write the first replication of every case as CASE.txt trajectories here (the Jülich
    /// text format PedPy's load_trajectory reads: id frame x y, metres, 20 fps).
    #[arg(long, value_name = "DIR")]
    pub trajectories: Option<PathBuf>,
    /// Also write the table as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Time gap T kept to the person in front, s (default 0.6).
    #[arg(long, value_name = "S")]
    pub time_gap: Option<f64>,
    /// Body radius r, m: the body depth l = 2r (default 0.15).
    #[arg(long, value_name = "M")]
    pub radius: Option<f64>,
    /// Shoulder width: someone ahead closer than this to the side blocks you, m (default 0.45).
    #[arg(long, value_name = "M")]
    pub shoulder: Option<f64>,
    /// Range of the neighbours' push on the walking direction, m (default 0.15).
    #[arg(long, value_name = "M")]
    pub neighbour_range: Option<f64>,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Gate event logs (CSV), read in the order given. Rows are means per day over the days the
    /// logs cover; a log without dates (passages.csv) is one day.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The scenario fragment to write (TOML: [demand] rows, [service], [population]).
    #[arg(long, value_name = "FRAGMENT.toml")]
    pub out: PathBuf,
    /// Also write an HTML report with PNG plots here: arrivals per interval observed vs fitted,
    /// service-time histograms with the fitted curves, goodness of fit.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// The layout of the logs (default: mapped with --mapping, else passages if the header has
    /// t_s and agent, else gatelab).
    #[arg(long, value_enum)]
    pub format: Option<LogFormat>,
    /// A column mapping (TOML) for --format mapped; see calibrate/mappings/.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Attempts by the same person within this many seconds of their previous one are one
    /// arrival (a retry follows a refusal within seconds; a new trip takes minutes).
    #[arg(long, value_name = "S", default_value_t = 20.0)]
    pub retry_window_s: f64,
    /// Minutes per demand row (1 to 60).
    #[arg(long, value_name = "MIN", default_value_t = 5)]
    pub resolution_min: u32,
    /// Without waits in the log, the first pass's limit on a saturated headway (above any face
    /// or card transaction): runs of 10 such headways give each credential's median, and then
    /// a lane is saturated during runs of 10 headways within 3 × that median, in the 10-minute
    /// windows where it served at least 90 % of its busiest window's count.
    #[arg(long, value_name = "S", default_value_t = 8.0)]
    pub saturation_headway_s: f64,
    /// Stop at the first bad row instead of skipping and listing it.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The audit log: one JSON record per line, as written by `demo --audit-out`, the
    /// simulation or the hardware rig.
    pub log: PathBuf,
    /// The compound's policy: built-in name (compliant, forced-face) or a policy TOML file.
    #[arg(long, default_value = "compliant")]
    pub policy: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `--lanes FROM..TO` (also `FROM..=TO`).
fn parse_lanes(text: &str) -> Result<(u32, u32), String> {
    let (a, b) = text.split_once("..").ok_or_else(|| format!("{text:?}: write FROM..TO, e.g. 1..4"))?;
    let count =
        |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{text:?}: {s:?} is not a lane count (FROM..TO)"));
    Ok((count(a)?, count(b.trim_start_matches('='))?))
}

/// `--start 07:45` / `--at 07:45` → milliseconds since midnight.
fn parse_time_of_day(text: &str) -> Result<u64, String> {
    let minutes = gatelab_scenario::parse_clock(text)
        .ok_or_else(|| format!("{text:?}: write the time of day as HH:MM, e.g. 07:45"))?;
    Ok(u64::from(minutes) * 60_000)
}

/// `--trajectory-window 07:30-08:00`, in milliseconds since midnight.
fn parse_window(text: &str) -> Result<(u64, u64), String> {
    let (from, to) =
        text.split_once('-').ok_or_else(|| format!("{text:?}: write the window as HH:MM-HH:MM, e.g. 07:30-08:00"))?;
    let (from, to) = (parse_time_of_day(from.trim())?, parse_time_of_day(to.trim())?);
    if from >= to {
        return Err(format!("{text:?}: the window must end after it starts"));
    }
    Ok((from, to))
}

/// `--size 1280x720`.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let parsed = text.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
    match parsed {
        Some((w, h)) if (64..=8192).contains(&w) && (64..=8192).contains(&h) => Ok((w, h)),
        _ => Err(format!("{text:?}: write WIDTHxHEIGHT in pixels (64 to 8192), e.g. 1280x720")),
    }
}

impl PlanArgs {
    /// What `gatelab` with no command plans: `gatelab plan` with every default.
    pub fn defaults() -> PlanArgs {
        match Cli::parse_from(["gatelab", "plan"]).command {
            Some(Command::Plan(args)) => args,
            _ => unreachable!("`gatelab plan` parses as the plan command"),
        }
    }
}
