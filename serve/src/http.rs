//! Routes. Every handler reads what it shows from the alternative's folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatelab_scenario::{Outage, OutageKind, Scenario, TerminalKind};

use crate::Engine;
use crate::jobs::Jobs;
use crate::pages;
use crate::store::{LogUpload, Store, shipped_scenarios, valid_id};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub jobs: Jobs,
    pub engine: Arc<dyn Engine>,
    pub token: Option<String>,
    pub scenarios: PathBuf,
    pub max_upload: usize,
}

type Form = axum::extract::Form<BTreeMap<String, String>>;

pub fn router(state: AppState) -> Router {
    let limit = state.max_upload;
    Router::new()
        .route("/", get(index))
        .route("/login", get(login))
        .route("/new", post(create_shipped))
        .route("/upload", post(upload))
        .route("/compare", get(compare))
        .route("/a/{id}", get(alternative))
        .route("/a/{id}/edit", post(edit))
        .route("/a/{id}/copy", post(copy))
        .route("/a/{id}/run", post(run))
        .route("/a/{id}/cancel", post(cancel))
        .route("/a/{id}/events", get(events))
        .route("/a/{id}/status", get(status))
        .route("/a/{id}/record", post(record))
        .route("/a/{id}/watch", get(watch))
        .route("/a/{id}/recording.json", get(recording_json))
        .route("/a/{id}/files/{name}", get(file))
        .route("/a/{id}/files/plan/{name}", get(plan_file))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn page(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, pages::problem(title, message))
}

fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "Not found", "no such alternative or file")
}

fn internal(e: anyhow::Error) -> Response {
    problem(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", &format!("{e:#}"))
}

/// Equal without telling, by its time, how much of the token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_given(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_owned());
    }
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok())?;
    cookies.split(';').find_map(|c| c.trim().strip_prefix("gatelab_token=").map(str::to_owned))
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else { return next.run(request).await };
    if request.uri().path() == "/login" {
        return next.run(request).await;
    }
    match token_given(request.headers()) {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => problem(
            StatusCode::UNAUTHORIZED,
            "A token is needed",
            "this server asks for its token: open /login?token=… once (it sets a cookie), or send Authorization: Bearer …",
        ),
    }
}

async fn login(State(state): State<AppState>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let given = q.get("token").cloned().unwrap_or_default();
    match &state.token {
        Some(token) if same(given.as_bytes(), token.as_bytes()) => {
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("gatelab_token={given}; HttpOnly; SameSite=Strict; Path=/")) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Some(_) => problem(StatusCode::UNAUTHORIZED, "Wrong token", "that is not this server's token"),
        None => Redirect::to("/").into_response(),
    }
}

fn decision_of(store: &Store, id: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(store.plan_dir(id).join("plan.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn index_page(state: &AppState, note: &str) -> String {
    let rows: Vec<_> = state
        .store
        .ids()
        .into_iter()
        .filter_map(|id| {
            let meta = state.store.meta(&id).ok()?;
            let run = state.store.run_state(&id);
            let decision = decision_of(&state.store, &id).and_then(|p| p["decision"].as_str().map(str::to_owned));
            Some((id, meta, run, decision))
        })
        .collect();
    pages::index(&rows, &shipped_scenarios(&state.scenarios), note)
}

async fn index(State(state): State<AppState>) -> Response {
    page(StatusCode::OK, index_page(&state, ""))
}

async fn create_shipped(State(state): State<AppState>, form: Form) -> Response {
    let shipped = form.get("shipped").cloned().unwrap_or_default();
    let name = form.get("name").cloned().unwrap_or_default();
    let store = state.store.clone();
    let scenarios = state.scenarios.clone();
    match tokio::task::spawn_blocking(move || store.create_from_shipped(&scenarios, &shipped, &name)).await {
        Ok(Ok(id)) => Redirect::to(&format!("/a/{id}")).into_response(),
        Ok(Err(e)) => page(StatusCode::BAD_REQUEST, index_page(&state, &format!("{e:#}"))),
        Err(e) => internal(e.into()),
    }
}

async fn upload(State(state): State<AppState>, mut multipart: Multipart) -> Response {
    let mut name = String::new();
    let mut scenario: Option<(String, Vec<u8>)> = None;
    let mut site: Option<(String, Vec<u8>)> = None;
    let mut log: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let status = e.status();
                return page(status, index_page(&state, &format!("the upload could not be read: {}", e.body_text())));
            }
        };
        let field_name = field.name().unwrap_or("").to_owned();
        // The browser's file name is only shown in messages, never used as a path.
        let file_name = field.file_name().unwrap_or("upload").chars().filter(|c| !c.is_control()).take(100).collect();
        let bytes = match field.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let status = e.status();
                return page(status, index_page(&state, &format!("the upload could not be read: {}", e.body_text())));
            }
        };
        match field_name.as_str() {
            "name" => name = String::from_utf8_lossy(&bytes).into_owned(),
            "scenario" if !bytes.is_empty() => scenario = Some((file_name, bytes)),
            "site" if !bytes.is_empty() => site = Some((file_name, bytes)),
            "log" if !bytes.is_empty() => log = Some((file_name, bytes)),
            _ => {}
        }
    }
    let Some((file, bytes)) = scenario else {
        return page(StatusCode::BAD_REQUEST, index_page(&state, "choose a scenario file (.toml) to upload"));
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return page(
            StatusCode::BAD_REQUEST,
            index_page(&state, &format!("{file}: not a text file — a scenario is TOML")),
        );
    };
    let store = state.store.clone();
    let engine = state.engine.clone();
    let made = tokio::task::spawn_blocking(move || {
        let calibrate = |log: &std::path::Path, fragment: &std::path::Path| engine.calibrate(log, fragment);
        store.create_from_upload(
            &name,
            &file,
            &text,
            site.as_ref().map(|(f, b)| (f.as_str(), b.as_slice())),
            log.as_ref().map(|(f, b)| LogUpload { file: f.as_str(), bytes: b.as_slice(), calibrate: &calibrate }),
        )
    })
    .await;
    match made {
        Ok(Ok(id)) => Redirect::to(&format!("/a/{id}")).into_response(),
        Ok(Err(message)) => page(StatusCode::BAD_REQUEST, index_page(&state, &message)),
        Err(e) => internal(e.into()),
    }
}

