//! The host end of the wire protocol: requests out, replies in, with timeouts, and the two
//! ways a target can go wrong told apart — it reset (an unasked `Hello`) or it hung (silence).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Result;
use gatelab_core::wire::{
    self, BenchReport, BenchRequest, Done, Frame, FrameReader, HostMsg, LinkError, LinkStatus, TargetInfo, TargetMsg,
};
use gatelab_core::{Action, Event, Policy, TerminalConfig, Timestamp};

use crate::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum RigError {
    #[error("the target reset while {doing} (it sent a fresh Hello): the request was lost; {diagnostics}")]
    Reset { doing: String, diagnostics: String },
    #[error(
        "the target did not answer within {waited:?} while {doing}: it hangs or is far too slow \
         (raise --timeout-s if it is only slow); {diagnostics}"
    )]
    Timeout { doing: String, waited: Duration, diagnostics: String },
    #[error("the target refused the request while {doing}: {error} (its link counters: {status:?})")]
    Refused { doing: String, error: LinkError, status: LinkStatus },
    #[error("unexpected reply while {doing}: {got}")]
    Unexpected { doing: String, got: String },
}

/// A connected target.
pub struct Target<T: Transport> {
    link: T,
    reader: FrameReader,
    scratch: Vec<u8>,
    inbox: VecDeque<TargetMsg>,
    info: TargetInfo,
    pub timeout: Duration,
    /// Frames from the target that failed to decode (corrupted on the way in).
    pub corrupt_replies: u32,
}

impl<T: Transport> std::fmt::Debug for Target<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("link", &self.link.describe()).field("info", &self.info).finish()
    }
}

impl<T: Transport> Target<T> {
    /// Wait for the boot `Hello` (asking again if it was missed) and check the version.
    pub fn connect(link: T, timeout: Duration) -> Result<Target<T>> {
        let mut t = Target {
            link,
            reader: FrameReader::new(),
            scratch: Vec::new(),
            inbox: VecDeque::new(),
            info: TargetInfo {
                version: 0,
                board: wire::Board::QemuMps2An500,
                ticks: wire::TickSource::SysTickIcount,
                heap_bytes: 0,
                max_frame: 0,
            },
            timeout,
            corrupt_replies: 0,
        };
        let doing = "waiting for the target's Hello";
        let deadline = Instant::now() + timeout;
        let mut asked = false;
        let info = loop {
            let wait = if asked {
                deadline.saturating_duration_since(Instant::now())
            } else {
                timeout.min(Duration::from_secs(2))
            };
            match t.next(doing, wait) {
                Ok(TargetMsg::Hello(info)) => break info,
                Ok(_) => continue,
                Err(e)
                    if !asked
                        && e.downcast_ref::<RigError>().is_some_and(|r| matches!(r, RigError::Timeout { .. })) =>
                {
                    t.send(&HostMsg::Hello)?;
                    asked = true;
                }
                Err(e) => return Err(e),
            }
        };
        anyhow::ensure!(
            info.version == wire::VERSION,
            "the firmware speaks protocol version {}, this gatelab-rig {}: rebuild the firmware (`cargo xtask firmware`)",
            info.version,
            wire::VERSION
        );
        t.info = info;
        Ok(t)
    }

    pub fn info(&self) -> TargetInfo {
        self.info
    }
    pub fn link(&mut self) -> &mut T {
        &mut self.link
    }
    pub fn describe(&self) -> String {
        self.link.describe()
    }

    fn send(&mut self, msg: &HostMsg) -> Result<()> {
        let mut out = Vec::with_capacity(64);
        wire::encode_host(msg, &mut out).map_err(|e| anyhow::anyhow!("could not encode {msg:?}: {e}"))?;
        self.link.send(&out)
    }

