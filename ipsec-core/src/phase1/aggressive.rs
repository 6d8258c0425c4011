//! Aggressive mode (RFC 2409 §5, RFC 2408 §4.7), both roles.
//!
//! The initiator's first message carries its KE payload, so it can offer only one
//! Diffie-Hellman group: the first of the peer's `dh-group` list (its transforms with other
//! groups are left out of the offer). The identities travel in the clear, so the responder
//! picks the peer by address, mode and ID at once (the manual's order), before answering.

use std::net::SocketAddr;

use crate::config::{ExchangeMode, MyId, Peer};
use crate::crypto::ikev1::{IvChain, Phase1Keys, Phase1Transcript};
use crate::crypto::{KeyPair, Prf};
use crate::engine::{EngineError, Reject};
use crate::proposal::Lifetime;
use crate::proposal::phase1::{self, Phase1Algorithms, Phase1Suite};
use crate::wire::{
    Body, ExchangeType, Identification, Message, Payload, PayloadType, SecurityAssociation,
};

use super::auth::{PeerProof, cert_request_payloads};
use super::ident::{id_body, identity_of, our_id};
use super::nat::{self, NatState};
use super::protect::{self, one};
use super::vendor::{self, PeerVendors};
use super::{
    Ctx, PeerTerms, Phase1Sa, Progress, cookie_pair, has_initial_contact, natd_payloads,
    require_plain, sa_body, sa_lifetime,
};

const AM: ExchangeType = ExchangeType::Aggressive;

/// The aggressive-mode initiator.
pub(crate) enum Initiator {
    /// AM1 sent; waiting for AM2.
    SentFirst(Box<SentFirst>),
    /// Done, or dead after consuming its key pair.
    Finished,
}

/// AM1 sent.
pub(crate) struct SentFirst {
    terms: PeerTerms,
    offered: Vec<Phase1Algorithms>,
    sai_b: Vec<u8>,
    key: Option<KeyPair>,
    g_xi: Vec<u8>,
    ni: Vec<u8>,
    idii_b: Vec<u8>,
}

impl Initiator {
    /// AM1 for `peer`.
    pub fn start(ctx: &Ctx<'_>, peer: &Peer) -> Result<(Self, Vec<u8>), EngineError> {
        let terms = PeerTerms::of(peer, ctx.credentials);
        if !terms.auth.is_supported() {
            return Err(EngineError::UnsupportedAuth(terms.auth.name()));
        }
        if !terms.auth.has_credentials() {
            return Err(EngineError::NoCredentials(terms.name.clone()));
        }
        let Some(group) = terms.ours.first().map(|a| a.group) else {
            return Err(EngineError::NothingToPropose("phase-1 transforms"));
        };
        if matches!(terms.my_id, MyId::Auto) && ctx.local.ip().is_unspecified() {
            return Err(EngineError::NoLocalAddress(terms.name.clone()));
        }
        let offered: Vec<Phase1Algorithms> = terms
            .ours
            .iter()
            .copied()
            .filter(|a| a.group == group)
            .collect();
        let sa = phase1::offer(
            &offered,
            terms.auth.method(),
            Lifetime::from_config(peer.lifetime, peer.lifebytes),
        )
        .map_err(|_| EngineError::NothingToPropose("phase-1 transforms"))?;
        let sai_b = sa_body(&sa)?;
        let key = group.generate(ctx.rng).map_err(Reject::from)?;
        let ni = ctx.nonce()?;
        let idii = our_id(&terms.my_id, ctx.local.ip());
        let idii_b = id_body(&idii).map_err(Reject::from)?;
        let g_xi = key.public.clone();
        let requests = terms.auth.cert_requests();
        let mut payloads = vec![
            Payload::SecurityAssociation(sa),
            Payload::KeyExchange(&g_xi),
            Payload::Nonce(&ni),
            Payload::Identification(idii),
        ];
        payloads.extend(cert_request_payloads(&requests));
        payloads.extend(vendor::initiator_vids(
            terms.nat_traversal,
            terms.auth.method().is_xauth(),
        ));
        let message = protect::emit_plain(&protect::header(ctx.cky_i, [0; 8], AM, 0), &payloads)?;
        Ok((
            Initiator::SentFirst(Box::new(SentFirst {
                terms,
                offered,
                sai_b,
                key: Some(key),
                g_xi,
                ni,
                idii_b,
            })),
            message,
        ))
    }

