//! Client profiles (`profile = "ios" | "android" | "windows-l2tp"` in a `[[peer]]`, our
//! extension): what the built-in VPN clients of phones and laptops send in phase 1, so that
//! a concentrator accepts exactly that without the operator looking it up.
//!
//! A profile fills in the keys the `[[peer]]` does not write; written keys win. What each
//! client sends (from their documentation and captures of their first messages):
//!
//! | profile        | exchange mode                          | DH             | ciphers             | hashes            | phase-1 life | DPD  |
//! |----------------|----------------------------------------|----------------|---------------------|-------------------|--------------|------|
//! | `ios`          | aggressive (PSK, hybrid), main (certs) | modp1024, modp2048 | aes-256, aes-128, 3des | sha1, md5     | 1 h          | 20 s |
//! | `android`      | main                                   | modp1024       | aes-256, aes-128, 3des | sha1, md5, sha256 | 8 h      | 20 s |
//! | `windows-l2tp` | main-l2tp                              | ecp384, modp2048 | aes-256, aes-128, 3des | sha1, sha256, sha384 | 8 h   | off  |
//!
//! Every profile also turns NAT traversal on (the clients sit behind home routers) and
//! `proposal-check = obey` (their phase-2 lifetimes, e.g. Windows' 1 h and 250,000 KB,
//! are taken as they come). The weak parts (modp1024, 3DES, MD5, aggressive mode with a
//! pre-shared key) are what the clients need; validation names them in its warnings.

use super::raw::Peer;
use super::value::{
    AuthMethod, ClientProfile, DhGroup, DpdInterval, ExchangeMode, IkeEncryption, IkeHash,
    ProposalCheck, Time,
};
use std::time::Duration;

/// `p` with the profile's terms in every key that `written` says the file does not set.
pub(crate) fn apply(p: &Peer, profile: ClientProfile, written: impl Fn(&str) -> bool) -> Peer {
    use DhGroup::*;
    use IkeEncryption::{Aes128, Aes256, TripleDes};
    use IkeHash::*;
    let mut q = p.clone();
    let mut set = |key: &str, f: &mut dyn FnMut(&mut Peer)| {
        if !written(key) {
            f(&mut q);
        }
    };
    let (mode, groups, hashes, hours, dpd): (_, Vec<DhGroup>, Vec<IkeHash>, u64, Option<u64>) =
        match profile {
            ClientProfile::Ios => (
                if p.auth_method == AuthMethod::RsaSignature {
                    ExchangeMode::Main
                } else {
                    ExchangeMode::Aggressive
                },
                vec![Modp1024, Modp2048],
                vec![Sha1, Md5],
                1,
                Some(20),
            ),
            ClientProfile::Android => (
                ExchangeMode::Main,
                vec![Modp1024],
                vec![Sha1, Md5, Sha256],
                8,
                Some(20),
            ),
            ClientProfile::WindowsL2tp => (
                ExchangeMode::MainL2tp,
                vec![Ecp384, Modp2048],
                vec![Sha1, Sha256, Sha384],
                8,
                None,
            ),
        };
    set("exchange-mode", &mut |q| q.exchange_mode = mode);
    set("dh-group", &mut |q| q.dh_group = groups.clone());
    set("enc-algorithm", &mut |q| {
        q.enc_algorithm = vec![Aes256, Aes128, TripleDes];
    });
    set("hash-algorithm", &mut |q| q.hash_algorithm = hashes.clone());
    set("lifetime", &mut |q| {
        q.lifetime = Time(Duration::from_secs(hours * 3600));
    });
    set("dpd-interval", &mut |q| {
        q.dpd_interval = match dpd {
            Some(s) => DpdInterval::Every(Time(Duration::from_secs(s))),
            None => DpdInterval::Disabled,
        };
    });
    set("nat-traversal", &mut |q| q.nat_traversal = true);
    set("proposal-check", &mut |q| {
        q.proposal_check = ProposalCheck::Obey
    });
    q
}

/// The weak terms a (profiled) peer accepts, for the warning that names them.
pub(crate) fn weak_parts(p: &Peer) -> Vec<&'static str> {
    let mut out = Vec::new();
    if p.exchange_mode == ExchangeMode::Aggressive && p.auth_method.uses_psk() {
        out.push("aggressive mode with a pre-shared key (offline attack on the key)");
    }
    if p.dh_group.contains(&DhGroup::Modp1024) {
        out.push("modp1024 (Logjam)");
    }
    if p.enc_algorithm.contains(&IkeEncryption::TripleDes) {
        out.push("3des (64-bit blocks)");
    }
    if p.hash_algorithm.contains(&IkeHash::Md5) {
        out.push("md5");
    }
    if p.hash_algorithm.contains(&IkeHash::Sha1) {
        out.push("sha1");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_win_and_the_rest_is_filled() {
        let mut p = Peer::new("rw");
        p.auth_method = AuthMethod::PreSharedKeyXauth;
        p.dh_group = vec![DhGroup::Modp2048];
        let q = apply(&p, ClientProfile::Ios, |k| k == "dh-group");
        assert_eq!(q.dh_group, vec![DhGroup::Modp2048]);
        assert_eq!(q.exchange_mode, ExchangeMode::Aggressive);
        assert_eq!(q.hash_algorithm, vec![IkeHash::Sha1, IkeHash::Md5]);
        assert_eq!(q.lifetime, Time(Duration::from_secs(3600)));
        assert!(q.nat_traversal);
        assert_eq!(q.proposal_check, ProposalCheck::Obey);
        assert!(weak_parts(&q).iter().any(|w| w.starts_with("aggressive")));
        let mut c = Peer::new("certs");
        c.auth_method = AuthMethod::RsaSignature;
        assert_eq!(
            apply(&c, ClientProfile::Ios, |_| false).exchange_mode,
            ExchangeMode::Main
        );
        let w = apply(&Peer::new("w"), ClientProfile::WindowsL2tp, |_| false);
        assert_eq!(w.exchange_mode, ExchangeMode::MainL2tp);
        assert_eq!(w.dh_group, vec![DhGroup::Ecp384, DhGroup::Modp2048]);
        assert_eq!(w.dpd_interval, DpdInterval::Disabled);
    }
}
