//! Weak or ineffective settings are accepted only when written, and each is a warning that
//! names the setting and its line.

use ipsec_core::config::{Config, ObjectKind};

fn warnings(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "w.toml") {
        Ok(snap) => snap.warnings().iter().map(ToString::to_string).collect(),
        Err(e) => panic!("{e:#?}"),
    }
}

#[test]
fn weak_phase1_algorithms() {
    let text = "[[peer]]\nname = \"old\"\nsecret = \"s\"\n\
                dh-group = [\"modp768\", \"modp1024\", \"modp2048\"]\n\
                enc-algorithm = \"des,3des\"\nhash-algorithm = \"md5\"\n";
    assert_eq!(
        warnings(text),
        vec![
            "w.toml:4: peer \"old\": key \"dh-group\": warning: dh-group includes modp768: \
             groups of 1024 bits and less are within reach of precomputation (Logjam); used \
             only because it is configured",
            "w.toml:4: peer \"old\": key \"dh-group\": warning: dh-group includes modp1024: \
             groups of 1024 bits and less are within reach of precomputation (Logjam); used \
             only because it is configured",
            "w.toml:5: peer \"old\": key \"enc-algorithm\": warning: enc-algorithm includes \
             des: DES has a 56-bit key; used only because it is configured",
            "w.toml:6: peer \"old\": key \"hash-algorithm\": warning: hash-algorithm includes \
             md5: MD5 collisions are practical; used only because it is configured",
        ]
    );
}

#[test]
fn aggressive_mode_with_a_pre_shared_key() {
    let w = warnings(
        "[[peer]]\nname = \"rw\"\nexchange-mode = \"aggressive\"\n\
         auth-method = \"pre-shared-key-xauth\"\nsecret = \"s\"\npassive = true\n\
         [[user]]\nname = \"u\"\npassword = \"p\"\n",
    );
    assert_eq!(
        w,
        vec![
            "w.toml:3: peer \"rw\": key \"exchange-mode\": warning: aggressive with auth-method \
             pre-shared-key-xauth: the responder's hash lets anyone who can start a negotiation \
             attack the pre-shared key offline; used only because it is configured"
        ]
    );
    // Aggressive mode with certificates is not a warning.
    assert!(
        warnings(
            "[[peer]]\nname = \"c\"\nexchange-mode = \"aggressive\"\n\
             auth-method = \"rsa-signature\"\ncertificate = \"me.pem\"\nca = \"ca.pem\"\n"
        )
        .is_empty()
    );
}

#[test]
fn weak_phase2_algorithms() {
    let w = warnings(
        "[[proposal]]\nname = \"legacy\"\nenc-algorithms = [\"des\", \"null\", \"aes-128-cbc\"]\n\
         auth-algorithms = [\"md5\", \"sha1\"]\npfs-group = \"modp768\"\n\
         [[proposal]]\nname = \"gcm\"\nenc-algorithms = \"aes-256-gcm\"\nauth-algorithms = \"null\"\n\
         [[proposal]]\nname = \"cbc-null\"\nenc-algorithms = \"aes-256-cbc\"\nauth-algorithms = \"null\"\n",
    );
    assert_eq!(
        w,
        vec![
            "w.toml:3: proposal \"legacy\": key \"enc-algorithms\": warning: enc-algorithms \
             includes des: DES has a 56-bit key; used only because it is configured",
            "w.toml:3: proposal \"legacy\": key \"enc-algorithms\": warning: enc-algorithms \
             includes null: null sends the traffic unencrypted; used only because it is \
             configured",
            "w.toml:4: proposal \"legacy\": key \"auth-algorithms\": warning: auth-algorithms \
             includes md5: HMAC-MD5 is deprecated (RFC 8221); used only because it is configured",
            "w.toml:5: proposal \"legacy\": key \"pfs-group\": warning: modp768: groups of 1024 \
             bits and less are within reach of precomputation (Logjam); used only because it is \
             configured",
            // AES-GCM needs no integrity algorithm: no warning for proposal "gcm".
            "w.toml:13: proposal \"cbc-null\": key \"auth-algorithms\": warning: \
             auth-algorithms includes null: null leaves the non-AEAD ciphers without integrity \
             protection; used only because it is configured",
        ]
    );
}

#[test]
fn settings_without_effect() {
    let w = warnings(
        "[[peer]]\nname = \"cert\"\nauth-method = \"rsa-signature\"\ncertificate = \"me.pem\"\n\
         ca = \"ca.pem\"\nsecret = \"left over\"\nxauth-login = \"u\"\nremote-id = \"ignore\"\n\
         [[peer]]\nname = \"psk\"\nsecret = \"s\"\naddress = \"198.51.100.1\"\nca = \"ca.pem\"\n\
         [[policy]]\naction = \"discard\"\ngroup = \"default\"\nsrc-address = \"10.0.0.0/8\"\n\
         dst-address = \"10.0.0.0/8\"\n\
         [[mode-config]]\nname = \"client\"\nresponder = false\naddress-pool = \"p\"\n\
         [[ip-pool]]\nname = \"p\"\nranges = \"10.9.0.0/24\"\n\
         [[user]]\nname = \"u\"\npassword = \"pw\"\naddress = \"10.9.0.5\"\n",
    );
    assert_eq!(
        w,
        vec![
            "w.toml:6: peer \"cert\": key \"secret\": warning: has no effect with auth-method \
             rsa-signature",
            "w.toml:7: peer \"cert\": key \"xauth-login\": warning: has no effect with \
             auth-method rsa-signature",
            "w.toml:8: peer \"cert\": key \"remote-id\": warning: ignore with certificates: any \
             certificate from the CA may claim any identity",
            "w.toml:13: peer \"psk\": key \"ca\": warning: has no effect with auth-method \
             pre-shared-key on this side",
            "w.toml:16: policy #1: key \"group\": warning: has no effect without template = true",
            "w.toml:22: mode-config \"client\": key \"address-pool\": warning: has no effect with \
             responder = false (an initiator requests its address)",
            "w.toml:29: user \"u\": key \"address\": warning: 10.9.0.5 is inside ip-pool \"p\", \
             which may hand it to another client",
        ]
    );
}

#[test]
fn an_xauth_server_without_users() {
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"srv\"\nauth-method = \"pre-shared-key-xauth\"\nsecret = \"s\"\n\
         passive = true\nxauth-login = \"me\"\n",
        "w.toml",
    )
    .unwrap();
    let w: Vec<_> = snap.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "w.toml:3: peer \"srv\": key \"auth-method\": warning: pre-shared-key-xauth as XAuth \
             server, but no [[user]] is configured: every login will fail",
            "w.toml:6: peer \"srv\": key \"xauth-login\": warning: has no effect on the XAuth \
             server (passive = true)",
        ]
    );
    let first = &snap.warnings()[0];
    assert_eq!(first.object.as_ref().unwrap().kind, ObjectKind::Peer);
    assert_eq!(first.key.as_deref(), Some("auth-method"));
}

#[test]
fn request_only_on_a_passive_peer() {
    assert_eq!(
        warnings(
            "[[peer]]\nname = \"srv\"\nsecret = \"s\"\npassive = true\nmode-config = \"request-only\"\n"
        ),
        vec![
            "w.toml:5: peer \"srv\": key \"mode-config\": warning: request-only has no effect on \
             a passive peer (the responder hands settings out)"
        ]
    );
}
