//! Phase-1 identities: the ID payload we send for `my-id`, and the configuration's
//! [`Identity`] of a received ID payload (RFC 2407 §4.6.2).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::config::{Identity, MyId};
use crate::wire::{IdType, IdValue, Identification};

/// Our ID payload for `my-id`; `auto` is our address. Protocol and port are 0 (RFC 2407
/// §4.6.2 allows 0 or UDP/500 in phase 1; 0 is what strongSwan sends).
pub(crate) fn our_id(my_id: &MyId, local: IpAddr) -> Identification<'static> {
    let address = |a: IpAddr| match a.to_canonical() {
        IpAddr::V4(v4) => Identification::new(IdValue::Ipv4(v4), 0, 0),
        IpAddr::V6(v6) => Identification::new(IdValue::Ipv6(v6), 0, 0),
    };
    let text = |id_type: IdType, s: &str| Identification {
        id_type,
        protocol: 0,
        port: 0,
        data: Cow::Owned(s.as_bytes().to_vec()),
    };
    match my_id {
        MyId::Auto => owned(address(local)),
        MyId::Id(Identity::Address(a)) => owned(address(*a)),
        MyId::Id(Identity::Fqdn(s)) => text(IdType::Fqdn, s),
        MyId::Id(Identity::UserFqdn(s)) => text(IdType::UserFqdn, s),
        MyId::Id(Identity::KeyId(s)) => text(IdType::KeyId, s),
    }
}

fn owned(id: Identification<'_>) -> Identification<'static> {
    Identification {
        id_type: id.id_type,
        protocol: id.protocol,
        port: id.port,
        data: Cow::Owned(id.data.into_owned()),
    }
}

/// The body of an ID payload (what HASH_I/HASH_R cover as IDii_b/IDir_b).
pub(crate) fn id_body(id: &Identification<'_>) -> Result<Vec<u8>, crate::wire::EmitError> {
    let mut out = Vec::with_capacity(4 + id.data.len());
    id.emit(&mut out)?;
    Ok(out)
}

/// The identity a received ID payload names, if it is a kind the configuration can name
/// (addresses, FQDN, user FQDN, key ID; names as UTF-8, lossily).
pub(crate) fn identity_of(id: &Identification<'_>) -> Option<Identity> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(match id.value().ok()? {
        IdValue::Ipv4(a) => Identity::Address(IpAddr::V4(a)),
        IdValue::Ipv6(a) => Identity::Address(IpAddr::V6(a)),
        IdValue::Fqdn(b) => Identity::Fqdn(text(b)),
        IdValue::UserFqdn(b) => Identity::UserFqdn(text(b)),
        IdValue::KeyId(b) => Identity::KeyId(text(b)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_our_address_and_round_trips() {
        let local: IpAddr = "198.18.0.1".parse().unwrap();
        let id = our_id(&MyId::Auto, local);
        assert_eq!(identity_of(&id), Some(Identity::Address(local)));
        let body = id_body(&id).unwrap();
        assert_eq!(body, [1, 0, 0, 0, 198, 18, 0, 1]);
        let fqdn = our_id(&MyId::Id(Identity::Fqdn("vpn.example".into())), local);
        assert_eq!(
            identity_of(&fqdn),
            Some(Identity::Fqdn("vpn.example".into()))
        );
        let mapped: IpAddr = "::ffff:198.18.0.1".parse().unwrap();
        assert_eq!(our_id(&MyId::Auto, mapped), id);
    }
}
