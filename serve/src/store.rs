//! Alternatives as folders: the only state the server has.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use gatelab_scenario::Scenario;
use serde::{Deserialize, Serialize};

/// How a plan of the alternative is run: `gatelab plan`'s options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// `--target-wait-p95`, s.
    pub target_wait_p95: f64,
    /// `--los`: A–F.
    pub los: String,
    /// `--lanes FROM..TO`.
    pub lanes_from: u32,
    pub lanes_to: u32,
    /// `--replications` (the scenario's otherwise).
    pub replications: Option<u32>,
    /// `--max-replications`.
    pub max_replications: u32,
    /// `--duration-min` (the scenario's window otherwise).
    pub duration_min: Option<u32>,
    /// `--no-sensitivity`.
    pub sensitivity: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            target_wait_p95: 60.0,
            los: "D".into(),
            lanes_from: 1,
            lanes_to: 4,
            replications: None,
            max_replications: 40,
            duration_min: None,
            sensitivity: false,
        }
    }
}

/// What an alternative is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    /// Where it started: a shipped scenario, an upload, another alternative.
    pub from: String,
    pub settings: Settings,
}

/// Its last plan run.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunState {
    /// queued, running, done, failed, cancelled, interrupted.
    pub state: String,
    pub message: String,
    pub wall_s: f64,
}

/// An uploaded gate log: the browser's file name (for messages only), its bytes, and how to
/// calibrate a log into a fragment (`Engine::calibrate`).
pub struct LogUpload<'a> {
    pub file: &'a str,
    pub bytes: &'a [u8],
    pub calibrate: &'a dyn Fn(&Path, &Path) -> Result<String>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An id the server made: `a` and digits. Anything else from a request is refused.