fn alternative_page(
    state: &AppState,
    id: &str,
    errors: &BTreeMap<String, String>,
    shown: Option<&Scenario>,
) -> anyhow::Result<String> {
    let meta = state.store.meta(id)?;
    let stored;
    let scenario = match shown {
        Some(s) => s,
        None => {
            stored = state.store.scenario(id)?;
            &stored
        }
    };
    let svg = match state.engine.site_svg(scenario) {
        Ok(svg) => svg,
        Err(e) => Some(format!("<p class=\"err\">{}</p>", pages::esc(&format!("{e:#}")))),
    };
    let plan = decision_of(&state.store, id);
    Ok(pages::alternative(
        id,
        &meta,
        scenario,
        svg.as_deref(),
        errors,
        state.store.run_state(id).as_ref(),
        state.jobs.progress(id),
        plan.as_ref(),
        &state.store.files(id),
    ))
}

async fn alternative(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    match tokio::task::spawn_blocking(move || alternative_page(&state, &id, &BTreeMap::new(), None)).await {
        Ok(Ok(html)) => page(StatusCode::OK, html),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e.into()),
    }
}

/// The form's what-ifs applied to the scenario, and what the validator says of them, by the
/// form's field names.
fn apply(mut s: Scenario, form: &BTreeMap<String, String>) -> (Scenario, BTreeMap<String, String>) {
    let mut errors = BTreeMap::new();
    for (g, gate) in s.gates.iter_mut().enumerate() {
        for (key, slot) in
            [(format!("gate{g}_lanes_out"), &mut gate.lanes_out), (format!("gate{g}_lanes_in"), &mut gate.lanes_in)]
        {
            if let Some(v) = form.get(&key) {
                match v.trim().parse::<u32>() {
                    Ok(n) => *slot = n,
                    Err(_) => {
                        errors.insert(key, format!("{v:?}: give a whole number of lanes"));
                    }
                }
            }
        }
        match form.get(&format!("gate{g}_terminal")).map(String::as_str) {
            Some("face_and_card") => gate.terminal = TerminalKind::FaceAndCard,
            Some("card_only") => gate.terminal = TerminalKind::CardOnly,
            Some(other) => {
                errors.insert(format!("gate{g}_terminal"), format!("{other:?} is not a terminal kind"));
            }
            None => {}
        }
    }
    if let Some(v) = form.get("opt_out_share") {
        match v.trim().parse::<f64>() {
            Ok(x) => s.population.opt_out_share = x,
            Err(_) => {
                errors.insert("opt_out_share".into(), format!("{v:?}: give a share between 0 and 1"));
            }
        }
    }
    if let Some(p) = form.get("policy") {
        if gatelab_core::Policy::builtin(p).is_some() || *p == s.policy.name {
            if *p != s.policy.name {
                s.policy.name = p.clone();
                s.policy.resolved = None;
            }
        } else {
            errors.insert("policy".into(), format!("{p:?} is not a policy this server knows"));
        }
    }
    let window = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    match form.get("fault").map(String::as_str) {
        Some("none") => s.faults.outages.clear(),
        Some(kind @ ("scanner_removed" | "gallery_outage")) => {
            let kind = if kind == "scanner_removed" { OutageKind::ScannerRemoved } else { OutageKind::GalleryOutage };
            let gate = (kind == OutageKind::ScannerRemoved).then(|| window("fault_gate"));
            s.faults.outages = vec![Outage { kind, gate, from: window("fault_from"), to: window("fault_to") }];
        }
        _ => {}
    }
    if errors.is_empty()
        && let Err(e) = s.validate()
    {
        errors.insert(form_field(&e.field), e.message.clone());
    }
    (s, errors)
}

