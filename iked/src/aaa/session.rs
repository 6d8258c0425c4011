//! One RADIUS-authenticated user session: what the Access-Accept granted, its SA counters,
//! and the accounting records made from them (RFC 2866 §5, RFC 2869 §5.1-5.2).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use radius::attr::{self, AcctStatus, Attribute, TerminateCause};

/// Octets and packets, summed over a session's SAs in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub octets: u64,
    pub packets: u64,
}

/// A session's state.
#[derive(Debug)]
pub struct Session {
    /// Which group of servers (by peer) it belongs to.
    pub group: usize,
    pub user: String,
    pub local: Option<SocketAddr>,
    pub remote: SocketAddr,
    /// Acct-Session-Id.
    pub id: String,
    /// Class attributes of the Access-Accept, echoed in accounting (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    /// The address mode-config gave (Framed-IP-Address).
    pub address: Option<IpAddr>,
    pub authenticated: Instant,
    /// Session-Timeout: ended then.
    pub deadline: Option<Instant>,
    /// Idle-Timeout.
    pub idle_timeout: Option<Duration>,
    /// Interim-Update interval.
    pub interim: Option<Duration>,
    /// When the first SA came up (accounting Start sent).
    pub started: Option<Instant>,
    pub next_interim: Option<Instant>,
    /// Installed SAs: SPI → (inbound, counters at the last look).
    pub sas: HashMap<u32, (bool, Totals)>,
    /// What deleted SAs carried.
    pub closed_in: Totals,
    pub closed_out: Totals,
    /// The last time inbound packets grew (Idle-Timeout).
    pub last_activity: Instant,
    /// Why we ended it, when we did.
    pub ending: Option<TerminateCause>,
}

impl Session {
    /// From the user (inbound SAs) and to the user (outbound), deleted SAs included.
    pub fn totals(&self) -> (Totals, Totals) {
        let (mut input, mut output) = (self.closed_in, self.closed_out);
        for (inbound, t) in self.sas.values() {
            let sum = if *inbound { &mut input } else { &mut output };
            sum.octets += t.octets;
            sum.packets += t.packets;
        }
        (input, output)
    }

    /// An SA is gone: its last counters stay in the totals.
    pub fn sa_deleted(&mut self, spi: u32) {
        if let Some((inbound, t)) = self.sas.remove(&spi) {
            let sum = if inbound {
                &mut self.closed_in
            } else {
                &mut self.closed_out
            };
            sum.octets += t.octets;
            sum.packets += t.packets;
        }
    }

    /// The accounting record of `status` (RFC 2866 §5).
    pub fn record(
        &self,
        now: Instant,
        status: AcctStatus,
        nas: &Nas,
        cause: Option<TerminateCause>,
    ) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::u32(attr::ACCT_STATUS_TYPE, status as u32),
            Attribute::bytes(attr::ACCT_SESSION_ID, self.id.as_bytes()),
            Attribute::u32(attr::ACCT_AUTHENTIC, attr::ACCT_AUTHENTIC_RADIUS),
        ];
        a.extend(self.identity(nas));
        if let Some(IpAddr::V4(v4)) = self.address {
            a.push(Attribute::ipv4(attr::FRAMED_IP_ADDRESS, v4));
        }
        a.extend(
            self.class
                .iter()
                .map(|c| Attribute::bytes(attr::CLASS, c.clone())),
        );
        a.push(Attribute::u32(attr::EVENT_TIMESTAMP, unix_now()));
        if status != AcctStatus::Start {
            let (input, output) = self.totals();
            let since = self.started.unwrap_or(self.authenticated);
            let secs = now.saturating_duration_since(since).as_secs();
            a.push(Attribute::u32(
                attr::ACCT_SESSION_TIME,
                u32::try_from(secs).unwrap_or(u32::MAX),
            ));
            // RFC 2869 §5.1-5.2: the octet counters' overflows go in the Gigawords.
            a.push(Attribute::u32(attr::ACCT_INPUT_OCTETS, input.octets as u32));
            a.push(Attribute::u32(
                attr::ACCT_INPUT_GIGAWORDS,
                (input.octets >> 32) as u32,
            ));
            a.push(Attribute::u32(
                attr::ACCT_OUTPUT_OCTETS,
                output.octets as u32,
            ));
            a.push(Attribute::u32(
                attr::ACCT_OUTPUT_GIGAWORDS,
                (output.octets >> 32) as u32,
            ));
            // RFC 2866 §5.8/5.9: packet counters wrap.
            a.push(Attribute::u32(
                attr::ACCT_INPUT_PACKETS,
                input.packets as u32,
            ));
            a.push(Attribute::u32(
                attr::ACCT_OUTPUT_PACKETS,
                output.packets as u32,
            ));
        }
        if let Some(c) = cause {
            a.push(Attribute::u32(attr::ACCT_TERMINATE_CAUSE, c as u32));
        }
        a
    }

    /// User-Name, the NAS and the two ends: shared by Access-Request and accounting.
    pub fn identity(&self, nas: &Nas) -> Vec<Attribute> {
        identity(&self.user, nas, self.local, self.remote)
    }
}

