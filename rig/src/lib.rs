//! # gatelab-rig
//!
//! Hardware-in-the-loop for the gate terminal: the same `gatelab-core` that the simulation and
//! the host run, built as Cortex-M7 firmware (`rig/firmware`), driven over one wire protocol
//! (`gatelab_core::wire`) through one of three links:
//!
//! - [`qemu::QemuUart`]: QEMU `mps2-an500`, the firmware's UART on a Unix socket (CI);
//! - [`rtt::RttLink`] over [`gdb::GdbStub`]: the RTT image in QEMU, its ring buffers read and
//!   written through QEMU's gdbstub — the very image a board runs;
//! - [`rtt::RttLink`] over `probe::ProbeTarget`: a real board through a debug probe (probe-rs).
//!
//! [`replay`] feeds a simulation trace to the target and compares every decision with the host
//! core; [`bench`] measures the matcher on the target.

pub mod bench;
pub mod client;
pub mod firmware;
pub mod gdb;
#[cfg(feature = "probe")]
pub mod probe;
pub mod qemu;
pub mod replay;
pub mod rtt;
pub mod transport;
