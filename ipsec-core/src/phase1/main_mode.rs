//! Main mode (identity protection, RFC 2409 §5, RFC 2408 §4.5), both roles.

use crate::config::{ExchangeMode, Peer, RemoteId};
use crate::crypto::KeyPair;
use crate::crypto::ikev1::{IvChain, Phase1Keys, Phase1Transcript};
use crate::crypto::{Prf, Secret};
use crate::engine::{EngineError, Reject};
use crate::proposal::Lifetime;
use crate::proposal::phase1::{self, Phase1Suite};
use crate::wire::{
    ExchangeType, Identification, Message, Payload, PayloadType, SecurityAssociation,
};

use super::auth::{Authenticator, PeerProof, cert_request_payloads};
use super::ident::{id_body, identity_of, our_id};
use super::nat::{self, NatState};
use super::protect::{self, one};
use super::vendor::{self, PeerVendors};
use super::{
    Ctx, PeerTerms, Phase1Sa, Progress, cookie_pair, has_initial_contact, natd_payloads,
    require_plain, sa_body, sa_lifetime,
};

const MM: ExchangeType = ExchangeType::IdentityProtection;

/// The main-mode initiator.
pub(crate) enum Initiator {
    /// MM1 sent; waiting for the responder's SA.
    SentSa(SentSa),
    /// MM3 sent; waiting for KE and Nr.
    SentKe(Box<SentKe>),
    /// MM5 sent; waiting for IDir and HASH_R.
    SentId(Box<SentId>),
    /// Done, or dead after consuming its key pair.
    Finished,
}

/// MM1 sent.
pub(crate) struct SentSa {
    terms: PeerTerms,
    sai_b: Vec<u8>,
}

/// MM3 sent.
pub(crate) struct SentKe {
    terms: PeerTerms,
    sai_b: Vec<u8>,
    suite: Phase1Suite,
    vendors: PeerVendors,
    key: Option<KeyPair>,
    g_xi: Vec<u8>,
    ni: Vec<u8>,
}

/// MM5 sent.
pub(crate) struct SentId {
    terms: PeerTerms,
    sai_b: Vec<u8>,
    suite: Phase1Suite,
    vendors: PeerVendors,
    nat: Option<NatState>,
    keys: Phase1Keys,
    iv: IvChain,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
}

impl Initiator {
    /// MM1 for `peer`.
    pub fn start(ctx: &Ctx<'_>, peer: &Peer) -> Result<(Self, Vec<u8>), EngineError> {
        let terms = PeerTerms::of(peer, ctx.credentials);
        if !terms.auth.is_supported() {
            return Err(EngineError::UnsupportedAuth(terms.auth.name()));
        }
        if !terms.auth.has_credentials() {
            return Err(EngineError::NoCredentials(terms.name.clone()));
        }
        let sa = phase1::offer(
            &terms.ours,
            terms.auth.method(),
            Lifetime::from_config(peer.lifetime, peer.lifebytes),
        )
        .map_err(|_| EngineError::NothingToPropose("phase-1 transforms"))?;
        let sai_b = sa_body(&sa)?;
        let mut payloads = vec![Payload::SecurityAssociation(sa)];
        payloads.extend(vendor::initiator_vids(
            terms.nat_traversal,
            terms.auth.method().is_xauth(),
        ));
        let message = protect::emit_plain(&protect::header(ctx.cky_i, [0; 8], MM, 0), &payloads)?;
        Ok((Initiator::SentSa(SentSa { terms, sai_b }), message))
    }

    /// The configured peer.
    pub fn peer_name(&self) -> &str {
        match self {
            Initiator::SentSa(s) => &s.terms.name,
            Initiator::SentKe(s) => &s.terms.name,
            Initiator::SentId(s) => &s.terms.name,
            Initiator::Finished => "",
        }
    }

    /// Whether the negotiation cannot continue.
    pub fn is_dead(&self) -> bool {
        matches!(self, Initiator::Finished)
    }

