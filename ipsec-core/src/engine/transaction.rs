//! Transaction exchanges (ISAKMP exchange type 6, draft-dukes-ike-mode-cfg-02 §3): the
//! carrier of XAuth and mode-config, between phase 1 and quick mode.
//!
//! ```text
//! HDR*, HASH, ATTR      HASH = prf(SKEYID_a, M-ID | ATTR)   (§3.3; both directions)
//! ```
//!
//! A REQUEST is answered by a REPLY, a SET by an ACK, under the same message ID and with the
//! same Identifier; each such pair is one exchange with its own IV chain (like a quick
//! mode). Our requests are retransmitted until answered; the peer's are answered from the
//! stored reply when they come again.
//!
//! The [`ConfigStage`] of an ISAKMP SA says what still has to happen before quick modes may
//! run over it: XAuth (the `xauth` module) and, for a client, getting its address
//! (the `mode_config` module).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::crypto::ct_eq;
use crate::crypto::ikev1::transaction_hash;
use crate::phase1::protect;
use crate::wire::{
    AttributePayload, CfgType, ConfigAttribute, ConfigAttributeType, ConfigValue, ExchangeType,
    Message, Payload, PayloadType,
};

use crate::config::XauthRole;

use super::event::{Event, Phase};
use super::ike::{Digest, Exchange, Flight, IkeId, IkeSa, digest};
use super::{Engine, Reject};

/// Why we sent a request or set that waits for its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxKind {
    /// XAuth server: REQUEST for user name and password.
    XauthRequest,
    /// XAuth server: SET with XAUTH-STATUS (`true`: OK).
    XauthStatus(bool),
    /// Mode-config client: REQUEST for an address and the rest.
    CfgRequest,
    /// Mode-config server: SET of the configuration (push).
    CfgSet,
}

/// Where XAuth stands on one ISAKMP SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XauthState {
    /// Not used with this peer.
    NotUsed,
    /// Server: asked for credentials. Client: waiting to be asked.
    Pending,
    /// Server: the driver is checking these credentials (request number).
    Verifying(u64),
    /// The user is authenticated.
    Succeeded,
    /// Authentication failed; the SA is going.
    Failed,
}

/// Where mode-config stands on one ISAKMP SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CfgState {
    /// Not used (or, as server, not asked for yet).
    NotUsed,
    /// Client: our request is out.
    Requested,
    /// An address was assigned (server) or received (client).
    Done,
}

/// What must happen on an ISAKMP SA between phase 1 and quick mode.
#[derive(Clone, Debug)]
pub(crate) struct ConfigStage {
    /// We are the XAuth server / mode-config responder (`passive` peer).
    pub server: bool,
    /// XAuth.
    pub xauth: XauthState,
    /// Mode-config.
    pub cfg: CfgState,
    /// XAuth attempts the peer has had (server).
    pub tries: u32,
    /// The authenticated user (server: XAuth user name), shared with the session and the
    /// user index.
    pub user: Option<std::sync::Arc<str>>,
    /// The peer's virtual address (server: assigned) or ours (client: received).
    pub address: Option<IpAddr>,
    /// Server: the address the XAuth verdict grants the user, if any.
    pub granted: Option<IpAddr>,
    /// Server: the prefix length the verdict gives with it (RADIUS Framed-IP-Netmask).
    pub granted_prefix: Option<u8>,
    /// Server: networks behind the user's client that its quick modes may name.
    pub routes: Vec<crate::config::IpPrefix>,
    /// The stage must be over by then (a client waiting for an XAuth server that never asks).
    pub deadline: Option<Instant>,
}

impl ConfigStage {
    /// No XAuth, no mode-config.
    pub fn none() -> Self {
        ConfigStage {
            server: false,
            xauth: XauthState::NotUsed,
            cfg: CfgState::NotUsed,
            tries: 0,
            user: None,
            address: None,
            granted: None,
            granted_prefix: None,
            routes: Vec::new(),
            deadline: None,
        }
    }

