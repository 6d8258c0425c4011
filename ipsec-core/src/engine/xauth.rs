//! Extended authentication (draft-beaulieu-ike-xauth-02), server and client, between phase 1
//! and quick mode.
//!
//! ```text
//! server (edge device)                         client (remote user)
//! REQUEST  XAUTH-TYPE, USER-NAME, PASSWORD  →
//!                                           ←  REPLY  USER-NAME=..., PASSWORD=...
//! SET      XAUTH-STATUS (1 OK, 0 FAIL)      →
//!                                           ←  ACK    XAUTH-STATUS
//! ```
//!
//! The server is the `passive` side of a `pre-shared-key-xauth` peer (§2: the edge device
//! starts XAuth once phase 1 is up). Credentials are checked against the `[[user]]` table,
//! or by the driver when [`EngineOptions::xauth_external`](super::EngineOptions) is set
//! ([`Event::XauthVerify`], answered by [`Engine::xauth_verdict`], for RADIUS and the like).
//! A wrong password earns a new REQUEST, up to [`EngineOptions::xauth_tries`] attempts; then
//! XAUTH-STATUS FAIL and the ISAKMP SA is deleted. Quick modes are refused until the user is
//! authenticated ([`Reject::XauthPending`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::{Secret, ct_eq};
use crate::wire::{CfgType, ConfigAttribute, ConfigAttributeType as T, ConfigValue};

use super::event::{Event, PeerId};
use super::ike::IkeId;
use super::transaction::{Asked, Attributes, CfgState, TxKind, XauthState};
use super::{Engine, Reject};

/// XAUTH-TYPE generic (draft-beaulieu-ike-xauth-02 §6.1).
const XAUTH_TYPE_GENERIC: u16 = 0;
/// XAUTH-STATUS values (§6.1).
const STATUS_OK: u16 = 1;
const STATUS_FAIL: u16 = 0;

/// A credential check the driver was asked for ([`Event::XauthVerify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XauthRequest(pub u64);

/// The driver's answer to an [`Event::XauthVerify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XauthVerdict {
    /// The credentials are good.
    pub accept: bool,
    /// The address this user must get from mode-config, if the verifier says so (RADIUS
    /// Framed-IP-Address); otherwise the user's `[[user]]` address or the pool.
    pub address: Option<IpAddr>,
    /// The prefix length mode-config sends with `address` (RADIUS Framed-IP-Netmask);
    /// otherwise the mode-config's `address-prefix-length`.
    pub prefix_len: Option<u8>,
    /// Networks behind the user's client that its quick modes may name as its side
    /// (RADIUS Framed-Route; `[[user]] routes`).
    pub routes: Vec<crate::config::IpPrefix>,
}

impl Engine {
    /// Answers a credential check: the XAuth exchange it belongs to goes on. Unknown or
    /// stale requests (the SA is gone) are ignored.
    pub fn xauth_verdict(&mut self, now: Instant, request: XauthRequest, verdict: XauthVerdict) {
        let id = self.ike.iter().find_map(|(id, sa)| {
            sa.established()
                .filter(|e| e.stage.xauth == XauthState::Verifying(request.0))
                .map(|_| *id)
        });
        if let Some(id) = id {
            self.xauth_decide(now, id, verdict);
        }
    }

    /// Server: phase 1 is up, ask for the user's credentials.
    pub(super) fn xauth_ask(&mut self, now: Instant, id: IkeId) {
        let attrs = [
            ConfigAttribute {
                ty: T::XauthType,
                value: ConfigValue::U16(XAUTH_TYPE_GENERIC),
            },
            ConfigAttribute {
                ty: T::XauthUserName,
                value: ConfigValue::Empty,
            },
            ConfigAttribute {
                ty: T::XauthUserPassword,
                value: ConfigValue::Empty,
            },
        ];
        if let Some(stage) = self.stage_mut(id) {
            stage.xauth = XauthState::Pending;
        }
        if let Err(reason) =
            self.start_transaction(now, id, TxKind::XauthRequest, CfgType::Request, &attrs)
        {
            self.config_stage_failed(now, id, reason);
        }
    }

