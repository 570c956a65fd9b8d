//! `gatelab serve` over HTTP, every endpoint: a plan through the page is the plan the command
//! line makes of the downloaded scenario; bad input is named beside its field; uploads are
//! size-limited and parsed by the scenario's own loader; file names never reach the disk as
//! paths; a token, when given, is required; a cancelled run keeps the last plan; a restarted
//! server still has every alternative.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::scratch;

/// A `gatelab serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatelab"))
            .args(["serve", "--port", "0", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("it says where it listens");
        let base = line.trim().strip_prefix("listening on ").expect(&line).trim_end_matches('/').to_owned();
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// (status, body) of a GET.
fn get(url: &str) -> (u16, String) {
    let mut r = agent().get(url).call().expect("the server answers");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

/// (status, body) of a form POST, after its redirect.
fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut r = agent().post(url).send_form(form.iter().copied()).expect("the server answers");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

/// A multipart upload of (field, file name, bytes).
fn upload(url: &str, parts: &[(&str, &str, &[u8])]) -> (u16, String) {
    let boundary = "gatelab-test-boundary-7f3a";
    let mut body = Vec::new();
    for (field, file, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r =
        agent().post(url).header("Content-Type", &format!("multipart/form-data; boundary={boundary}")).send(&body[..]);
    match r {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        // A server refusing a body that large may close before reading it all.
        Err(e) => (0, e.to_string()),
    }
}

/// Waits for the alternative's run to end; its final state.
fn wait_for(server: &Server, id: &str, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(&server.url(&format!("/a/{id}/status")));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if v["final"] == true {
            return v;
        }
        assert!(started.elapsed() < limit, "still {v} after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A quick what-if's settings: two lane counts, three replications, half an hour.
const QUICK: [(&str, &str); 6] = [
    ("lanes_from", "1"),
    ("lanes_to", "2"),
    ("replications", "3"),
    ("duration_min", "30"),
    ("target_wait_p95", "60"),
    ("los", "D"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn a_plan_made_in_the_browser_is_the_plan_the_command_line_makes_of_its_download() {
    let dir = scratch("serve-plan");
    let server = Server::start(&dir.join("data"), &[]);
    let (status, page) = post(&server.url("/new"), &[("shipped", "dongcheng"), ("name", "Dongcheng, two lanes")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Dongcheng, two lanes") && page.contains("gate0_lanes_out"), "{page}");
    // What if: two lanes out at the gate, 20 % refusing face; plan it.
    let mut form: Vec<(&str, &str)> = QUICK.to_vec();
    form.extend([("gate0_lanes_out", "2"), ("opt_out_share", "0.2"), ("action", "run")]);
    let (status, _) = post(&server.url("/a/a1/edit"), &form);
    assert_eq!(status, 200);
    let end = wait_for(&server, "a1", Duration::from_secs(600));
    assert_eq!(end["state"], "done", "{end}");
    let (_, page) = get(&server.url("/a/a1"));
    for part in ["id=\"sentence\"", "id=\"configurations\"", "consent checker: no rule broken", "plan/report.html"] {
        assert!(page.contains(part), "the result page lacks {part}");
    }
    // The download re-plans to the same bytes on the command line.
    let (status, scenario) = get(&server.url("/a/a1/files/scenario.toml"));
    assert_eq!(status, 200);
    assert!(scenario.contains("lanes_out = 2") && scenario.contains("opt_out_share = 0.2"), "{scenario}");
    let file = dir.join("downloaded.toml");
    std::fs::write(&file, &scenario).unwrap();
    let out = dir.join("cli-plan");
    let cli = Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .arg("plan")
        .arg(&file)
        .args(["--lanes", "1..2", "--replications", "3", "--max-replications", "3", "--duration-min", "30"])
        .args(["--target-wait-p95", "60", "--los", "D", "--no-sensitivity", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", common::text(&cli));
    for name in ["plan.json", "plan.csv"] {
        let (status, served) = get(&server.url(&format!("/a/a1/files/plan/{name}")));
        assert_eq!(status, 200);
        let local = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(served == local, "{name} differs between the workbench and the command line");
    }
    // A recorded run of the alternative, for the page's player.
    let (status, page) = post(&server.url("/a/a1/record"), &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<canvas id=\"stage\""), "{page}");
    let (status, json) = get(&server.url("/a/a1/recording.json"));
    assert_eq!(status, 200);
    let rec: serde_json::Value = serde_json::from_str(&json).unwrap();
    let frames = rec["frames"].as_array().expect("frames");
    assert!(frames.len() > 100, "{} frames", frames.len());
    assert!(frames.iter().any(|f| f[1].as_array().is_some_and(|d| d.len() >= 6)), "nobody drawn");
    assert!(rec["lanes"].as_array().is_some_and(|l| l.len() == 3), "{}", rec["lanes"]);
    // Two alternatives side by side.
    let (status, _) = post(&server.url("/a/a1/copy"), &[]);
    assert_eq!(status, 200);
    let (status, page) = get(&server.url("/compare?a=a1&b=a2"));
    assert_eq!(status, 200);
    assert!(page.contains("id=\"comparison\"") && page.contains("not planned yet"), "{page}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_named_beside_its_field_and_nothing_stored_is_lost() {
    let dir = scratch("serve-bad");
    let server = Server::start(&dir.join("data"), &["--max-upload-mb", "1"]);
    post(&server.url("/new"), &[("shipped", "dongcheng")]);
    let before = get(&server.url("/a/a1/files/scenario.toml")).1;
    // No lane at all at the gate: the validator's own message, beside the lanes.
    let (status, page) = post(&server.url("/a/a1/edit"), &[("gate0_lanes_out", "0"), ("gate0_lanes_in", "0")]);
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("data-field=\"gate0_lanes_"), "{page}");
    let (status, page) = post(&server.url("/a/a1/edit"), &[("opt_out_share", "1.5")]);
    assert_eq!(status, 422);
    assert!(page.contains("data-field=\"opt_out_share\""), "{page}");
    let (status, page) = post(&server.url("/a/a1/edit"), &[("lanes_from", "3"), ("lanes_to", "2")]);
    assert_eq!(status, 422);
    assert!(page.contains("data-field=\"lanes_to\""), "{page}");
    assert_eq!(get(&server.url("/a/a1/files/scenario.toml")).1, before, "a refused edit changed nothing");
    // Uploads: a broken scenario is refused with the loader's line-numbered message; one that
    // names a site without it says so; an oversize upload is refused.
    let broken = b"name = \"x\"\n[run\nstart = 7\n";
    let (status, page) = upload(&server.url("/upload"), &[("scenario", "mine.toml", broken)]);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("mine.toml") && page.contains("line"), "{page}");
    let shipped = std::fs::read(workspace().join("scenarios/compound-entrance.toml")).unwrap();
    let (status, page) = upload(&server.url("/upload"), &[("scenario", "entrance.toml", &shipped)]);
    assert_eq!(status, 400);
    assert!(page.contains("upload that drawing"), "{page}");
    let site = std::fs::read(workspace().join("scenarios/sites/compound-entrance.dxf")).unwrap();
    let (status, page) =
        upload(&server.url("/upload"), &[("scenario", "entrance.toml", &shipped), ("site", "../../evil.dxf", &site)]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<svg"), "the uploaded site is drawn");
    assert!(!dir.join("evil.dxf").exists() && dir.join("data/alternatives/a2/site.dxf").exists());
    // A scenario with its compound's gate log: calibrated, and the fitted demand and service
    // times put in place of the scenario's own (the fragment kept beside it).
    let scenario = std::fs::read(workspace().join("scenarios/sharp-peak.toml")).unwrap();
    let log = std::fs::read(workspace().join("scenarios/calibrated/sharp-peak-passages.csv")).unwrap();
    let (status, page) =
        upload(&server.url("/upload"), &[("scenario", "peak.toml", &scenario), ("log", "gate-log-march.csv", &log)]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("calibrated from gate-log-march.csv") && page.contains("calibrated.toml"), "{page}");
    let (_, merged) = get(&server.url("/a/a3/files/scenario.toml"));
    assert!(merged.contains("rows") && !merged.contains("profile") && merged.contains("face_cv"), "{merged}");
    let garbage = b"when,who\nyesterday,someone\n";
    let (status, page) =
        upload(&server.url("/upload"), &[("scenario", "peak.toml", &scenario), ("log", "broken-log.csv", garbage)]);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("broken-log.csv"), "{page}");
    let big = vec![b'#'; 2 << 20];
    let (status, _) = upload(&server.url("/upload"), &[("scenario", "big.toml", &big)]);
    assert!(status == 413 || status == 0, "oversize upload answered {status}");
    // Names from requests never become paths.
    for path in [
        "/a/a1/files/..%2Falternative.json",
        "/a/a1/files/plan/..%2F..%2Fa2%2Fscenario.toml",
        "/a/..%2Fa1/files/scenario.toml",
        "/a/a1x/files/scenario.toml",
        "/a/a1/files/.hidden",
        "/a/a9/files/scenario.toml",
    ] {
        let (status, _) = get(&server.url(path));
        assert_eq!(status, 404, "{path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_token_when_given_is_asked_of_every_request() {
    let dir = scratch("serve-token");
    let server = Server::start(&dir.join("data"), &["--token", "s3cret"]);
    assert_eq!(get(&server.url("/")).0, 401);
    assert_eq!(post(&server.url("/new"), &[("shipped", "dongcheng")]).0, 401);
    let with = agent().get(&server.url("/")).header("Authorization", "Bearer s3cret").call().unwrap();
    assert_eq!(with.status().as_u16(), 200);
    let wrong = agent().get(&server.url("/")).header("Authorization", "Bearer s3creT").call().unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    // /login sets the cookie a browser then sends.
    let no_redirect: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let login = no_redirect.get(&server.url("/login?token=s3cret")).call().unwrap();
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(cookie.starts_with("gatelab_token=s3cret") && cookie.contains("HttpOnly"), "{cookie}");
    let with_cookie = agent().get(&server.url("/")).header("Cookie", "gatelab_token=s3cret").call().unwrap();
    assert_eq!(with_cookie.status().as_u16(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cancelled_run_keeps_the_last_plan_and_a_restarted_server_keeps_everything() {
    let dir = scratch("serve-cancel");
    let data = dir.join("data");
    {
        let server = Server::start(&data, &[]);
        post(&server.url("/new"), &[("shipped", "dongcheng"), ("name", "kept")]);
        // A first, quick plan.
        let mut form: Vec<(&str, &str)> = QUICK.to_vec();
        form.push(("action", "run"));
        post(&server.url("/a/a1/edit"), &form);
        assert_eq!(wait_for(&server, "a1", Duration::from_secs(600))["state"], "done");
        let first = get(&server.url("/a/a1/files/plan/plan.json")).1;
        // A long one, cancelled once it is under way.
        post(
            &server.url("/a/a1/edit"),
            &[("lanes_from", "1"), ("lanes_to", "6"), ("replications", "40"), ("duration_min", ""), ("action", "run")],
        );
        // Clicking again while it runs queues nothing more.
        post(&server.url("/a/a1/run"), &[]);
        let started = Instant::now();
        loop {
            let v: serde_json::Value = serde_json::from_str(&get(&server.url("/a/a1/status")).1).unwrap();
            if v["state"] == "running" && v["done"].as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(300), "{v}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, _) = post(&server.url("/a/a1/cancel"), &[]);
        assert_eq!(status, 200);
        let end = wait_for(&server, "a1", Duration::from_secs(120));
        assert_eq!(end["state"], "cancelled", "{end}");
        assert_eq!(get(&server.url("/a/a1/files/plan/plan.json")).1, first, "the last plan is kept");
        // The live progress as server-sent events: the final state, then the stream ends.
        let (status, events) = get(&server.url("/a/a1/events"));
        assert_eq!(status, 200);
        assert!(events.contains("data: {") && events.contains("\"final\":true"), "{events}");
    }
    // Stopped and started again: the alternative, its settings, its plan and its last run.
    let server = Server::start(&data, &[]);
    let (_, page) = get(&server.url("/"));
    assert!(page.contains("kept") && page.contains("cancelled"), "{page}");
    let (_, page) = get(&server.url("/a/a1"));
    assert!(page.contains("id=\"sentence\"") && page.contains("value=\"40\""), "{page}");
    let _ = std::fs::remove_dir_all(&dir);
}