    /// Whether quick modes may run: XAuth done (or unused) and, for a client that asked for
    /// an address, the address received.
    pub fn ready(&self) -> bool {
        matches!(self.xauth, XauthState::NotUsed | XauthState::Succeeded)
            && (self.server || self.cfg != CfgState::Requested)
    }
}

/// A received Attribute payload, owned.
pub(crate) struct Attributes {
    /// REQUEST, REPLY, SET or ACK.
    pub cfg_type: CfgType,
    /// The Identifier.
    pub identifier: u16,
    /// The typed attributes (ones that do not decode are skipped).
    pub list: Vec<ConfigAttribute<'static>>,
}

impl Attributes {
    /// The first attribute of type `ty`.
    pub fn get(&self, ty: ConfigAttributeType) -> Option<&ConfigValue<'static>> {
        self.list.iter().find(|a| a.ty == ty).map(|a| &a.value)
    }

    /// Whether any attribute is an XAuth one (16520..=16529).
    pub fn is_xauth(&self) -> bool {
        self.list
            .iter()
            .any(|a| (16520..=16529).contains(&a.ty.value()))
    }
}

/// An owned copy of a typed attribute.
fn owned(a: ConfigAttribute<'_>) -> ConfigAttribute<'static> {
    let value = match a.value {
        ConfigValue::Empty => ConfigValue::Empty,
        ConfigValue::U16(v) => ConfigValue::U16(v),
        ConfigValue::U32(v) => ConfigValue::U32(v),
        ConfigValue::Ipv4(v) => ConfigValue::Ipv4(v),
        ConfigValue::Ipv4Subnet { addr, mask } => ConfigValue::Ipv4Subnet { addr, mask },
        ConfigValue::Ipv6(v) => ConfigValue::Ipv6(v),
        ConfigValue::Ipv6Prefix { addr, prefix_len } => {
            ConfigValue::Ipv6Prefix { addr, prefix_len }
        }
        ConfigValue::TypeList(v) => ConfigValue::TypeList(v),
        ConfigValue::Networks(v) => ConfigValue::Networks(v),
        ConfigValue::Bytes(b) => ConfigValue::Bytes(Cow::Owned(b.into_owned())),
    };
    ConfigAttribute { ty: a.ty, value }
}

/// A request or set from the peer, to be answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asked {
    /// Its message ID.
    pub mid: u32,
    /// Its digest (to recognise its retransmissions).
    pub answers: Digest,
    /// Its Identifier.
    pub identifier: u16,
}

/// What a received transaction message is.
enum Received {
    /// The answer to our request `kind`.
    Answer(TxKind, Attributes),
    /// A new request or set from the peer.
    Request(Attributes, Digest),
    /// A retransmission (answered again) or duplicate.
    Handled,
}

impl Engine {
    /// A transaction-exchange message.
    pub(super) fn on_transaction(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let (id, mut sa) = match self.take_sa_for(&msg.header) {
            Ok(found) => found,
            Err(reason) => return self.reject(local, remote, reason),
        };
        let received = self.read_transaction(now, &mut sa, msg);
        if received.is_ok() {
            sa.heard_from(now);
        }
        let authenticated = received.is_ok();
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        if authenticated {
            self.follow_mapping(id, local, remote);
        }
        let mid = msg.header.message_id;
        match received {
            Err(reason) => self.reject(local, remote, reason),
            Ok(Received::Handled) => {}
            Ok(Received::Answer(kind, attrs)) => self.on_transaction_answer(now, id, kind, attrs),
            Ok(Received::Request(attrs, d)) => self.on_transaction_request(now, id, mid, d, attrs),
        }
    }