    /// The next message of the responder.
    pub fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<Progress, Reject> {
        match self {
            Initiator::SentSa(s) => {
                let (next, message) = s.on_mm2(ctx, msg)?;
                *self = Initiator::SentKe(Box::new(next));
                Ok(Progress::Continue {
                    message,
                    float: false,
                })
            }
            Initiator::SentKe(s) => {
                let result = s.on_mm4(ctx, msg);
                if s.key.is_none() && result.is_err() {
                    *self = Initiator::Finished;
                }
                let (next, message, float) = result?;
                *self = Initiator::SentId(Box::new(next));
                Ok(Progress::Continue { message, float })
            }
            Initiator::SentId(s) => {
                let (iv, remote_id) = s.on_mm6(ctx, msg)?;
                let Initiator::SentId(s) = std::mem::replace(self, Initiator::Finished) else {
                    return Err(Reject::Internal("main mode state"));
                };
                let s = *s;
                Ok(Progress::Done {
                    sa: Box::new(Phase1Sa {
                        lifetime: sa_lifetime(&s.suite, s.terms.lifetime),
                        peer_name: s.terms.name,
                        suite: s.suite,
                        keys: s.keys,
                        iv,
                        nat: s.nat,
                        peer_dpd: s.vendors.dpd,
                        remote_id,
                        initial_contact: false,
                    }),
                    message: None,
                    float: false,
                })
            }
            Initiator::Finished => Err(Reject::UnexpectedMessage),
        }
    }
}

impl SentSa {
    fn on_mm2(&self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<(SentKe, Vec<u8>), Reject> {
        let chain = require_plain(msg)?;
        let sa = one(chain, PayloadType::SecurityAssociation, "SA")?;
        let sa = SecurityAssociation::parse(sa.body())?;
        let suite = phase1::accept(&sa, &self.terms.ours, self.terms.auth.method())?;
        let mut vendors = vendor::scan(chain);
        if !self.terms.nat_traversal {
            vendors.nat_t = None;
        }
        let key = suite.algorithms.group.generate(ctx.rng)?;
        let ni = ctx.nonce()?;
        let hashes = nat::our_hashes(
            suite.algorithms.hash,
            &ctx.cky_i,
            &ctx.cky_r,
            ctx.local,
            ctx.remote,
            ctx.options.force_udp_encapsulation,
            ctx.rng,
        )?;
        let requests = self.terms.auth.cert_requests();
        let mut payloads = vec![Payload::KeyExchange(&key.public), Payload::Nonce(&ni)];
        payloads.extend(cert_request_payloads(&requests));
        payloads.extend(natd_payloads(&hashes, vendors));
        let message =
            protect::emit_plain(&protect::header(ctx.cky_i, ctx.cky_r, MM, 0), &payloads)?;
        let g_xi = key.public.clone();
        Ok((
            SentKe {
                terms: self.terms.clone(),
                sai_b: self.sai_b.clone(),
                suite,
                vendors,
                key: Some(key),
                g_xi,
                ni,
            },
            message,
        ))
    }
}

impl SentKe {
    fn on_mm4(
        &mut self,
        ctx: &Ctx<'_>,
        msg: &Message<'_>,
    ) -> Result<(SentId, Vec<u8>, bool), Reject> {
        let chain = require_plain(msg)?;
        let g_xr = one(chain, PayloadType::KeyExchange, "KE")?.body();
        let nr = one(chain, PayloadType::Nonce, "Nonce")?.body();
        Payload::decode(PayloadType::Nonce, nr)?;
        let a = self.suite.algorithms;
        a.group.check_public(g_xr)?;
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
        let mut iv = IvChain::new(a.hash, a.cipher, &self.g_xi, g_xr)
            .with_max_exchanges(ctx.options.max_exchanges_per_sa.saturating_mul(2));
        let nat = self.vendors.nat_t.map(|version| {
            let received = protect::natd_bodies(chain);
            let (local_behind, remote_behind) = nat::detect(
                a.hash, &ctx.cky_i, &ctx.cky_r, ctx.local, ctx.remote, &received,
            );
            NatState {
                version,
                local_behind: local_behind || ctx.options.force_udp_encapsulation,
                remote_behind,
            }
        });
        let float = nat.is_some_and(|n| n.detected());

        let idii = our_id(&self.terms.my_id, ctx.local.ip());
        let idii_b = id_body(&idii)?;
        let transcript = Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: &self.sai_b,
        };
        let hash_i = transcript.hash_i(prf, &keys.skeyids.skeyid, &idii_b);
        let proof = self.terms.auth.prove(hash_i)?;
        let spi = cookie_pair(&ctx.cky_i, &ctx.cky_r);
        let mut payloads = vec![Payload::Identification(idii)];
        payloads.extend(proof.payloads());
        if ctx.initial_contact {
            payloads.push(super::initial_contact(&spi));
        }
        let message = protect::seal(
            &keys,
            &mut iv,
            &protect::header(ctx.cky_i, ctx.cky_r, MM, 0),
            &payloads,
        )?;
        Ok((
            SentId {
                terms: self.terms.clone(),
                sai_b: self.sai_b.clone(),
                suite: self.suite,
                vendors: self.vendors,
                nat,
                keys,
                iv,
                g_xi: self.g_xi.clone(),
                g_xr: g_xr.to_vec(),
            },
            message,
            float,
        ))
    }
}