/// Where the validator's field is in the form ("gates[1].lanes_in" → gate1_lanes_in); the
/// page's top for the rest.
fn form_field(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("gates[")
        && let Some((g, name)) = rest.split_once("].")
        && matches!(name, "lanes_in" | "lanes_out" | "terminal")
    {
        return format!("gate{g}_{name}");
    }
    if field.starts_with("gates[") && field.contains("lanes") {
        // "gates[0]": at least one lane in all.
        if let Some(g) = field.strip_prefix("gates[").and_then(|r| r.split(']').next()) {
            return format!("gate{g}_lanes_out");
        }
    }
    match field {
        "population.opt_out_share" => "opt_out_share".into(),
        "policy.name" | "policy" => "policy".into(),
        f if f.starts_with("faults.outages") => "fault".into(),
        _ => String::new(),
    }
}

fn field_message(errors: &mut BTreeMap<String, String>, field: &str) {
    if let Some(m) = errors.remove("") {
        errors.insert(field.to_owned(), m);
    }
}

async fn edit(State(state): State<AppState>, Path(id): Path<String>, form: Form) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    let form = form.0;
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<Response> {
        let mut meta = state.store.meta(&id)?;
        let scenario = state.store.scenario(&id)?;
        let (scenario, mut errors) = apply(scenario, &form);
        let (settings, setting_errors) = pages::settings_from(&form, &meta.settings);
        for (k, v) in setting_errors {
            errors.entry(k).or_insert(v);
        }
        if !errors.is_empty() {
            if errors.len() == 1 && errors.contains_key("") {
                field_message(&mut errors, "");
            }
            let html = alternative_page(&state, &id, &errors, Some(&scenario))?;
            return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, html));
        }
        if let Some(name) = form.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()) {
            meta.name = name.chars().take(120).collect();
        }
        meta.settings = settings;
        state.store.save_scenario(&id, &scenario)?;
        state.store.save_meta(&id, &meta)?;
        if form.get("action").map(String::as_str) == Some("run") {
            state.jobs.enqueue(&state.store, &id)?;
        }
        Ok(Redirect::to(&format!("/a/{id}")).into_response())
    })
    .await;
    match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e.into()),
    }
}

async fn copy(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    match state.store.duplicate(&id) {
        Ok(new) => Redirect::to(&format!("/a/{new}")).into_response(),
        Err(e) => internal(e),
    }
}

async fn run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    match state.jobs.enqueue(&state.store, &id) {
        Ok(_) => Redirect::to(&format!("/a/{id}")).into_response(),
        Err(e) => internal(e),
    }
}

async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    state.jobs.cancel(&id);
    Redirect::to(&format!("/a/{id}")).into_response()
}

/// The run's state as JSON: `state`, `done`, `total`, `label`, `final`.
fn status_json(state: &AppState, id: &str) -> serde_json::Value {
    match state.jobs.progress(id) {
        Some((running, done, total, label)) => serde_json::json!({
            "state": if running { "running" } else { "queued" }, "done": done, "total": total, "label": label, "final": false
        }),
        None => {
            let run = state.store.run_state(id).unwrap_or_default();
            let name = if run.state.is_empty() { "not planned".to_owned() } else { run.state };
            serde_json::json!({ "state": name, "done": 0, "total": 0, "label": run.message, "final": true, "wall_s": run.wall_s })
        }
    }
}

async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    axum::Json(status_json(&state, &id)).into_response()
}