    /// Server: the client's REPLY with its credentials.
    pub(super) fn xauth_credentials(&mut self, now: Instant, id: IkeId, attrs: Attributes) {
        let text = |ty| match attrs.get(ty) {
            Some(ConfigValue::Bytes(b)) => b.to_vec(),
            _ => Vec::new(),
        };
        let user = String::from_utf8_lossy(&text(T::XauthUserName)).into_owned();
        let mut password = text(T::XauthUserPassword);
        // Android's racoon sends the password NUL-terminated.
        while password.last() == Some(&0) {
            password.pop();
        }
        let password = Secret::new(password);
        // A peer served by a `[[radius]]` server is checked by the driver too.
        let external = self.options.xauth_external
            || self
                .ike
                .get(&id)
                .and_then(|sa| sa.established())
                .is_some_and(|e| self.config.radius_for(&e.sa.peer_name));
        if external && !user.is_empty() {
            let n = self.next_id();
            let Some(sa) = self.ike.get_mut(&id) else {
                return;
            };
            let (peer, remote) = (sa.peer, sa.remote);
            let Some(e) = sa.established_mut() else {
                return;
            };
            e.stage.xauth = XauthState::Verifying(n);
            e.stage.user = Some(Arc::from(user.as_str()));
            if let Some(peer) = peer {
                self.events.push_back(Event::XauthVerify {
                    request: XauthRequest(n),
                    peer,
                    user,
                    password,
                    remote,
                });
            }
            return;
        }
        let known = self.config.user(&user).cloned();
        let accept = known
            .as_ref()
            .is_some_and(|u| ct_eq(u.password.as_bytes(), password.as_bytes()));
        if let Some(stage) = self.stage_mut(id) {
            stage.user = Some(Arc::from(user));
        }
        self.xauth_decide(
            now,
            id,
            XauthVerdict {
                accept,
                address: known.as_ref().and_then(|u| u.address),
                prefix_len: None,
                routes: known.map(|u| u.routes).unwrap_or_default(),
            },
        );
    }

    /// Server: the verdict on the credentials: SET OK, another REQUEST, or SET FAIL.
    fn xauth_decide(&mut self, now: Instant, id: IkeId, verdict: XauthVerdict) {
        let max_tries = self.options.xauth_tries.max(1);
        let Some(sa) = self.ike.get_mut(&id) else {
            return;
        };
        let peer = sa.peer;
        let Some(e) = sa.established_mut() else {
            return;
        };
        let stage = &mut e.stage;
        if verdict.accept {
            stage.xauth = XauthState::Succeeded;
            stage.granted = verdict.address;
            stage.granted_prefix = verdict.prefix_len;
            stage.routes = verdict.routes;
            let user = stage.user.clone().unwrap_or_else(|| Arc::from(""));
            self.stats.xauth_succeeded += 1;
            if let Some(peer) = peer {
                self.replace_sessions_of(now, peer, &user);
                self.events.push_back(Event::UserAuthenticated {
                    peer,
                    user: user.to_string(),
                });
            }
            self.xauth_status(now, id, true);
            if self.pushes_mode_config(id) {
                self.push_mode_config(now, id);
            }
            self.config_stage_ready(now, id);
            return;
        }
        stage.tries += 1;
        stage.user = None;
        self.stats.xauth_failed += 1;
        if stage.tries < max_tries {
            self.xauth_ask(now, id);
        } else {
            stage.xauth = XauthState::Failed;
            self.xauth_status(now, id, false);
        }
    }

