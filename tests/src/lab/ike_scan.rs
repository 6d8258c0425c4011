//! ike-scan probes (IKEv1 main and aggressive mode) from a namespace, with its output parsed.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::process::Output;
use super::{LabError, Netns, Result};

/// Which exchange a probe starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanMode {
    Main,
    Aggressive,
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanOutcome {
    /// The responder answered with its SA (main mode message 2, or aggressive mode message 2).
    Handshake(ScanMode),
    /// The responder answered with an informational notify (e.g. 14 NO-PROPOSAL-CHOSEN).
    Notify { code: u32, name: String },
    /// Something else came back (ike-scan's line, e.g. "Unexpected IKE payload returned: Hash").
    Other(String),
    /// Nothing (after all retries).
    NoResponse,
}

/// A parsed ike-scan run.
#[derive(Clone, Debug)]
pub struct ScanResult {
    pub outcome: ScanOutcome,
    /// The payload lines of the answer (`HDR=(...)`, `SA=(...)`, `VID=...`, `ID(...)`, ...).
    pub details: Vec<String>,
    /// The raw run.
    pub output: Output,
}

impl ScanResult {
    /// Did a handshake (any mode) come back?
    pub fn is_handshake(&self) -> bool {
        matches!(self.outcome, ScanOutcome::Handshake(_))
    }

    /// The notify message type, if the answer was a notify.
    pub fn notify_code(&self) -> Option<u32> {
        match self.outcome {
            ScanOutcome::Notify { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The responder's chosen transform: `Enc=AES KeyLength=128 Hash=SHA2-256 ...`.
    pub fn sa(&self) -> Option<&str> {
        self.details.iter().find_map(|d| {
            d.strip_prefix("SA=(")
                .map(|s| s.strip_suffix(')').unwrap_or(s))
        })
    }

    /// The vendor IDs (`VID=<hex> (<name>)` as printed).
    pub fn vendor_ids(&self) -> Vec<&str> {
        self.details
            .iter()
            .filter_map(|d| d.strip_prefix("VID="))
            .collect()
    }

    /// The responder's identity line, aggressive mode (`ID(Type=..., Value=...)`).
    pub fn id(&self) -> Option<&str> {
        self.details
            .iter()
            .find(|d| d.starts_with("ID("))
            .map(String::as_str)
    }
}

/// An ike-scan probe: `IkeScan::main_mode(target).trans("7/128,4,1,14").run(&ns)`.
#[derive(Clone, Debug)]
pub struct IkeScan {
    target: Ipv4Addr,
    mode: ScanMode,
    id: Option<String>,
    idtype: Option<u8>,
    trans: Vec<String>,
    dhgroup: Option<u16>,
    sport: Option<u16>,
    dport: Option<u16>,
    nat_t: bool,
    retry: u32,
    timeout_ms: u32,
    extra: Vec<String>,
    bound: Duration,
}

impl IkeScan {
    fn new(target: Ipv4Addr, mode: ScanMode) -> IkeScan {
        IkeScan {
            target,
            mode,
            id: None,
            idtype: None,
            trans: Vec::new(),
            dhgroup: None,
            sport: None,
            dport: None,
            nat_t: false,
            retry: 3,
            timeout_ms: 500,
            extra: Vec::new(),
            bound: Duration::from_secs(20),
        }
    }

    /// A main mode probe (message 1 with the default or given transforms).
    pub fn main_mode(target: Ipv4Addr) -> IkeScan {
        IkeScan::new(target, ScanMode::Main)
    }

    /// An aggressive mode probe with identity `id` (`--id`; type with [`IkeScan::idtype`],
    /// ike-scan's default is 3 = USER_FQDN; 11 = KEY_ID for the Cisco group name).
    pub fn aggressive(target: Ipv4Addr, id: &str) -> IkeScan {
        let mut s = IkeScan::new(target, ScanMode::Aggressive);
        s.id = Some(id.to_string());
        s
    }

    /// `--idtype=N` (aggressive mode).
    pub fn idtype(mut self, t: u8) -> Self {
        self.idtype = Some(t);
        self
    }

    /// One transform (`--trans`, repeatable): `enc[/keylen],hash,auth,group`, e.g.
    /// `"7/128,4,1,14"` (AES-128, SHA2-256, PSK, MODP2048) or the attribute form `"(1=7,...)"`.
    pub fn trans(mut self, t: &str) -> Self {
        self.trans.push(t.to_string());
        self
    }

    /// `--dhgroup=N`: the KE group of an aggressive mode probe (ike-scan's default is 2).
    pub fn dhgroup(mut self, g: u16) -> Self {
        self.dhgroup = Some(g);
        self
    }

    /// `--sport=P` (ike-scan's default is 500; 0 = random, needed in a namespace where a
    /// daemon already holds 500).
    pub fn sport(mut self, p: u16) -> Self {
        self.sport = Some(p);
        self
    }

    /// `--dport=P`.
    pub fn dport(mut self, p: u16) -> Self {
        self.dport = Some(p);
        self
    }

    /// `--nat-t`: non-ESP marker, ports 4500.
    pub fn nat_t(mut self) -> Self {
        self.nat_t = true;
        self
    }

    /// `--retry=N` (total attempts) and `--timeout=MS` (first wait; then backoff 1.5).
    pub fn retry(mut self, attempts: u32, timeout_ms: u32) -> Self {
        self.retry = attempts.max(1);
        self.timeout_ms = timeout_ms.max(10);
        self
    }

    /// Any other ike-scan argument.
    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_string());
        self
    }

    /// The bound of the whole run (default 20 s).
    pub fn bound(mut self, d: Duration) -> Self {
        self.bound = d;
        self
    }

    /// The ike-scan arguments this probe uses.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["ike-scan".to_string(), "-M".to_string()];
        if self.mode == ScanMode::Aggressive {
            a.push("--aggressive".into());
        }
        if let Some(id) = &self.id {
            a.push(format!("--id={id}"));
        }
        if let Some(t) = self.idtype {
            a.push(format!("--idtype={t}"));
        }
        for t in &self.trans {
            a.push(format!("--trans={t}"));
        }
        if let Some(g) = self.dhgroup {
            a.push(format!("--dhgroup={g}"));
        }
        if let Some(p) = self.sport {
            a.push(format!("--sport={p}"));
        }
        if let Some(p) = self.dport {
            a.push(format!("--dport={p}"));
        }
        if self.nat_t {
            a.push("--nat-t".into());
        }
        a.push(format!("--retry={}", self.retry));
        a.push(format!("--timeout={}", self.timeout_ms));
        a.extend(self.extra.iter().cloned());
        a.push(self.target.to_string());
        a
    }