async fn events(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    let stream = futures_util::stream::unfold((state, id, false), |(state, id, ended)| async move {
        if ended {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let now = status_json(&state, &id);
        let last = now["final"].as_bool().unwrap_or(true);
        let event = Event::default().data(now.to_string());
        Some((Ok::<Event, std::convert::Infallible>(event), (state, id, last)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        "toml" | "txt" | "wkt" | "dxf" | "geojson" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file of the alternative's: only one its folder lists, by that name.
fn send(state: &AppState, id: &str, listed: &str) -> Response {
    if !valid_id(id) || !state.store.files(id).iter().any(|f| f == listed) {
        return not_found();
    }
    let path = state.store.dir(id).join(listed);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let name = listed.rsplit('/').next().unwrap_or(listed);
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
            if !name.ends_with(".html")
                && !name.ends_with(".svg")
                && !name.ends_with(".png")
                && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}-{name}\""))
            {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(_) => not_found(),
    }
}

async fn file(State(state): State<AppState>, Path((id, name)): Path<(String, String)>) -> Response {
    send(&state, &id, &name)
}

async fn plan_file(State(state): State<AppState>, Path((id, name)): Path<(String, String)>) -> Response {
    send(&state, &id, &format!("plan/{name}"))
}

async fn compare(State(state): State<AppState>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let (Some(a), Some(b)) = (q.get("a"), q.get("b")) else {
        return problem(StatusCode::BAD_REQUEST, "Compare", "choose two alternatives (a and b)");
    };
    if !state.store.exists(a) || !state.store.exists(b) {
        return not_found();
    }
    let side = |id: &String| -> anyhow::Result<_> {
        Ok((id.clone(), state.store.meta(id)?, decision_of(&state.store, id), state.store.files(id)))
    };
    match (side(a), side(b)) {
        (Ok(x), Ok(y)) => page(StatusCode::OK, pages::compare([x, y])),
        (Err(e), _) | (_, Err(e)) => internal(e),
    }
}

/// Minutes of the morning a recording covers: a quick look, not the whole window.
const WATCH_MINUTES: u32 = 30;

async fn record(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    let made = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        // One recording at a time (a run is seconds; a burst of clicks waits its turn).
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE.lock().map_err(|_| anyhow::anyhow!("the recorder was poisoned"))?;
        let meta = state.store.meta(&id)?;
        let minutes = meta.settings.duration_min.unwrap_or(WATCH_MINUTES).min(WATCH_MINUTES);
        let dir = state.store.dir(&id).join("recording");
        std::fs::create_dir_all(&dir)?;
        state.engine.record(&state.store.scenario_path(&id), minutes, &dir.join("run.rec"), &dir)?;
        Ok(id)
    })
    .await;
    match made {
        Ok(Ok(id)) => Redirect::to(&format!("/a/{id}/watch")).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e.into()),
    }
}

async fn watch(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    let meta = match state.store.meta(&id) {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let recorded = state.store.dir(&id).join("recording/run.rec").is_file();
    page(StatusCode::OK, pages::watch(&id, &meta.name, recorded))
}

fn round2(x: f32) -> f64 {
    (f64::from(x) * 100.0).round() / 100.0
}

/// The recording, as the page's player draws it: the stage, then per frame the time and every
/// dot (x, y, who: an index into the legend).
async fn recording_json(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !state.store.exists(&id) {
        return not_found();
    }
    let path = state.store.dir(&id).join("recording/run.rec");
    let built = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        use gatelab_sim::record::{Look, Recording};
        let rec = Recording::load(&path)?;
        let stage = &rec.header.stage;
        let frames: Vec<serde_json::Value> = rec
            .frames
            .iter()
            .map(|f| {
                let dots: Vec<f64> = f
                    .agents
                    .iter()
                    .flat_map(|a| {
                        let who = Look::ALL.iter().position(|l| *l == a.look).unwrap_or(0) as f64;
                        [round2(a.x), round2(a.y), who]
                    })
                    .collect();
                serde_json::json!([f.t_ms, dots, f.counters.passages])
            })
            .collect();
        Ok(serde_json::json!({
            "scenario": rec.header.scenario,
            "radius": stage.plaza_radius_m,
            "walls": stage.walls,
            "gates": stage.gates.iter().map(|g| serde_json::json!({"name": g.name, "x": g.x})).collect::<Vec<_>>(),
            "lanes": stage.lanes.iter().map(|l| serde_json::json!({"x": l.x, "width": l.width, "inbound": l.inbound})).collect::<Vec<_>>(),
            "looks": Look::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
            "frames": frames,
        }))
    })
    .await;
    match built {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(_)) => not_found(),
        Err(e) => internal(e.into()),
    }
}
