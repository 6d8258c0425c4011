//! Dynamic authorization (RFC 5176): the NAS side. Disconnect-Request and CoA-Request arrive on
//! UDP 3799 from configured clients (Dynamic Authorization Clients, usually the RADIUS servers)
//! only; the request's authenticators are checked with that client's secret; the answer is an
//! ACK or a NAK with Error-Cause. A retransmitted request (same client, Identifier and
//! Authenticator) gets the cached answer again instead of being acted on twice (§2.3).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use zeroize::Zeroizing;

use crate::attr::{self, Attribute, ErrorCause};
use crate::crypto::{self, Seal, Verify};
use crate::packet::{Code, DecodeError, Packet};

/// A client allowed to send Disconnect/CoA.
#[derive(Clone)]
pub struct DasClient {
    /// Its address (requests from any other are dropped).
    pub address: IpAddr,
    /// Shared secret.
    pub secret: Zeroizing<Vec<u8>>,
}

/// Which request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DasKind {
    Disconnect,
    Coa,
}

/// A request that checked out, to act on and answer with [`DynamicAuthorization::respond`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DasRequest {
    pub kind: DasKind,
    pub from: SocketAddr,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
    /// It carried a Message-Authenticator (the answer then carries one too).
    pub message_authenticator: bool,
    client: usize,
}

impl DasRequest {
    /// The first attribute of this type.
    pub fn attribute(&self, ty: u8) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.ty == ty)
    }
}

/// What to do with a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A new request.
    Request(DasRequest),
    /// A retransmission: send this cached answer again.
    Resend(Vec<u8>),
}

/// Why a datagram was dropped (RFC 5176 §3: silently).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DasError {
    #[error("from {0}, which is not a configured dynamic authorization client")]
    UnknownClient(IpAddr),
    #[error("not a RADIUS packet: {0}")]
    Malformed(#[from] DecodeError),
    #[error("code {0:?} is not a Disconnect- or CoA-Request")]
    WrongCode(Code),
    #[error("{0}")]
    Authenticator(#[from] crypto::AuthError),
}

/// How many answers are kept for retransmitted requests.
const RECENT: usize = 256;

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DasStats {
    pub disconnect_requests: u64,
    pub coa_requests: u64,
    pub acks: u64,
    pub naks: u64,
    pub duplicates: u64,
    pub unknown_client: u64,
    pub malformed: u64,
    pub wrong_code: u64,
    pub bad_authenticator: u64,
}

/// The NAS's dynamic authorization server state.
pub struct DynamicAuthorization {
    clients: Vec<DasClient>,
    recent: VecDeque<(SocketAddr, u8, [u8; 16], Vec<u8>)>,
    stats: DasStats,
}

impl DynamicAuthorization {
    /// Requests are taken from these clients only.
    pub fn new(clients: Vec<DasClient>) -> Self {
        DynamicAuthorization {
            clients,
            recent: VecDeque::new(),
            stats: DasStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &DasStats {
        &self.stats
    }

    /// Checks a datagram from `from`.
    pub fn handle(&mut self, from: SocketAddr, data: &[u8]) -> Result<Received, DasError> {
        let r = self.check(from, data);
        match &r {
            Ok(Received::Request(q)) => match q.kind {
                DasKind::Disconnect => self.stats.disconnect_requests += 1,
                DasKind::Coa => self.stats.coa_requests += 1,
            },
            Ok(Received::Resend(_)) => self.stats.duplicates += 1,
            Err(DasError::UnknownClient(_)) => self.stats.unknown_client += 1,
            Err(DasError::Malformed(_)) => self.stats.malformed += 1,
            Err(DasError::WrongCode(_)) => self.stats.wrong_code += 1,
            Err(DasError::Authenticator(_)) => self.stats.bad_authenticator += 1,
        }
        r
    }

    fn check(&mut self, from: SocketAddr, data: &[u8]) -> Result<Received, DasError> {
        let client = self
            .clients
            .iter()
            .position(|c| c.address == from.ip())
            .ok_or(DasError::UnknownClient(from.ip()))?;
        let packet = Packet::decode(data)?;
        let kind = match packet.code {
            Code::DisconnectRequest => DasKind::Disconnect,
            Code::CoaRequest => DasKind::Coa,
            other => return Err(DasError::WrongCode(other)),
        };
        if let Some((.., answer)) = self.recent.iter().find(|(f, i, a, _)| {
            *f == from && *i == packet.identifier && *a == packet.authenticator
        }) {
            return Ok(Received::Resend(answer.clone()));
        }
        let ma = crypto::verify(data, &self.clients[client].secret, Verify::Computed, false)?;
        Ok(Received::Request(DasRequest {
            kind,
            from,
            identifier: packet.identifier,
            authenticator: packet.authenticator,
            attributes: packet.attributes,
            message_authenticator: ma,
            client,
        }))
    }

    /// The answer to `request`: ACK, or NAK with `error` as Error-Cause. Cached for
    /// retransmissions of the request.
    pub fn respond(&mut self, request: &DasRequest, error: Option<ErrorCause>) -> Vec<u8> {
        let code = match (request.kind, error) {
            (DasKind::Disconnect, None) => Code::DisconnectAck,
            (DasKind::Disconnect, Some(_)) => Code::DisconnectNak,
            (DasKind::Coa, None) => Code::CoaAck,
            (DasKind::Coa, Some(_)) => Code::CoaNak,
        };
        match error {
            None => self.stats.acks += 1,
            Some(_) => self.stats.naks += 1,
        }
        let attributes = error
            .map(|e| vec![Attribute::u32(attr::ERROR_CAUSE, e as u32)])
            .unwrap_or_default();
        let packet = Packet {
            code,
            identifier: request.identifier,
            authenticator: [0; 16],
            attributes,
        };
        let secret = self
            .clients
            .get(request.client)
            .map(|c| c.secret.clone())
            .unwrap_or_default();
        // A few small attributes always fit.
        let bytes = crypto::seal(
            &packet,
            &secret,
            Seal::Response(request.authenticator),
            request.message_authenticator,
        )
        .unwrap_or_default();
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((
            request.from,
            request.identifier,
            request.authenticator,
            bytes.clone(),
        ));
        bytes
    }
}