impl SentId {
    fn on_mm6(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message<'_>,
    ) -> Result<(IvChain, Option<crate::config::Identity>), Reject> {
        let ciphertext = msg.ciphertext().ok_or(Reject::UnexpectedMessage)?;
        let opened = protect::open(&self.keys, &self.iv, &msg.header, ciphertext)?;
        let chain = protect::parse_decrypted(&msg.header, &opened.plaintext)?;
        let idir = one(&chain, PayloadType::Identification, "IDir")?;
        let id = Identification::parse(idir.body())?;
        let proof = PeerProof::from_chain(&chain)?;
        let transcript = Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr: &self.g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: &self.sai_b,
        };
        let expected = transcript.hash_r(self.keys.prf, &self.keys.skeyids.skeyid, idir.body());
        self.terms.auth.verify(&expected, &proof, &id, ctx.wall)?;
        if !self.terms.accepts(&id) {
            return Err(Reject::UnacceptableId);
        }
        let mut iv = opened.iv;
        iv.confirm(0);
        Ok((iv, identity_of(&id)))
    }
}

/// A configured peer the responder may be talking to (main mode cannot know which before
/// the initiator's ID arrives in MM5, encrypted with a key that depends on the peer's
/// pre-shared key: so each candidate's key is tried).
#[derive(Clone)]
struct Candidate {
    terms: PeerTerms,
}

/// The main-mode responder.
pub(crate) enum Responder {
    /// MM2 sent; waiting for KE and Ni.
    SentSa(Box<RSentSa>),
    /// MM4 sent; waiting for IDii and HASH_I.
    SentKe(Box<RSentKe>),
    /// Done.
    Finished,
}

/// MM2 sent.
pub(crate) struct RSentSa {
    candidates: Vec<Candidate>,
    suite: Phase1Suite,
    sai_b: Vec<u8>,
    vendors: PeerVendors,
}