    /// Server: one session per user and peer configuration (strongSwan's `uniqueids`): a
    /// user who logs in again, typically from a new address after changing networks, has
    /// the old session's SAs removed at once, and keeps its address (the lease follows the
    /// user).
    fn replace_sessions_of(&mut self, now: Instant, peer: PeerId, user: &Arc<str>) {
        let Some(name) = self.peers.get(&peer).map(|s| s.name.clone()) else {
            return;
        };
        // By the user index (a search over every session was most of the responder's time
        // with 100,000 road warriors); it is a superset, so each candidate is checked.
        let mut stale: Vec<PeerId> = self
            .sessions_by_user
            .get(&**user)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                *id != peer
                    && self
                        .peers
                        .get(id)
                        .is_some_and(|s| s.name == name && s.user.as_deref() == Some(&**user))
            })
            .collect();
        stale.sort_unstable();
        stale.dedup();
        if let Some(s) = self.peers.get_mut(&peer) {
            s.user = Some(Arc::clone(user));
            self.index_user(peer, user);
        }
        for old in stale {
            self.end_session(
                now,
                old,
                super::DeleteReason::InitialContact,
                super::DownReason::Terminated,
            );
        }
    }

    /// Server: SET XAUTH-STATUS.
    fn xauth_status(&mut self, now: Instant, id: IkeId, ok: bool) {
        let attrs = [ConfigAttribute {
            ty: T::XauthStatus,
            value: ConfigValue::U16(if ok { STATUS_OK } else { STATUS_FAIL }),
        }];
        if let Err(reason) =
            self.start_transaction(now, id, TxKind::XauthStatus(ok), CfgType::Set, &attrs)
        {
            self.config_stage_failed(now, id, reason);
        }
    }

    /// Client: the server's REQUEST for credentials, answered with `xauth-login` and
    /// `xauth-password` (and the XAUTH-TYPE echoed, §6.1).
    pub(super) fn xauth_answer(
        &mut self,
        now: Instant,
        id: IkeId,
        asked: Asked,
        attrs: Attributes,
    ) -> Result<(), Reject> {
        let name = self
            .ike
            .get(&id)
            .and_then(|sa| sa.established())
            .map(|e| e.sa.peer_name.clone())
            .unwrap_or_default();
        let creds = self
            .config
            .peer(&name)
            .and_then(|p| p.xauth.clone())
            .ok_or(Reject::XauthFailed)?;
        let mut reply = Vec::new();
        for a in &attrs.list {
            let value = match a.ty {
                T::XauthType => a.value.clone(),
                T::XauthUserName => ConfigValue::Bytes(creds.login.as_bytes().to_vec().into()),
                T::XauthUserPassword => {
                    ConfigValue::Bytes(creds.password.as_bytes().to_vec().into())
                }
                _ => continue,
            };
            reply.push(ConfigAttribute { ty: a.ty, value });
        }
        self.answer_transaction(now, id, asked, CfgType::Reply, &reply)
    }

    /// Client: the server's SET XAUTH-STATUS, acknowledged; on OK the stage moves on
    /// (mode-config, then quick modes), on FAIL the SA goes.
    pub(super) fn xauth_result(
        &mut self,
        now: Instant,
        id: IkeId,
        asked: Asked,
        attrs: Attributes,
    ) -> Result<(), Reject> {
        let status = match attrs.get(T::XauthStatus) {
            Some(ConfigValue::U16(s)) => *s,
            _ => STATUS_FAIL,
        };
        let ack = [ConfigAttribute {
            ty: T::XauthStatus,
            value: ConfigValue::U16(status),
        }];
        self.answer_transaction(now, id, asked, CfgType::Ack, &ack)?;
        if status != STATUS_OK {
            self.stats.xauth_failed += 1;
            self.config_stage_failed(now, id, Reject::XauthFailed);
            return Ok(());
        }
        self.stats.xauth_succeeded += 1;
        let wants_address = self.wants_mode_config(id);
        let Some(stage) = self.stage_mut(id) else {
            return Ok(());
        };
        stage.xauth = XauthState::Succeeded;
        stage.deadline = None;
        if wants_address && stage.cfg == CfgState::NotUsed {
            self.request_mode_config(now, id);
        } else if stage.ready() {
            self.config_stage_ready(now, id);
        }
        Ok(())
    }
}