    /// The configured peer.
    pub fn peer_name(&self) -> &str {
        match self {
            Initiator::SentFirst(s) => &s.terms.name,
            Initiator::Finished => "",
        }
    }

    /// Whether the negotiation cannot continue.
    pub fn is_dead(&self) -> bool {
        matches!(self, Initiator::Finished)
    }

    /// AM2.
    pub fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<Progress, Reject> {
        match self {
            Initiator::SentFirst(s) => {
                let result = s.on_am2(ctx, msg);
                if s.key.is_none() {
                    *self = Initiator::Finished;
                }
                let (sa, message, float) = result?;
                Ok(Progress::Done {
                    sa,
                    message: Some(message),
                    float,
                })
            }
            Initiator::Finished => Err(Reject::UnexpectedMessage),
        }
    }
}

impl SentFirst {
    fn on_am2(
        &mut self,
        ctx: &Ctx<'_>,
        msg: &Message<'_>,
    ) -> Result<(Box<Phase1Sa>, Vec<u8>, bool), Reject> {
        let chain = require_plain(msg)?;
        let sa = one(chain, PayloadType::SecurityAssociation, "SA")?;
        let sa = SecurityAssociation::parse(sa.body())?;
        let suite = phase1::accept(&sa, &self.offered, self.terms.auth.method())?;
        let g_xr = one(chain, PayloadType::KeyExchange, "KE")?.body();
        let nr = one(chain, PayloadType::Nonce, "Nonce")?.body();
        Payload::decode(PayloadType::Nonce, nr)?;
        let idir = one(chain, PayloadType::Identification, "IDir")?;
        let id = Identification::parse(idir.body())?;
        let proof = PeerProof::from_chain(chain)?;
        let a = suite.algorithms;
        a.group.check_public(g_xr)?;
        let mut vendors = vendor::scan(chain);
        if !self.terms.nat_traversal {
            vendors.nat_t = None;
        }

        let key = self.key.take().ok_or(Reject::UnexpectedMessage)?;
        let g_xy = key.agree(g_xr)?;
        let prf = Prf::hmac(a.hash);
        let keys = Phase1Keys::derive(
            prf,
            a.cipher,
            self.terms.auth.skeyid_input()?,
            &self.ni,
            nr,
            &g_xy,
            &ctx.cky_i,
            &ctx.cky_r,
        )?;
        let transcript = Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: &self.sai_b,
        };
        let expected = transcript.hash_r(prf, &keys.skeyids.skeyid, idir.body());
        self.terms.auth.verify(&expected, &proof, &id, ctx.wall)?;
        if !self.terms.accepts(&id) {
            return Err(Reject::UnacceptableId);
        }
        let nat = detect(&vendors, a, ctx, ctx.local, ctx.remote, chain);
        let float = nat.is_some_and(|n| n.detected());

        let mut iv = IvChain::new(a.hash, a.cipher, &self.g_xi, g_xr)
            .with_max_exchanges(ctx.options.max_exchanges_per_sa.saturating_mul(2));
        let hash_i = transcript.hash_i(prf, &keys.skeyids.skeyid, &self.idii_b);
        let proof = self.terms.auth.prove(hash_i)?;
        let hashes = nat::our_hashes(
            a.hash,
            &ctx.cky_i,
            &ctx.cky_r,
            ctx.local,
            ctx.remote,
            ctx.options.force_udp_encapsulation,
            ctx.rng,
        )?;
        let spi = cookie_pair(&ctx.cky_i, &ctx.cky_r);
        let mut payloads = proof.payloads();
        if nat.is_some() {
            payloads.extend(natd_payloads(&hashes, vendors));
        }
        if ctx.initial_contact {
            payloads.push(super::initial_contact(&spi));
        }
        // AM3 encrypted, as strongSwan sends it (RFC 2409 allows either; the IV chain then
        // continues from it).
        let message = protect::seal(
            &keys,
            &mut iv,
            &protect::header(ctx.cky_i, ctx.cky_r, AM, 0),
            &payloads,
        )?;
        Ok((
            Box::new(Phase1Sa {
                peer_name: self.terms.name.clone(),
                suite,
                keys,
                iv,
                nat,
                peer_dpd: vendors.dpd,
                remote_id: identity_of(&id),
                initial_contact: false,
                lifetime: sa_lifetime(&suite, self.terms.lifetime),
            }),
            message,
            float,
        ))
    }
}

