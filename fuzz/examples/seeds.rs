//! Writes the seed corpora under `fuzz/corpus/` from real inputs:
//!
//! ```text
//! gatelab run scenarios/dongcheng.toml --duration-min 5 --out /tmp/a --export-trace /tmp/a/trace.jsonl
//! gatelab run scenarios/dongcheng-forced-face.toml --duration-min 5 --out /tmp/b
//! cd fuzz && cargo run --example seeds -- /tmp/a/trace.jsonl /tmp/a/audit.jsonl /tmp/b/audit.jsonl
//! ```
//!
//! `wire_decode`: frames the encoder makes for each kind of message (and their bare postcard
//! bodies); `scenario_parse`: the shipped scenarios, as written, with every default spelt out and
//! as postcard;
//! `audit_parse`: stretches of real logs (hash-chained here, as a terminal writes them), one
//! line of each event kind and the checker's hand-written fixtures; `consent_check`: the same
//! logs as postcard; `sync_frame`: real authority frames (a registration day's pushes and an
//! answer) and a terminal's report, each under every mode byte. Then `cargo fuzz cmin` keeps
//! what adds coverage.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use gatelab_core::audit::OpenCause;
use gatelab_core::audit::jsonl;
use gatelab_core::wire::{self, BenchKind, BenchReport, BenchRequest, Board, Done, HostMsg, LinkError, LinkStatus};
use gatelab_core::wire::{TargetInfo, TargetMsg, TickSource};
use gatelab_core::{Action, AuditRecord, CredentialKind, PersonId, Policy, Timestamp, trace};
use gatelab_fuzz::rechain;
use gatelab_fuzz::scenario::Scenario;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [trace_path, audits @ ..] = args.as_slice() else {
        eprintln!("usage: seeds TRACE.jsonl AUDIT.jsonl...");
        std::process::exit(2);
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    sync_seeds(&corpus.join("sync_frame"));
    let logs: Vec<Vec<AuditRecord>> = audits
        .iter()
        .map(|p| jsonl::read(BufReader::new(fs::File::open(p).expect("audit log"))).expect("a valid audit log"))
        .map(|log| rechain(&log))
        .collect();
    wire_seeds(&corpus.join("wire_decode"), trace_path, &logs);
    scenario_seeds(&corpus.join("scenario_parse"));
    audit_seeds(&corpus.join("audit_parse"), &corpus.join("consent_check"), &logs);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus folder");
    fs::write(dir.join(name), bytes).expect("seed written");
}

/// The kind of a serde enum value: its variant name.
fn kind(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value).expect("serialises") {
        serde_json::Value::String(s) => s,
        serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
        other => other.to_string(),
    }
}

fn wire_seeds(dir: &Path, trace_path: &Path, logs: &[Vec<AuditRecord>]) {
    let (header, entries) =
        trace::jsonl::read(BufReader::new(fs::File::open(trace_path).expect("trace"))).expect("a valid trace");
    let mut host = vec![HostMsg::Hello, HostMsg::Status];
    host.push(HostMsg::Configure { config: header.terminals[0].clone(), policy: header.policy.clone() });
    host.push(HostMsg::Configure { config: header.terminals[0].clone(), policy: Policy::forced_face() });
    host.push(HostMsg::ConfigurePersistent {
        config: header.terminals[1].clone(),
        policy: header.policy.clone(),
        key: wire::KeyMaterial([7; 32]),
    });
    let request = BenchRequest { kind: BenchKind::GateDecision, dim: 512, gallery: 5000, repeats: 3, seed: 7 };
    host.push(HostMsg::Bench(request));
    // One event of each kind (and of each admin command) the simulation sent.
    let mut seen = BTreeMap::new();
    for e in &entries {
        let k = match &e.event {
            gatelab_core::Event::Admin(cmd) => format!("admin-{}", kind(cmd)),
            other => kind(other),
        };
        seen.entry(k).or_insert_with(|| HostMsg::Event { now: e.at, event: e.event.clone() });
    }
    host.extend(seen.into_values());

    let mut target = vec![
        TargetMsg::Hello(TargetInfo {
            version: wire::VERSION,
            board: Board::QemuMps2An500,
            ticks: TickSource::SysTickIcount,
            heap_bytes: 16 << 20,
            max_frame: wire::MAX_FRAME as u32,
        }),
        TargetMsg::Action(Action::Grant { person: PersonId(3), credential: CredentialKind::Face }),
        TargetMsg::Action(Action::OpenDoor { cause: OpenCause::Grant }),
        TargetMsg::Done(Done {
            actions: 3,
            ticks: 12_345,
            poll_timeout: Some(Timestamp(4_000)),
            audit_records: 9,
            heap_free: 1 << 20,
        }),
        TargetMsg::Bench(BenchReport {
            request,
            ticks: TickSource::DwtCycles,
            min_ticks: 1_000_000,
            total_ticks: 3_100_000,
            work: 2_560_000,
            best: Some(PersonId(42)),
        }),
        TargetMsg::Status(LinkStatus { frames: 100, corrupt: 1, ..LinkStatus::default() }),
        TargetMsg::Error { error: LinkError::Version { got: 2, want: 1 }, status: LinkStatus::default() },
    ];
    let mut by_kind = BTreeMap::new();
    for r in logs.iter().flatten() {
        by_kind.entry(kind(&r.event)).or_insert_with(|| r.clone());
    }
    target.extend(by_kind.into_values().map(|r| TargetMsg::Action(Action::Audit(r))));

    let mut n = 0;
    let mut stream = Vec::new();
    for m in &host {
        let mut frame = Vec::new();
        wire::encode_host(m, &mut frame).expect("encodes");
        write(dir, &format!("host-{n:02}-frame"), &frame);
        write(dir, &format!("host-{n:02}-body"), &postcard::to_allocvec(m).expect("encodes"));
        stream.extend(frame);
        n += 1;
    }
    for m in &target {
        let mut frame = Vec::new();
        wire::encode_target(m, &mut frame).expect("encodes");
        write(dir, &format!("target-{n:02}-frame"), &frame);
        write(dir, &format!("target-{n:02}-body"), &postcard::to_allocvec(m).expect("encodes"));
        n += 1;
    }
    // Several frames in one stream, with a damaged one in the middle.
    let mut damaged = stream.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x10;
    write(dir, "host-stream", &stream);
    write(dir, "host-stream-damaged", &damaged);
}