    /// Decrypts and authenticates a transaction message and sorts it.
    fn read_transaction(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        msg: &Message<'_>,
    ) -> Result<Received, Reject> {
        let (l, r) = (sa.local, sa.remote);
        let mid = msg.header.message_id;
        let d = digest(msg.bytes);
        let ciphertext = msg.ciphertext().ok_or(Reject::UnexpectedMessage)?;
        let e = sa.established_mut().ok_or(Reject::UnexpectedMessage)?;
        let ours = match e.exchanges.get(&mid) {
            None if e.recent_informational.contains(&mid) => {
                self.stats.duplicates += 1;
                return Ok(Received::Handled);
            }
            None => None,
            Some(Exchange::Transaction {
                kind, identifier, ..
            }) => Some((*kind, *identifier)),
            Some(Exchange::Done { answers, reply, .. }) => {
                if *answers == d
                    && let Some(m) = reply.clone()
                {
                    self.stats.replies_resent += 1;
                    self.send(l, r, &m);
                } else {
                    self.stats.duplicates += 1;
                }
                return Ok(Received::Handled);
            }
            Some(_) => return Err(Reject::UnexpectedMessage),
        };
        if ours.is_none() && super::quick::active_exchanges(e) >= self.options.max_exchanges_per_sa
        {
            return Err(Reject::ExchangeLimit);
        }
        let opened = protect::open(&e.sa.keys, &e.sa.iv, &msg.header, ciphertext)?;
        let chain = protect::parse_decrypted(&msg.header, &opened.plaintext)?;
        let hash = protect::leading_hash(&chain)?;
        let rest = chain.bytes_from(1).unwrap_or_default();
        let expected = transaction_hash(e.sa.keys.prf, &e.sa.keys.skeyids.skeyid_a, mid, &[rest]);
        if !ct_eq(&expected, hash) {
            return Err(Reject::AuthenticationFailed);
        }
        let body = protect::one(&chain, PayloadType::Attribute, "ATTR")?.body();
        let payload = AttributePayload::parse(body)?;
        let attrs = Attributes {
            cfg_type: payload.cfg_type,
            identifier: payload.identifier,
            list: payload.typed().filter_map(Result::ok).map(owned).collect(),
        };
        drop(chain);
        let fits = match ours {
            // strongSwan answers with Identifier 0 rather than ours: accepted too.
            Some((kind, identifier)) => {
                matches!(
                    (kind, attrs.cfg_type),
                    (TxKind::XauthStatus(_) | TxKind::CfgSet, CfgType::Ack)
                        | (TxKind::XauthRequest | TxKind::CfgRequest, CfgType::Reply)
                ) && (attrs.identifier == identifier || attrs.identifier == 0)
            }
            None => matches!(attrs.cfg_type, CfgType::Request | CfgType::Set),
        };
        if !fits {
            return Err(Reject::UnexpectedMessage);
        }
        // Only an accepted message moves the IV chain on.
        e.sa.iv = opened.iv;
        e.sa.iv.confirm(mid);
        match ours {
            Some((kind, _)) => {
                e.exchanges.insert(
                    mid,
                    Exchange::Done {
                        answers: d,
                        reply: None,
                        expires: now + self.options.exchange_lifetime(),
                    },
                );
                // Retransmissions are recognised by their digest: the chain is done with.
                e.sa.iv.forget(mid);
                Ok(Received::Answer(kind, attrs))
            }
            None => Ok(Received::Request(attrs, d)),
        }
    }