fn detect(
    vendors: &PeerVendors,
    a: Phase1Algorithms,
    ctx: &Ctx<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    chain: &crate::wire::PayloadChain<'_>,
) -> Option<NatState> {
    vendors.nat_t.map(|version| {
        let received = protect::natd_bodies(chain);
        let (local_behind, remote_behind) =
            nat::detect(a.hash, &ctx.cky_i, &ctx.cky_r, local, remote, &received);
        NatState {
            version,
            local_behind: local_behind || ctx.options.force_udp_encapsulation,
            remote_behind,
        }
    })
}

/// The aggressive-mode responder.
pub(crate) enum Responder {
    /// AM2 sent; waiting for AM3.
    SentSecond(Box<RSentSecond>),
    /// Done.
    Finished,
}

/// AM2 sent.
pub(crate) struct RSentSecond {
    terms: PeerTerms,
    suite: Phase1Suite,
    keys: Phase1Keys,
    iv: IvChain,
    vendors: PeerVendors,
    sai_b: Vec<u8>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    idii_b: Vec<u8>,
    remote_id: Option<crate::config::Identity>,
    /// The addresses AM1 came on: what the initiator's NAT-D hashes in AM3 describe, even if
    /// AM3 itself arrives on the NAT-T port.
    local: SocketAddr,
    remote: SocketAddr,
}