/// MM4 sent.
pub(crate) struct RSentKe {
    candidates: Vec<Candidate>,
    suite: Phase1Suite,
    sai_b: Vec<u8>,
    vendors: PeerVendors,
    nat: Option<NatState>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    g_xy: Secret,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

impl Responder {
    /// Answers MM1 (ctx.cky_r is our new cookie).
    pub fn start(ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<(Self, Vec<u8>), Reject> {
        let chain = require_plain(msg)?;
        let sa_payload = one(chain, PayloadType::SecurityAssociation, "SA")?;
        let sa = SecurityAssociation::parse(sa_payload.body())?;
        let peers = ctx
            .config
            .peer_for_local(ctx.local.ip(), ctx.remote.ip(), ExchangeMode::Main);
        if peers.is_empty() {
            return Err(Reject::NoPeerConfig);
        }
        let all: Vec<Candidate> = peers
            .iter()
            .map(|p| Candidate {
                terms: PeerTerms::of(p, ctx.credentials),
            })
            .filter(|c| c.terms.auth.is_supported())
            .collect();
        if all.is_empty() {
            return Err(Reject::UnsupportedAuth);
        }
        let all: Vec<Candidate> = all
            .into_iter()
            .filter(|c| c.terms.auth.has_credentials())
            .collect();
        if all.is_empty() {
            return Err(Reject::NoCredentials);
        }
        let mut chosen = None;
        for c in &all {
            if let Ok(ch) = phase1::choose(&sa, &c.terms.ours, c.terms.auth.method()) {
                chosen = Some(ch);
                break;
            }
        }
        let chosen = chosen.ok_or(Reject::NoProposalChosen)?;
        let suite = chosen.suite;
        let candidates: Vec<Candidate> = all
            .into_iter()
            .filter(|c| {
                c.terms.ours.contains(&suite.algorithms) && c.terms.auth.method() == suite.auth
            })
            .collect();
        let nat_traversal = candidates.first().is_some_and(|c| c.terms.nat_traversal);
        let mut vendors = vendor::scan(chain);
        if !nat_traversal {
            vendors.nat_t = None;
        }
        let mut payloads = vec![Payload::SecurityAssociation(chosen.reply())];
        payloads.extend(vendor::responder_vids(vendors.nat_t, suite.auth.is_xauth()));
        let message =
            protect::emit_plain(&protect::header(ctx.cky_i, ctx.cky_r, MM, 0), &payloads)?;
        Ok((
            Responder::SentSa(Box::new(RSentSa {
                candidates,
                suite,
                sai_b: sa_payload.body().to_vec(),
                vendors,
            })),
            message,
        ))
    }

    /// Whether the negotiation cannot continue.
    pub fn is_dead(&self) -> bool {
        matches!(self, Responder::Finished)
    }

    /// The initiator's next message.
    pub fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<Progress, Reject> {
        match self {
            Responder::SentSa(s) => {
                let (next, message) = s.on_mm3(ctx, msg)?;
                *self = Responder::SentKe(Box::new(next));
                Ok(Progress::Continue {
                    message,
                    float: false,
                })
            }
            Responder::SentKe(s) => {
                let (sa, message) = s.on_mm5(ctx, msg)?;
                *self = Responder::Finished;
                Ok(Progress::Done {
                    sa,
                    message: Some(message),
                    float: false,
                })
            }
            Responder::Finished => Err(Reject::UnexpectedMessage),
        }
    }
}

impl RSentSa {
    fn on_mm3(&self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<(RSentKe, Vec<u8>), Reject> {
        let chain = require_plain(msg)?;
        let g_xi = one(chain, PayloadType::KeyExchange, "KE")?.body();
        let ni = one(chain, PayloadType::Nonce, "Nonce")?.body();
        Payload::decode(PayloadType::Nonce, ni)?;
        let a = self.suite.algorithms;
        a.group.check_public(g_xi)?;
        let key = a.group.generate(ctx.rng)?;
        let g_xr = key.public.clone();
        let g_xy = key.agree(g_xi)?;
        let nr = ctx.nonce()?;
        let nat = self.vendors.nat_t.map(|version| {
            let received = protect::natd_bodies(chain);
            let (local_behind, remote_behind) = nat::detect(
                a.hash, &ctx.cky_i, &ctx.cky_r, ctx.local, ctx.remote, &received,
            );
            NatState {
                version,
                local_behind: local_behind || ctx.options.force_udp_encapsulation,
                remote_behind,
            }
        });
        let hashes = nat::our_hashes(
            a.hash,
            &ctx.cky_i,
            &ctx.cky_r,
            ctx.local,
            ctx.remote,
            ctx.options.force_udp_encapsulation,
            ctx.rng,
        )?;
        let mut requests: Vec<Vec<u8>> = Vec::new();
        for c in &self.candidates {
            for r in c.terms.auth.cert_requests() {
                if !requests.contains(&r) {
                    requests.push(r);
                }
            }
        }
        let mut payloads = vec![Payload::KeyExchange(&g_xr), Payload::Nonce(&nr)];
        payloads.extend(cert_request_payloads(&requests));
        if nat.is_some() {
            payloads.extend(natd_payloads(&hashes, self.vendors));
        }
        let message =
            protect::emit_plain(&protect::header(ctx.cky_i, ctx.cky_r, MM, 0), &payloads)?;
        Ok((
            RSentKe {
                candidates: self.candidates.clone(),
                suite: self.suite,
                sai_b: self.sai_b.clone(),
                vendors: self.vendors,
                nat,
                g_xi: g_xi.to_vec(),
                g_xr,
                g_xy,
                ni: ni.to_vec(),
                nr,
            },
            message,
        ))
    }
}

impl RSentKe {
    fn on_mm5(&self, ctx: &Ctx<'_>, msg: &Message<'_>) -> Result<(Box<Phase1Sa>, Vec<u8>), Reject> {
        let ciphertext = msg.ciphertext().ok_or(Reject::UnexpectedMessage)?;
        let a = self.suite.algorithms;
        let prf = Prf::hmac(a.hash);
        let iv0 = IvChain::new(a.hash, a.cipher, &self.g_xi, &self.g_xr)
            .with_max_exchanges(ctx.options.max_exchanges_per_sa.saturating_mul(2));
        let transcript = Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr: &self.g_xr,
            cky_i: ctx.cky_i,
            cky_r: ctx.cky_r,
            sai_b: &self.sai_b,
        };
        // Try each distinct key; the first that decrypts and verifies HASH_I wins.
        let mut last_error = Reject::AuthenticationFailed;
        let mut tried: Vec<&Authenticator> = Vec::new();
        for c in &self.candidates {
            if tried.iter().any(|t| t.same_key(&c.terms.auth)) {
                continue;
            }
            tried.push(&c.terms.auth);
            let keys = Phase1Keys::derive(
                prf,
                a.cipher,
                c.terms.auth.skeyid_input()?,
                &self.ni,
                &self.nr,
                &self.g_xy,
                &ctx.cky_i,
                &ctx.cky_r,
            )?;
            let opened = match protect::open(&keys, &iv0, &msg.header, ciphertext) {
                Ok(o) => o,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let chain = match protect::parse_decrypted(&msg.header, &opened.plaintext) {
                Ok(c) => c,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let idii = one(&chain, PayloadType::Identification, "IDii")?;
            let id = Identification::parse(idii.body())?;
            let proof = PeerProof::from_chain(&chain)?;
            let expected = transcript.hash_i(prf, &keys.skeyids.skeyid, idii.body());
            let sharing = || {
                self.candidates
                    .iter()
                    .filter(|d| d.terms.auth.same_key(&c.terms.auth))
            };
            let peer = if c.terms.auth.signs() {
                // Signatures: the SKEYID is the same for every candidate, and each has its
                // own CA: the first candidate that accepts the ID (those naming it first,
                // the manual's order) and whose verifier accepts the proof.
                let ordered: Vec<&Candidate> = sharing()
                    .filter(|d| {
                        matches!(d.terms.remote_id, RemoteId::Id(_)) && d.terms.accepts(&id)
                    })
                    .chain(sharing().filter(|d| {
                        !matches!(d.terms.remote_id, RemoteId::Id(_)) && d.terms.accepts(&id)
                    }))
                    .collect();
                let mut error = Reject::UnacceptableId;
                let mut found = None;
                for d in ordered {
                    match d.terms.auth.verify(&expected, &proof, &id, ctx.wall) {
                        Ok(()) => {
                            found = Some(d);
                            break;
                        }
                        Err(e) => error = e,
                    }
                }
                found.ok_or(error)?
            } else {
                if let Err(e) = c.terms.auth.verify(&expected, &proof, &id, ctx.wall) {
                    last_error = e;
                    continue;
                }
                // Authenticated with this key: the peer is the first candidate holding the
                // key that accepts the ID, those naming the ID first (the manual's order).
                sharing()
                    .find(|d| matches!(d.terms.remote_id, RemoteId::Id(_)) && d.terms.accepts(&id))
                    .or_else(|| sharing().find(|d| d.terms.accepts(&id)))
                    .ok_or(Reject::UnacceptableId)?
            };
            let mut iv = opened.iv;
            iv.confirm(0);
            let idir = our_id(&peer.terms.my_id, ctx.local.ip());
            let idir_b = id_body(&idir)?;
            let hash_r = transcript.hash_r(prf, &keys.skeyids.skeyid, &idir_b);
            let proof = peer.terms.auth.prove(hash_r)?;
            let mut payloads = vec![Payload::Identification(idir)];
            payloads.extend(proof.payloads());
            let message = protect::seal(
                &keys,
                &mut iv,
                &protect::header(ctx.cky_i, ctx.cky_r, MM, 0),
                &payloads,
            )?;
            let sa = Phase1Sa {
                peer_name: peer.terms.name.clone(),
                suite: self.suite,
                keys,
                iv,
                nat: self.nat,
                peer_dpd: self.vendors.dpd,
                remote_id: identity_of(&id),
                initial_contact: has_initial_contact(&chain),
                lifetime: sa_lifetime(&self.suite, peer.terms.lifetime),
            };
            return Ok((Box::new(sa), message));
        }
        Err(last_error)
    }
}