fn scenario_seeds(dir: &Path) {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<_> = fs::read_dir(&scenarios)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let text = fs::read_to_string(&p).expect("scenario");
        let name = p.file_stem().expect("name").to_string_lossy().into_owned();
        write(dir, &format!("{name}.toml"), text.as_bytes());
        let scenario = Scenario::parse_named(&text, &name).expect("a shipped scenario parses");
        let full = toml::to_string(&scenario).expect("serialises");
        write(dir, &format!("{name}-full.toml"), full.as_bytes());
        write(dir, &format!("{name}.postcard"), &postcard::to_allocvec(&scenario).expect("encodes"));
    }
}

fn audit_seeds(jsonl_dir: &Path, postcard_dir: &Path, logs: &[Vec<AuditRecord>]) {
    for (l, log) in logs.iter().enumerate() {
        // The midnight registrations, then the rush-hour stretch at the end.
        let tail = log.len().saturating_sub(80);
        for (name, stretch) in [("start", &log[..log.len().min(40)]), ("end", &log[tail..])] {
            let stretch = &rechain(stretch);
            let mut text = Vec::new();
            jsonl::write(&mut text, stretch).expect("writes");
            write(jsonl_dir, &format!("log{l}-{name}.jsonl"), &text);
            write(postcard_dir, &format!("log{l}-{name}"), &postcard::to_allocvec(stretch).expect("encodes"));
        }
        // Each terminal's own records among the last ones, renumbered from 0: a log with no gaps.
        let mut per_source: BTreeMap<_, Vec<AuditRecord>> = BTreeMap::new();
        for r in &log[log.len().saturating_sub(400)..] {
            let own = per_source.entry(r.source).or_default();
            own.push(AuditRecord { seq: own.len() as u64, ..r.clone() });
        }
        for (i, own) in per_source.values().enumerate() {
            let own = rechain(own);
            write(postcard_dir, &format!("log{l}-source{i}"), &postcard::to_allocvec(&own).expect("encodes"));
        }
    }
    // The hand-written checker fixtures (tests/fixtures/audit/): every rule broken and kept,
    // tampered chains, malformed lines.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audit");
    let mut paths: Vec<_> = fs::read_dir(&fixtures).expect("fixtures").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_stem().expect("name").to_string_lossy().into_owned();
        let text = fs::read(&p).expect("fixture");
        write(jsonl_dir, &format!("fixture-{name}.jsonl"), &text);
        if let Ok(log) = jsonl::read(text.as_slice()) {
            write(postcard_dir, &format!("fixture-{name}"), &postcard::to_allocvec(&log).expect("encodes"));
        }
    }
    let mut by_kind = BTreeMap::new();
    for r in logs.iter().flatten() {
        by_kind.entry(kind(&r.event)).or_insert_with(|| r.clone());
    }
    for (k, r) in by_kind {
        write(jsonl_dir, &format!("one-{k}.jsonl"), format!("{}\n", jsonl::to_line(&r)).as_bytes());
    }
}

fn sync_seeds(dir: &Path) {
    use gatelab_core::consent::Grantor;
    use gatelab_core::sync::{Authority, AuthorityAction, LinkKey, Uplink};
    use gatelab_core::{
        AdminCommand, CompoundId, ConsentId, ConsentRecord, Credential, CredentialId, Gate, GateId, Person, PersonKind,
    };
    let compound = CompoundId(5);
    let master = [0x42; 32];
    let lane = Gate { id: GateId(1) }.inbound();
    let mut authority = Authority::new(compound, Policy::compliant(), &master, [(lane, true)]).expect("policy");
    let person = Person { id: PersonId(1), kind: PersonKind::Owner, household: None, age_years: 40 };
    let card = Credential { id: CredentialId(9), holder: PersonId(1), kind: CredentialKind::IcCard, expires_at: None };
    let consent =
        ConsentRecord::face_access(ConsentId(1), PersonId(1), compound, Grantor::Subject, Timestamp(0), 86_400_000);
    let mut frames = Vec::new();
    for command in [
        AdminCommand::RegisterPerson(person),
        AdminCommand::IssueCredential(card),
        AdminCommand::RecordConsent(consent),
        AdminCommand::Enroll { person: PersonId(1), embedding: vec![0.5; 8] },
        AdminCommand::WithdrawConsent(PersonId(1)),
    ] {
        let (actions, _) = authority.submit(Timestamp(0), command);
        frames.extend(actions.filter_map(|a| match a {
            AuthorityAction::Send { frame, .. } => Some(frame),
            AuthorityAction::Audit(_) => None,
        }));
    }
    let up = Uplink::new(&LinkKey::derive(&master, compound, lane), compound, lane, 3, 7);
    for (i, frame) in frames.iter().enumerate() {
        let body = &frame[..frame.len() - gatelab_core::sync::TAG_LEN];
        write(dir, &format!("frame-{i}"), &[&[0u8][..], frame].concat());
        write(dir, &format!("body-{i}"), &[&[1u8][..], body].concat());
    }
    write(dir, "uplink", &[&[2u8][..], &up.encode()].concat());
}
