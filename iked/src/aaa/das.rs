//! Dynamic authorization (RFC 5176) for the daemon: which sessions a Disconnect- or
//! CoA-Request names, and what is done to them.
//!
//! - The session is named by Acct-Session-Id, User-Name or Framed-IP-Address (every one given
//!   must match; RFC 5176 §3); none of them: NAK Missing-Attribute (402); no such session:
//!   NAK Session-Context-Not-Found (503).
//! - A NAS-Identifier or NAS-IP-Address that is not ours: NAK NAS-Identification-Mismatch
//!   (403, §3.5).
//! - Disconnect: every named session is ended (Acct-Terminate-Cause Admin-Reset), ACK.
//! - CoA: Session-Timeout (counted from now) and Idle-Timeout change; any other authorization
//!   attribute: NAK Unsupported-Attribute (401), nothing changed.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipsec_core::config::Snapshot;
use radius::attr::{self, Attribute, ErrorCause, TerminateCause};
use radius::dynauth::DasStats;
use radius::{DasClient, DasKind, DynamicAuthorization, Received};
use zeroize::Zeroizing;

use super::{Aaa, Action};

pub(super) struct Das {
    server: DynamicAuthorization,
    enabled: bool,
}

impl Das {
    pub(super) fn new(config: &Snapshot) -> Das {
        let clients: Vec<DasClient> = config
            .radius()
            .iter()
            .filter(|r| r.incoming)
            .map(|r| DasClient {
                address: r.address,
                secret: Zeroizing::new(r.secret.as_bytes().to_vec()),
            })
            .collect();
        Das {
            enabled: !clients.is_empty(),
            server: DynamicAuthorization::new(clients),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(super) fn stats(&self) -> &DasStats {
        self.server.stats()
    }
}

/// Attributes that identify the session or the NAS, or are bookkeeping: never "unsupported".
const IDENTIFYING: &[u8] = &[
    attr::USER_NAME,
    attr::ACCT_SESSION_ID,
    attr::FRAMED_IP_ADDRESS,
    attr::NAS_IDENTIFIER,
    attr::NAS_IP_ADDRESS,
    attr::NAS_IPV6_ADDRESS,
    attr::CALLING_STATION_ID,
    attr::EVENT_TIMESTAMP,
    attr::MESSAGE_AUTHENTICATOR,
    attr::PROXY_STATE,
    attr::STATE,
    attr::CLASS,
];

pub(super) fn handle(
    aaa: &mut Aaa,
    now: Instant,
    from: SocketAddr,
    data: &[u8],
) -> Option<Vec<u8>> {
    let request = match aaa.das.server.handle(from, data) {
        Ok(Received::Request(r)) => r,
        Ok(Received::Resend(answer)) => return Some(answer),
        Err(e) => {
            aaa.actions.push(Action::Warn(format!(
                "dynamic authorization datagram from {from} dropped: {e}"
            )));
            return None;
        }
    };
    let result = decide(aaa, now, &request.attributes, request.kind);
    let kind = match request.kind {
        DasKind::Disconnect => "Disconnect",
        DasKind::Coa => "CoA",
    };
    match &result {
        Ok(n) => aaa.actions.push(Action::Info(format!(
            "RADIUS {kind}-Request from {from}: {n} session(s); ACK"
        ))),
        Err(cause) => aaa.actions.push(Action::Warn(format!(
            "RADIUS {kind}-Request from {from}: NAK {cause:?}"
        ))),
    }
    Some(aaa.das.server.respond(&request, result.err()))
}

/// How many sessions it applied to, or why not.
fn decide(
    aaa: &mut Aaa,
    now: Instant,
    attrs: &[Attribute],
    kind: DasKind,
) -> Result<usize, ErrorCause> {
    let get = |ty| attrs.iter().find(|a| a.ty == ty);
    if let Some(id) = get(attr::NAS_IDENTIFIER)
        && id.value != aaa.nas.identifier.as_bytes()
    {
        return Err(ErrorCause::NasIdentificationMismatch);
    }
    let user = get(attr::USER_NAME).map(|a| a.value.as_slice());
    let session_id = get(attr::ACCT_SESSION_ID).map(|a| a.value.as_slice());
    let framed = get(attr::FRAMED_IP_ADDRESS).map(|a| a.as_ipv4().map(IpAddr::V4));
    if user.is_none() && session_id.is_none() && framed.is_none() {
        return Err(ErrorCause::MissingAttribute);
    }
    let framed = match framed {
        Some(None) => return Err(ErrorCause::InvalidAttributeValue),
        Some(Some(a)) => Some(a),
        None => None,
    };
    if let Some(nas_ip) = get(attr::NAS_IP_ADDRESS) {
        let ours = aaa.sessions.values().any(|s| {
            s.local
                .is_some_and(|l| Some(l.ip()) == nas_ip.as_ipv4().map(IpAddr::V4))
        });
        if !ours && !aaa.sessions.is_empty() {
            return Err(ErrorCause::NasIdentificationMismatch);
        }
    }
    let matching: Vec<u64> = aaa
        .sessions
        .iter()
        .filter(|(_, s)| s.ending.is_none())
        .filter(|(_, s)| user.is_none_or(|u| u == s.user.as_bytes()))
        .filter(|(_, s)| session_id.is_none_or(|i| i == s.id.as_bytes()))
        .filter(|(_, s)| framed.is_none_or(|a| s.address == Some(a)))
        .map(|(k, _)| *k)
        .collect();
    if matching.is_empty() {
        return Err(ErrorCause::SessionContextNotFound);
    }
    match kind {
        DasKind::Disconnect => {
            for k in &matching {
                aaa.end(*k, TerminateCause::AdminReset, "RADIUS Disconnect-Request");
            }
        }
        DasKind::Coa => {
            if attrs.iter().any(|a| {
                !IDENTIFYING.contains(&a.ty)
                    && a.ty != attr::SESSION_TIMEOUT
                    && a.ty != attr::IDLE_TIMEOUT
            }) {
                return Err(ErrorCause::UnsupportedAttribute);
            }
            let secs = |ty| get(ty).map(|a| a.as_u32().ok_or(ErrorCause::InvalidAttributeValue));
            let timeout = secs(attr::SESSION_TIMEOUT).transpose()?;
            let idle = secs(attr::IDLE_TIMEOUT).transpose()?;
            if timeout.is_none() && idle.is_none() {
                return Err(ErrorCause::MissingAttribute);
            }
            for k in &matching {
                if let Some(s) = aaa.sessions.get_mut(k) {
                    if let Some(t) = timeout {
                        // 0: no limit any more.
                        s.deadline = (t > 0).then(|| now + Duration::from_secs(t.into()));
                    }
                    if let Some(i) = idle {
                        s.idle_timeout = (i > 0).then(|| Duration::from_secs(i.into()));
                        s.last_activity = now;
                    }
                }
            }
        }
    }
    Ok(matching.len())
}
