//! # gatelab-core
//!
//! The gate logic of a residential compound's face-recognition entrance, written so it can run
//! unchanged in a crowd simulation, on a host and on a Cortex-M terminal:
//!
//! - [`terminal`]: the sans-IO terminal state machine (`handle(now, event) -> actions`),
//! - [`consent`]: the consent ledger (separate, explicit consent; withdrawal; retention),
//! - [`template`]: the template store and the exact 1:N matcher (f32 and int8),
//! - [`audit`]: the audit log records every producer writes,
//! - [`checker`]: the consent checker that judges any audit log against C1–C8,
//! - [`policy`]: gate policies as data (compliant default, deliberately non-compliant forced face),
//! - [`compound`]: all terminals of a compound, with admin commands broadcast to every store,
//! - [`trace`]: recorded terminal input, replayed on another implementation to compare decisions,
//! - [`flash`], [`journal`], [`persist`]: power-loss-safe, encrypted storage of the registry,
//!   ledger and templates on NOR flash (two partitions: identity and biometric),
//! - [`wire`]: the host ↔ firmware protocol (postcard + COBS + CRC), which cannot carry a template out.
//!
//! The crate is `no_std` + `alloc`. It owns no clock, thread, file or socket: time and events
//! come in as values, actions and audit records go out. The `std` feature only adds host
//! conveniences (JSON Lines logs, runtime SIMD dispatch, `std::error::Error`).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod audit;
pub mod checker;
pub mod compound;
pub mod consent;
pub mod domain;
pub mod flash;
pub mod journal;
pub mod persist;
pub mod policy;
pub mod sync;
pub mod template;
pub mod terminal;
pub mod trace;
pub mod wire;

pub use audit::{AuditEvent, AuditRecord};
pub use checker::{Checker, Report, Rule, Violation, check};
pub use compound::Compound;
pub use consent::{ConsentLedger, ConsentRecord};
pub use domain::*;
pub use policy::Policy;
pub use template::{Candidate, Precision, Probe, TemplateStore};
pub use terminal::{Action, AdminCommand, Event, Terminal, TerminalConfig};

/// A short self-description of what this core does, for `gatelab` to print.
pub fn describe() -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::new();
    let _ = writeln!(
        s,
        "gatelab-core {}: sans-IO gate terminal, consent ledger, template store, 1:N matcher, audit log, consent checker",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "  template dims in use: {:?} (any 1..={}), precisions: f32, int8",
        template::COMMON_DIMS,
        template::MAX_DIM
    );
    let _ = writeln!(s, "  built-in policies: compliant, forced-face");
    let _ = writeln!(s, "  consent rules checked:");
    for rule in Rule::ALL {
        let _ = writeln!(s, "    {rule}: {}", rule.title());
    }
    s
}