    /// Send bytes as they are (tests: damaged frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.link.send(bytes)
    }

    /// The next message, or an error after `timeout` of silence.
    pub fn next(&mut self, doing: &str, timeout: Duration) -> Result<TargetMsg> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let diagnostics = self.link.diagnostics();
                return Err(RigError::Timeout { doing: doing.into(), waited: timeout, diagnostics }.into());
            }
            let n = self.link.recv(&mut buf, left.min(Duration::from_millis(200)))?;
            for &b in &buf[..n] {
                match self.reader.push(b) {
                    None => {}
                    Some(Frame::Oversize) => self.corrupt_replies += 1,
                    Some(Frame::Complete(f)) => {
                        match wire::decode::<TargetMsg>(f, &mut self.scratch) {
                            Ok(m) => self.inbox.push_back(m),
                            Err(_) => self.corrupt_replies += 1,
                        }
                        self.reader.consumed();
                    }
                }
            }
        }
    }

    /// The next message that belongs to a reply: an unasked `Hello` means the target reset.
    fn reply(&mut self, doing: &str, timeout: Duration) -> Result<TargetMsg> {
        match self.next(doing, timeout)? {
            TargetMsg::Hello(_) => {
                let diagnostics = self.link.diagnostics();
                Err(RigError::Reset { doing: doing.into(), diagnostics }.into())
            }
            TargetMsg::Error { error, status } => Err(RigError::Refused { doing: doing.into(), error, status }.into()),
            m => Ok(m),
        }
    }

    fn unexpected(doing: &str, got: &TargetMsg) -> anyhow::Error {
        RigError::Unexpected { doing: doing.into(), got: format!("{got:?}") }.into()
    }

    /// Replace the target's terminal by a fresh one.
    pub fn configure(&mut self, config: &TerminalConfig, policy: &Policy) -> Result<Done> {
        let doing = format!("configuring terminal {}", config.id);
        self.send(&HostMsg::Configure { config: config.clone(), policy: policy.clone() })?;
        match self.reply(&doing, self.timeout)? {
            TargetMsg::Done(d) => Ok(d),
            m => Err(Self::unexpected(&doing, &m)),
        }
    }

    /// Configure a terminal that keeps its state in the target's storage under `key`; after a
    /// reset the same call recovers it. `actions` gets the restart's audit actions.
    pub fn configure_persistent(
        &mut self,
        config: &TerminalConfig,
        policy: &Policy,
        key: [u8; 32],
        actions: &mut Vec<Action>,
    ) -> Result<Done> {
        let doing = format!("configuring terminal {} with storage", config.id);
        actions.clear();
        let key = gatelab_core::wire::KeyMaterial(key);
        self.send(&HostMsg::ConfigurePersistent { config: config.clone(), policy: policy.clone(), key })?;
        loop {
            match self.reply(&doing, self.timeout)? {
                TargetMsg::Action(a) => actions.push(a),
                TargetMsg::Done(d) => return Ok(d),
                m => return Err(Self::unexpected(&doing, &m)),
            }
        }
    }

    /// Link the configured terminal to its compound's authority with its provisioned key.
    pub fn attach_authority(&mut self, now: Timestamp, key: [u8; 32], actions: &mut Vec<Action>) -> Result<Done> {
        let doing = "linking the terminal to its authority";
        actions.clear();
        self.send(&HostMsg::AttachAuthority { now, key: gatelab_core::wire::KeyMaterial(key) })?;
        loop {
            match self.reply(doing, self.timeout)? {
                TargetMsg::Action(a) => actions.push(a),
                TargetMsg::Done(d) => return Ok(d),
                m => return Err(Self::unexpected(doing, &m)),
            }
        }
    }

    /// Feed one event; the target's actions and its closing `Done`.
    pub fn event(&mut self, now: Timestamp, event: &Event, actions: &mut Vec<Action>) -> Result<Done> {
        actions.clear();
        self.send(&HostMsg::Event { now, event: event.clone() })?;
        loop {
            match self.reply("waiting for the terminal's decision", self.timeout)? {
                TargetMsg::Action(a) => actions.push(a),
                TargetMsg::Done(d) => return Ok(d),
                m => return Err(Self::unexpected("waiting for the terminal's decision", &m)),
            }
        }
    }

    pub fn bench(&mut self, request: BenchRequest, timeout: Duration) -> Result<BenchReport> {
        let doing = format!("benchmarking {:?} (dim {}, gallery {})", request.kind, request.dim, request.gallery);
        self.send(&HostMsg::Bench(request))?;
        match self.reply(&doing, timeout)? {
            TargetMsg::Bench(r) => Ok(r),
            m => Err(Self::unexpected(&doing, &m)),
        }
    }

    pub fn status(&mut self) -> Result<LinkStatus> {
        self.send(&HostMsg::Status)?;
        match self.reply("asking for the link counters", self.timeout)? {
            TargetMsg::Status(s) => Ok(s),
            m => Err(Self::unexpected("asking for the link counters", &m)),
        }
    }
}