    /// Runs the probe from `ns` (bounded) and parses the answer.
    pub fn run(&self, ns: &Netns) -> Result<ScanResult> {
        super::ensure_packages(&["ike-scan"])?;
        if !super::is_lab_addr(self.target) {
            return Err(LabError::other(format!(
                "ike-scan target {} is not a lab address",
                self.target
            )));
        }
        let args = self.args();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = ns.exec_timeout(&argv, self.bound)?;
        if !output.success() {
            return Err(LabError::Command(output.describe()));
        }
        parse(&self.target.to_string(), output)
    }
}

/// Parses `ike-scan -M` output for one target.
fn parse(target: &str, output: Output) -> Result<ScanResult> {
    let mut outcome = ScanOutcome::NoResponse;
    let mut details = Vec::new();
    let mut in_answer = false;
    for line in output.stdout.lines() {
        if let Some(rest) = line.strip_prefix(target).and_then(|r| r.strip_prefix('\t')) {
            in_answer = true;
            let rest = rest.trim();
            if rest.starts_with("Main Mode Handshake returned") {
                outcome = ScanOutcome::Handshake(ScanMode::Main);
            } else if rest.starts_with("Aggressive Mode Handshake returned") {
                outcome = ScanOutcome::Handshake(ScanMode::Aggressive);
            } else if let Some(n) = rest.strip_prefix("Notify message ") {
                // "14 (NO-PROPOSAL-CHOSEN)"
                let (code, name) = n.split_once(' ').unwrap_or((n, ""));
                let code = code.parse().map_err(|_| {
                    LabError::other(format!("ike-scan: unparsable notify line {line:?}"))
                })?;
                let name = name
                    .trim()
                    .trim_start_matches('(')
                    .split(')')
                    .next()
                    .unwrap_or("")
                    .to_string();
                outcome = ScanOutcome::Notify { code, name };
            } else if outcome == ScanOutcome::NoResponse {
                outcome = ScanOutcome::Other(rest.to_string());
            }
        } else if in_answer && line.starts_with('\t') {
            details.push(line.trim().to_string());
        } else {
            in_answer = false;
        }
    }
    Ok(ScanResult {
        outcome,
        details,
        output,
    })
}
