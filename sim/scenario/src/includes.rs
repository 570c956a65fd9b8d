//! `include = ["FILE", …]` at the top of a scenario: scenario fragments (what `gatelab
//! calibrate` writes: demand rows, service times, shares) merged in before validation, each
//! relative to the scenario file.
//!
//! Tables merge key by key; a key that two files both set is an error naming both (a calibrated
//! value never silently loses to a guess, nor the other way round: delete one). A fragment may
//! not include further files.

use std::path::Path;

use crate::{ScenarioError, line_of, locate};

/// The merged table and each included file's (name, text), in order.
#[derive(Debug)]
pub struct Merged {
    pub table: toml::Table,
    pub sources: Vec<(String, String)>,
}

/// `None` when `text` includes nothing.
pub fn merge(text: &str, file: &str, dir: &Path) -> Result<Option<Merged>, ScenarioError> {
    let parse_error = |e: toml::de::Error, name: &str, text: &str| ScenarioError {
        file: name.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        field: String::new(),
        message: e.message().trim_end().to_string(),
    };
    let mut table: toml::Table = text.parse().map_err(|e| parse_error(e, file, text))?;
    let Some(include) = table.remove("include") else { return Ok(None) };
    let fail = |message: String| ScenarioError {
        file: file.to_string(),
        line: locate(text, "include"),
        field: "include".into(),
        message,
    };
    let names: Vec<String> = match include {
        toml::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s),
                other => Err(fail(format!("{other} is not a file name; write include = [\"calibrated/site.toml\"]"))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(fail(format!("{other}: write a list of files, e.g. include = [\"calibrated/site.toml\"]")));
        }
    };
    let mut sources = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let shown = path.display().to_string();
        let inc_text = std::fs::read_to_string(&path).map_err(|e| {
            fail(format!("could not read {shown} ({e}); the path is relative to the scenario — write it with `gatelab calibrate LOG --out {shown}`"))
        })?;
        let inc: toml::Table = inc_text.parse().map_err(|e| parse_error(e, &shown, &inc_text))?;
        if inc.contains_key("include") {
            return Err(ScenarioError {
                file: shown,
                line: locate(&inc_text, "include"),
                field: "include".into(),
                message: "an included file may not include others; list them all in the scenario".into(),
            });
        }
        merge_into(&mut table, inc, "", &|key: &str| {
            let (scenario_line, inc_line) = (locate(text, key), locate(&inc_text, key));
            ScenarioError {
                file: file.to_string(),
                line: scenario_line,
                field: key.to_string(),
                message: format!(
                    "set here and in {shown}{}; keep one (delete this one to use the included value)",
                    inc_line.map(|l| format!(":{l}")).unwrap_or_default()
                ),
            }
        })?;
        sources.push((shown, inc_text));
    }
    Ok(Some(Merged { table, sources }))
}

fn merge_into(
    into: &mut toml::Table,
    from: toml::Table,
    prefix: &str,
    conflict: &dyn Fn(&str) -> ScenarioError,
) -> Result<(), ScenarioError> {
    for (key, value) in from {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (into.get_mut(&key), value) {
            (None, value) => {
                into.insert(key, value);
            }
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => merge_into(mine, theirs, &path, conflict)?,
            (Some(_), _) => return Err(conflict(&path)),
        }
    }
    Ok(())
}