    /// Starts a transaction exchange of ours: `cfg_type` (REQUEST or SET) with `attrs`.
    pub(super) fn start_transaction(
        &mut self,
        now: Instant,
        id: IkeId,
        kind: TxKind,
        cfg_type: CfgType,
        attrs: &[ConfigAttribute<'_>],
    ) -> Result<(), Reject> {
        let identifier = u16::from_be_bytes(self.random_bytes()?);
        let mut sa = self
            .ike
            .remove(&id)
            .ok_or(Reject::Internal("no ISAKMP SA"))?;
        let result = self.new_message_id(&sa).and_then(|mid| {
            let message = seal_attributes(&mut sa, mid, cfg_type, identifier, attrs)?;
            Ok((mid, message))
        });
        if let Ok((mid, message)) = &result
            && let Some(e) = sa.established_mut()
        {
            e.exchanges.insert(
                *mid,
                Exchange::Transaction {
                    kind,
                    identifier,
                    flight: Box::new(Flight::waiting(message.clone(), None, now, &self.options)),
                },
            );
            self.send(sa.local, sa.remote, message);
        }
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        result.map(|_| ())
    }

    /// Answers the peer's request or set (under its message ID, with its Identifier) and
    /// keeps the answer for its retransmissions.
    pub(super) fn answer_transaction(
        &mut self,
        now: Instant,
        id: IkeId,
        to: Asked,
        cfg_type: CfgType,
        attrs: &[ConfigAttribute<'_>],
    ) -> Result<(), Reject> {
        let Asked {
            mid,
            answers,
            identifier,
        } = to;
        let mut sa = self
            .ike
            .remove(&id)
            .ok_or(Reject::Internal("no ISAKMP SA"))?;
        let result = seal_attributes(&mut sa, mid, cfg_type, identifier, attrs);
        if let Ok(message) = &result
            && let Some(e) = sa.established_mut()
        {
            e.exchanges.insert(
                mid,
                Exchange::Done {
                    answers,
                    reply: Some(message.as_slice().into()),
                    expires: now + self.options.exchange_lifetime(),
                },
            );
            // A retransmitted request gets the stored reply, not a new encryption.
            e.sa.iv.forget(mid);
            self.send(sa.local, sa.remote, message);
        }
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        result.map(|_| ())
    }

    /// Phase 1 of `id` is up: what has to happen before quick mode, and its first step.
    /// The XAuth server asks for credentials; an XAuth client waits to be asked (until
    /// [`EngineOptions::config_stage_timeout`](super::EngineOptions)); a mode-config client
    /// without XAuth asks for its address. With nothing to do, quick modes start at once.
    pub(super) fn begin_config_stage(&mut self, now: Instant, id: IkeId) {
        let name = self
            .ike
            .get(&id)
            .and_then(|sa| sa.established())
            .map(|e| e.sa.peer_name.clone())
            .unwrap_or_default();
        let (role, passive) = self
            .config
            .peer(&name)
            .map_or((None, false), |p| (p.xauth_role(), p.passive));
        let wants_address = self.wants_mode_config(id);
        let deadline = now + self.options.config_stage_timeout;
        let Some(stage) = self.stage_mut(id) else {
            return;
        };
        stage.server = passive;
        match role {
            Some(XauthRole::Server) => self.xauth_ask(now, id),
            Some(XauthRole::Client) => {
                stage.xauth = XauthState::Pending;
                stage.deadline = Some(deadline);
            }
            None if wants_address => self.request_mode_config(now, id),
            None => self.config_stage_ready(now, id),
        }
        self.reschedule_ike(id);
    }

    /// A request or set from the peer, by what it is about and which side we are.
    fn on_transaction_request(
        &mut self,
        now: Instant,
        id: IkeId,
        mid: u32,
        answers: Digest,
        attrs: Attributes,
    ) {
        let Some((server, l, r)) = self.ike.get(&id).and_then(|sa| {
            sa.established()
                .map(|e| (e.stage.server, sa.local, sa.remote))
        }) else {
            return;
        };
        let asked = Asked {
            mid,
            answers,
            identifier: attrs.identifier,
        };
        let done = match (attrs.cfg_type, attrs.is_xauth(), server) {
            (CfgType::Request, true, false) => self.xauth_answer(now, id, asked, attrs),
            (CfgType::Set, true, false) => self.xauth_result(now, id, asked, attrs),
            (CfgType::Request, false, true) => self.mode_config_request(now, id, asked, attrs),
            (CfgType::Set, false, false) => self.mode_config_set(now, id, asked, attrs),
            _ => Err(Reject::UnexpectedMessage),
        };
        if let Err(reason) = done {
            self.reject(l, r, reason);
        }
    }

    /// The peer answered our request or set.
    fn on_transaction_answer(&mut self, now: Instant, id: IkeId, kind: TxKind, attrs: Attributes) {
        match kind {
            TxKind::XauthRequest => self.xauth_credentials(now, id, attrs),
            TxKind::XauthStatus(true) | TxKind::CfgSet => {}
            TxKind::XauthStatus(false) => self.config_stage_failed(now, id, Reject::XauthFailed),
            TxKind::CfgRequest => self.mode_config_received(now, id, attrs),
        }
    }

    /// The configuration stage of `id` failed (XAuth refused, no address, no answer): the
    /// ISAKMP SA goes, and with it everything waiting for it.
    pub(super) fn config_stage_failed(&mut self, now: Instant, id: IkeId, reason: Reject) {
        let Some(sa) = self.ike.get(&id) else {
            return;
        };
        let (peer, remote) = (sa.peer, sa.remote);
        self.stats.reject(reason);
        self.events.push_back(Event::NegotiationFailed {
            peer,
            remote,
            phase: Phase::One,
            reason,
        });
        if let Some(pid) = peer {
            let pending = self
                .peers
                .get_mut(&pid)
                .map(|s| std::mem::take(&mut s.pending))
                .unwrap_or_default();
            for request in pending {
                self.quick_failed(now, pid, remote, &request, reason);
            }
        }
        self.remove_ike(now, id, true);
    }

    /// The stage of `id` is over: the quick modes waiting for it start.
    pub(super) fn config_stage_ready(&mut self, now: Instant, id: IkeId) {
        let Some(pid) = self.ike.get(&id).and_then(|sa| sa.peer) else {
            return;
        };
        let remote = self.ike.get(&id).map(|sa| sa.remote);
        let pending = self
            .peers
            .get_mut(&pid)
            .map(|s| std::mem::take(&mut s.pending))
            .unwrap_or_default();
        for request in pending {
            if let Err(reason) = self.start_quick_mode(now, id, request.clone())
                && let Some(remote) = remote
            {
                self.quick_failed(now, pid, remote, &request, reason);
            }
        }
    }

    /// The configuration stage of `id`, if the SA is established.
    pub(super) fn stage(&self, id: IkeId) -> Option<&ConfigStage> {
        self.ike.get(&id)?.established().map(|e| &e.stage)
    }

    /// The configuration stage of `id`, mutably.
    pub(super) fn stage_mut(&mut self, id: IkeId) -> Option<&mut ConfigStage> {
        self.ike
            .get_mut(&id)?
            .established_mut()
            .map(|e| &mut e.stage)
    }
}

/// `HDR*, HASH, ATTR` under `mid`.
fn seal_attributes(
    sa: &mut IkeSa,
    mid: u32,
    cfg_type: CfgType,
    identifier: u16,
    attrs: &[ConfigAttribute<'_>],
) -> Result<Vec<u8>, Reject> {
    let attributes = attrs
        .iter()
        .map(ConfigAttribute::to_raw)
        .collect::<Result<Vec<_>, _>>()?;
    let payload = Payload::Attribute(AttributePayload {
        cfg_type,
        identifier,
        attributes,
    });
    let header = protect::header(sa.cky_i, sa.cky_r, ExchangeType::Transaction, mid);
    let e = sa
        .established_mut()
        .ok_or(Reject::Internal("no ISAKMP SA"))?;
    let prf = e.sa.keys.prf;
    let skeyid_a = e.sa.keys.skeyids.skeyid_a.clone();
    protect::seal_hashed(&e.sa.keys, &mut e.sa.iv, &header, &[payload], |rest| {
        transaction_hash(prf, &skeyid_a, mid, &[rest])
    })
}