impl Responder {
    /// Answers AM1 (ctx.cky_r is our new cookie).
    pub fn start(ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<(Self, Vec<u8>), Reject> {
        let chain = require_plain(msg)?;
        let sa_payload = one(chain, PayloadType::SecurityAssociation, "SA")?;
        let sa = SecurityAssociation::parse(sa_payload.body())?;
        let g_xi = one(chain, PayloadType::KeyExchange, "KE")?.body();
        let ni = one(chain, PayloadType::Nonce, "Nonce")?.body();
        Payload::decode(PayloadType::Nonce, ni)?;
        let idii = one(chain, PayloadType::Identification, "IDii")?;
        let id = Identification::parse(idii.body())?;
        let peer = match identity_of(&id) {
            Some(identity) => ctx.config.select_peer(
                Some(ctx.local.ip()),
                ctx.remote.ip(),
                ExchangeMode::Aggressive,
                &identity,
            ),
            None => ctx
                .config
                .peer_for_local(ctx.local.ip(), ctx.remote.ip(), ExchangeMode::Aggressive)
                .into_iter()
                .find(|p| !matches!(p.remote_id, crate::config::RemoteId::Id(_))),
        }
        .ok_or(Reject::NoPeerConfig)?;
        let terms = PeerTerms::of(peer, ctx.credentials);
        if !terms.auth.is_supported() {
            return Err(Reject::UnsupportedAuth);
        }
        if !terms.auth.has_credentials() {
            return Err(Reject::NoCredentials);
        }
        if !terms.accepts(&id) {
            return Err(Reject::UnacceptableId);
        }
        let chosen = phase1::choose(&sa, &terms.ours, terms.auth.method())?;
        let suite = chosen.suite;
        let a = suite.algorithms;
        a.group.check_public(g_xi)?;
        let mut vendors = vendor::scan(chain);
        if !terms.nat_traversal {
            vendors.nat_t = None;
        }
        let key = a.group.generate(ctx.rng)?;
        let g_xr = key.public.clone();
        let g_xy = key.agree(g_xi)?;
        let nr = ctx.nonce()?;
        let prf = Prf::hmac(a.hash);
        let keys = Phase1Keys::derive(
            prf,
            a.cipher,
            terms.auth.skeyid_input()?,
            ni,
            &nr,
            &g_xy,
            &ctx.cky_i,
            &ctx.cky_r,
        )?;
        let iv = IvChain::new(a.hash, a.cipher, g_xi, &g_xr)
            .with_max_exchanges(ctx.options.max_exchanges_per_sa.saturating_mul(2));
        let transcript = Phase1Transcript {
            g_xi,
            g_xr: &g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: sa_payload.body(),
        };
        let idir = our_id(&terms.my_id, ctx.local.ip());
        let idir_b = id_body(&idir)?;
        let hash_r = transcript.hash_r(prf, &keys.skeyids.skeyid, &idir_b);
        let proof = terms.auth.prove(hash_r)?;
        let requests = terms.auth.cert_requests();
        let hashes = nat::our_hashes(
            a.hash,
            &ctx.cky_i,
            &ctx.cky_r,
            ctx.local,
            ctx.remote,
            ctx.options.force_udp_encapsulation,
            ctx.rng,
        )?;
        let mut payloads = vec![
            Payload::SecurityAssociation(chosen.reply()),
            Payload::KeyExchange(&g_xr),
            Payload::Nonce(&nr),
            Payload::Identification(idir),
        ];
        payloads.extend(proof.payloads());
        payloads.extend(cert_request_payloads(&requests));
        payloads.extend(vendor::responder_vids(
            vendors.nat_t,
            terms.auth.method().is_xauth(),
        ));
        payloads.extend(natd_payloads(&hashes, vendors));
        let message =
            protect::emit_plain(&protect::header(ctx.cky_i, ctx.cky_r, AM, 0), &payloads)?;
        Ok((
            Responder::SentSecond(Box::new(RSentSecond {
                terms,
                suite,
                keys,
                iv,
                vendors,
                sai_b: sa_payload.body().to_vec(),
                g_xi: g_xi.to_vec(),
                g_xr,
                idii_b: idii.body().to_vec(),
                remote_id: identity_of(&id),
                local: ctx.local,
                remote: ctx.remote,
            })),
            message,
        ))
    }

    /// The configured peer.
    pub fn peer_name(&self) -> &str {
        match self {
            Responder::SentSecond(s) => &s.terms.name,
            Responder::Finished => "",
        }
    }

    /// Whether the negotiation cannot continue.
    pub fn is_dead(&self) -> bool {
        matches!(self, Responder::Finished)
    }

    /// AM3.
    pub fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<Progress, Reject> {
        match self {
            Responder::SentSecond(s) => {
                let (iv, nat, initial_contact) = s.on_am3(ctx, msg)?;
                let Responder::SentSecond(s) = std::mem::replace(self, Responder::Finished) else {
                    return Err(Reject::Internal("aggressive mode state"));
                };
                let s = *s;
                Ok(Progress::Done {
                    sa: Box::new(Phase1Sa {
                        lifetime: sa_lifetime(&s.suite, s.terms.lifetime),
                        peer_name: s.terms.name,
                        suite: s.suite,
                        keys: s.keys,
                        iv,
                        nat,
                        peer_dpd: s.vendors.dpd,
                        remote_id: s.remote_id,
                        initial_contact,
                    }),
                    message: None,
                    float: false,
                })
            }
            Responder::Finished => Err(Reject::UnexpectedMessage),
        }
    }
}

impl RSentSecond {
    fn on_am3(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message<'_>,
    ) -> Result<(IvChain, Option<NatState>, bool), Reject> {
        let opened;
        let decrypted;
        let (chain, iv) = match &msg.body {
            Body::Plain(chain) => (chain, None),
            Body::Encrypted(ciphertext) => {
                opened = protect::open(&self.keys, &self.iv, &msg.header, ciphertext)?;
                decrypted = protect::parse_decrypted(&msg.header, &opened.plaintext)?;
                (&decrypted, Some(&opened.iv))
            }
        };
        let proof = PeerProof::from_chain(chain)?;
        let id = Identification::parse(&self.idii_b)?;
        let transcript = Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr: &self.g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: &self.sai_b,
        };
        let expected = transcript.hash_i(self.keys.prf, &self.keys.skeyids.skeyid, &self.idii_b);
        self.terms.auth.verify(&expected, &proof, &id, ctx.wall)?;
        let nat = detect(
            &self.vendors,
            self.suite.algorithms,
            ctx,
            self.local,
            self.remote,
            chain,
        );
        let mut iv = iv.cloned().unwrap_or_else(|| self.iv.clone());
        iv.confirm(0);
        Ok((iv, nat, has_initial_contact(chain)))
    }
}
