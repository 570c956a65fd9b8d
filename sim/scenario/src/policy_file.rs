//! Policies by built-in name or from a TOML file (see `scenarios/policies/`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use gatelab_core::Policy;

/// `spec` is a built-in name (`compliant`, `forced-face`) or a path to a policy TOML file.
pub fn load(spec: &str) -> Result<Policy> {
    if let Some(p) = Policy::builtin(spec) {
        return Ok(p);
    }
    let path = Path::new(spec);
    if !path.exists() {
        bail!(
            "no built-in policy named '{spec}' and no such file; use 'compliant', 'forced-face' or a path to a \
             policy TOML file (start from `gatelab policy show compliant`)"
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("could not read policy file {}", path.display()))?;
    parse(&text).with_context(|| format!("policy file {} is not a valid policy", path.display()))
}

/// Parse a policy TOML document; errors name the field and line.
pub fn parse(text: &str) -> Result<Policy> {
    let policy = toml::from_str::<Policy>(text)?;
    // The lease must end before the deletion bound (see gatelab_core::sync).
    policy.validate().map_err(|e| anyhow::anyhow!("lease_ms: {e}"))?;
    Ok(policy)
}

/// A policy as the TOML a user can edit.
pub fn to_toml(policy: &Policy) -> String {
    toml::to_string(policy).unwrap_or_default()
}