pub fn valid_id(id: &str) -> bool {
    id.len() <= 10 && id.starts_with('a') && id.len() > 1 && id[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A plain file name (letters, digits, `.`, `-`, `_`; not starting with a dot).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not what gatelab serve wrote", path.display()))
}

/// Copies a folder's plain files and subfolders (a shipped scenario's `sites/`).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("could not read {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl Store {
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("could not create {}", root.display()))?;
        Ok(Self { root: root.to_path_buf() })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn scenario_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("scenario.toml")
    }

    pub fn plan_dir(&self, id: &str) -> PathBuf {
        self.dir(id).join("plan")
    }

    /// Every alternative's id, oldest first.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<(u64, String)> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_id(n))
            .filter(|n| self.dir(n).join("alternative.json").is_file())
            .map(|n| (n[1..].parse().unwrap_or(0), n))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, n)| n).collect()
    }

    pub fn exists(&self, id: &str) -> bool {
        valid_id(id) && self.dir(id).join("alternative.json").is_file()
    }

    pub fn meta(&self, id: &str) -> Result<Meta> {
        read_json(&self.dir(id).join("alternative.json"))
    }

    pub fn save_meta(&self, id: &str, meta: &Meta) -> Result<()> {
        write_json(&self.dir(id).join("alternative.json"), meta)
    }

    pub fn run_state(&self, id: &str) -> Option<RunState> {
        read_json(&self.dir(id).join("run.json")).ok()
    }

    pub fn save_run_state(&self, id: &str, state: &RunState) -> Result<()> {
        write_json(&self.dir(id).join("run.json"), state)
    }

    /// The alternative's scenario, read as `gatelab plan` reads it.
    pub fn scenario(&self, id: &str) -> Result<Scenario> {
        let path = self.scenario_path(id);
        Scenario::load(&path).map_err(|e| anyhow!("{e}"))
    }

    /// Writes an edited scenario (checked first: a scenario the validator refuses is not
    /// stored).
    pub fn save_scenario(&self, id: &str, scenario: &Scenario) -> Result<()> {
        let text = toml::to_string(scenario).context("could not write the scenario as TOML")?;
        let header = format!("# {} — edited in gatelab serve\n", scenario.name);
        let path = self.scenario_path(id);
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, header + &text).with_context(|| format!("could not write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("could not write {}", path.display()))
    }

    fn next_id(&self) -> String {
        let last = self.ids().last().and_then(|id| id[1..].parse::<u64>().ok()).unwrap_or(0);
        let mut n = last + 1;
        while self.dir(&format!("a{n}")).exists() {
            n += 1;
        }
        format!("a{n}")
    }

    /// A new alternative from a shipped scenario (its `sites/` folder copied beside it).
    pub fn create_from_shipped(&self, scenarios: &Path, shipped: &str, name: &str) -> Result<String> {
        let Some(file) = shipped_scenarios(scenarios).into_iter().find(|s| s == shipped) else {
            bail!("there is no shipped scenario {shipped:?}");
        };
        let source = scenarios.join(format!("{file}.toml"));
        let text = std::fs::read_to_string(&source).with_context(|| format!("could not read {}", source.display()))?;
        let id = self.next_id();
        let dir = self.dir(&id);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("scenario.toml"), text)?;
        for folder in ["sites", "policies", "calibrated"] {
            if scenarios.join(folder).is_dir() {
                copy_tree(&scenarios.join(folder), &dir.join(folder))?;
            }
        }
        let name = if name.trim().is_empty() { shipped.to_owned() } else { name.trim().to_owned() };
        self.save_meta(&id, &Meta { name, from: format!("shipped {shipped}"), settings: Settings::default() })?;
        if let Err(e) = self.scenario(&id) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(id)
    }

    /// A new alternative from an uploaded scenario and, when it names one, its site file.
    /// Checked by the scenario's own loader before anything is kept.
    pub fn create_from_upload(
        &self,
        name: &str,
        scenario_file: &str,
        scenario_text: &str,
        site: Option<(&str, &[u8])>,
        log: Option<LogUpload<'_>>,
    ) -> std::result::Result<String, String> {
        let id = self.next_id();
        let dir = self.dir(&id);
        let fail = |message: String| {
            let _ = std::fs::remove_dir_all(&dir);
            message
        };
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut text = scenario_text.to_owned();
        let site_name = match site {
            Some((file, bytes)) => {
                let lower = file.to_ascii_lowercase();
                let kept = if lower.ends_with(".dxf") {
                    "site.dxf"
                } else if lower.ends_with(".geojson") || lower.ends_with(".json") {
                    "site.geojson"
                } else if lower.ends_with(".toml") {
                    "site.toml"
                } else {
                    return Err(fail(format!(
                        "{file}: a site drawing must be .dxf, .geojson or .toml — save it as one of those"
                    )));
                };
                std::fs::write(dir.join(kept), bytes).map_err(|e| fail(e.to_string()))?;
                Some(kept)
            }
            None => None,
        };
        // The scenario names its site by its own path: point it at the file kept here.
        let parsed = Scenario::parse_named(&text, scenario_file).map_err(|e| fail(e.to_string()))?;
        if let Some(spec) = &parsed.site {
            let Some(kept) = site_name else {
                return Err(fail(format!(
                    "{scenario_file}: [site] file = {:?} — upload that drawing with the scenario",
                    spec.file
                )));
            };
            let mut value: toml::Table = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
            if let Some(site) = value.get_mut("site").and_then(|s| s.as_table_mut()) {
                site.insert("file".into(), toml::Value::String(kept.into()));
            }
            text = toml::to_string(&value).map_err(|e| fail(e.to_string()))?;
        }
        // A gate log: calibrated into a fragment (kept, with its comments on how each value was
        // estimated), whose values replace the scenario's own — its demand wholly, the rest
        // key by key.
        let mut from = format!("uploaded {scenario_file}");
        if let Some(LogUpload { file: log_file, bytes, calibrate }) = log {
            let kept = dir.join("gate-log.csv");
            std::fs::write(&kept, bytes).map_err(|e| fail(e.to_string()))?;
            let fragment = dir.join("calibrated.toml");
            let said = calibrate(&kept, &fragment).map_err(|e| {
                fail(format!("{log_file}: {}", format!("{e:#}").replace(&kept.display().to_string(), log_file)))
            })?;
            let fragment_text = std::fs::read_to_string(&fragment).map_err(|e| fail(e.to_string()))?;
            text = merge_fragment(&text, &fragment_text).map_err(|e| fail(format!("{log_file}: {e}")))?;
            from = format!("{from}, calibrated from {log_file} ({said})");
        }
        std::fs::write(dir.join("scenario.toml"), &text).map_err(|e| fail(e.to_string()))?;
        if let Err(e) = self.scenario(&id) {
            return Err(fail(e.to_string().replace(&dir.join("scenario.toml").display().to_string(), scenario_file)));
        }
        let name = if name.trim().is_empty() { scenario_file.to_owned() } else { name.trim().to_owned() };
        let meta = Meta { name, from, settings: Settings::default() };
        self.save_meta(&id, &meta).map_err(|e| fail(e.to_string()))?;
        Ok(id)
    }

    /// A copy of an alternative (its scenario, site and settings; not its plan).
    pub fn duplicate(&self, id: &str) -> Result<String> {
        let new = self.next_id();
        let (from, to) = (self.dir(id), self.dir(&new));
        std::fs::create_dir_all(&to)?;
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "plan" | "plan.partial" | "run.json" | "alternative.json") {
                continue;
            }
            if entry.file_type()?.is_dir() {
                copy_tree(&entry.path(), &to.join(&name))?;
            } else {
                std::fs::copy(entry.path(), to.join(&name))?;
            }
        }
        let mut meta = self.meta(id)?;
        meta.from = format!("copy of {} ({id})", meta.name);
        meta.name = format!("{} (copy)", meta.name);
        self.save_meta(&new, &meta)?;
        Ok(new)
    }

    /// Files a download may name: the alternative's own (scenario, site, settings) and, under
    /// `plan/`, the plan's.
    pub fn files(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let list = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| plain_name(n) && !n.ends_with(".tmp"))
                .collect();
            names.sort();
            names
        };
        out.extend(list(&self.dir(id)));
        out.extend(list(&self.plan_dir(id)).into_iter().map(|n| format!("plan/{n}")));
        out
    }

    /// Marks runs the last server left queued or running as interrupted; how many.
    pub fn mark_interrupted(&self) -> Result<usize> {
        let mut n = 0;
        for id in self.ids() {
            if let Some(state) = self.run_state(&id)
                && (state.state == "queued" || state.state == "running")
            {
                let message = "the server stopped during this run — run it again".to_owned();
                self.save_run_state(&id, &RunState { state: "interrupted".into(), message, wall_s: 0.0 })?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The shipped scenarios' names (the `.toml` files of the folder), sorted.
pub fn shipped_scenarios(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_owned))
        .filter(|n| plain_name(n))
        .collect();
    names.sort();
    names
}

/// The scenario with a calibrated fragment's values in place of its own: the fragment's
/// `[demand]` replaces the scenario's, any other table's keys replace the same keys.
pub fn merge_fragment(scenario: &str, fragment: &str) -> std::result::Result<String, String> {
    let mut base: toml::Table = toml::from_str(scenario).map_err(|e| e.to_string())?;
    let add: toml::Table = toml::from_str(fragment).map_err(|e| format!("the calibrated fragment: {e}"))?;
    for (key, value) in add {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) if key != "demand" => {
                for (k, v) in theirs {
                    mine.insert(k, v);
                }
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    toml::to_string(&base).map_err(|e| e.to_string())
}