/// What identifies this NAS (RFC 2865 §5.4, §5.32).
#[derive(Clone, Debug)]
pub struct Nas {
    pub identifier: String,
}

/// User-Name, NAS-Identifier, NAS-IP-Address (our IKE address), NAS-Port-Type Virtual,
/// Service-Type Framed, Called-Station-Id (our IKE address and port) and Calling-Station-Id
/// (the client's public address and port, RFC 2865 §5.31).
pub fn identity(
    user: &str,
    nas: &Nas,
    local: Option<SocketAddr>,
    remote: SocketAddr,
) -> Vec<Attribute> {
    let mut a = vec![
        Attribute::bytes(attr::USER_NAME, truncate(user)),
        Attribute::bytes(attr::NAS_IDENTIFIER, truncate(&nas.identifier)),
        Attribute::u32(attr::NAS_PORT_TYPE, attr::NAS_PORT_TYPE_VIRTUAL),
        Attribute::u32(attr::SERVICE_TYPE, attr::SERVICE_TYPE_FRAMED),
        Attribute::bytes(attr::CALLING_STATION_ID, remote.to_string()),
    ];
    if let Some(l) = local.filter(|l| !l.ip().is_unspecified()) {
        match l.ip() {
            IpAddr::V4(v4) => a.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, v4)),
            IpAddr::V6(v6) => a.push(Attribute::bytes(attr::NAS_IPV6_ADDRESS, v6.octets())),
        }
        a.push(Attribute::bytes(attr::CALLED_STATION_ID, l.to_string()));
    }
    a
}

/// Text attributes hold at most 253 octets.
fn truncate(s: &str) -> Vec<u8> {
    let mut end = s.len().min(253);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end].to_vec()
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let now = Instant::now();
        Session {
            group: 0,
            user: "alice".into(),
            local: Some("198.18.0.2:4500".parse().unwrap()),
            remote: "198.18.0.254:40000".parse().unwrap(),
            id: "X-1".into(),
            class: vec![b"gold".to_vec()],
            address: Some("198.19.9.50".parse().unwrap()),
            authenticated: now,
            deadline: None,
            idle_timeout: None,
            interim: None,
            started: Some(now),
            next_interim: None,
            sas: HashMap::new(),
            closed_in: Totals::default(),
            closed_out: Totals::default(),
            last_activity: now,
            ending: None,
        }
    }

    fn get(a: &[Attribute], ty: u8) -> Option<u32> {
        a.iter().find(|x| x.ty == ty).and_then(Attribute::as_u32)
    }

    #[test]
    fn counters_survive_rekeys_and_overflow_into_gigawords() {
        let mut s = session();
        let big = (5u64 << 32) + 7;
        s.sas.insert(
            1,
            (
                true,
                Totals {
                    octets: big,
                    packets: 10,
                },
            ),
        );
        s.sas.insert(
            2,
            (
                false,
                Totals {
                    octets: 100,
                    packets: 2,
                },
            ),
        );
        s.sa_deleted(1);
        s.sas.insert(
            3,
            (
                true,
                Totals {
                    octets: 3,
                    packets: 1,
                },
            ),
        );
        let nas = Nas {
            identifier: "iked".into(),
        };
        let now = s.started.unwrap() + Duration::from_secs(42);
        let r = s.record(
            now,
            AcctStatus::Stop,
            &nas,
            Some(TerminateCause::UserRequest),
        );
        assert_eq!(get(&r, attr::ACCT_INPUT_GIGAWORDS), Some(5));
        assert_eq!(get(&r, attr::ACCT_INPUT_OCTETS), Some(10));
        assert_eq!(get(&r, attr::ACCT_INPUT_PACKETS), Some(11));
        assert_eq!(get(&r, attr::ACCT_OUTPUT_OCTETS), Some(100));
        assert_eq!(get(&r, attr::ACCT_SESSION_TIME), Some(42));
        assert_eq!(get(&r, attr::ACCT_TERMINATE_CAUSE), Some(1));
        assert!(r.iter().any(|a| a.ty == attr::CLASS && a.value == b"gold"));
        assert!(
            r.iter()
                .any(|a| a.ty == attr::CALLING_STATION_ID && a.value == b"198.18.0.254:40000")
        );
        let start = s.record(now, AcctStatus::Start, &nas, None);
        assert_eq!(get(&start, attr::ACCT_INPUT_OCTETS), None);
        assert_eq!(
            start
                .iter()
                .find(|a| a.ty == attr::FRAMED_IP_ADDRESS)
                .and_then(Attribute::as_ipv4),
            Some("198.19.9.50".parse().unwrap())
        );
    }
}
