//! Every validation error: its line, object, key and message, as the operator reads it.

use ipsec_core::config::{Config, ConfigError, ErrorKind, ObjectKind};

fn errors(text: &str) -> Vec<ConfigError> {
    match Config::from_toml_str(text, "site.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors,
    }
}

fn messages(text: &str) -> Vec<String> {
    errors(text).iter().map(ToString::to_string).collect()
}

/// The only error of `text`, displayed.
fn one(text: &str) -> String {
    let all = messages(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.into_iter().next().unwrap()
}

/// A valid peer to put policies and references next to.
const PEER: &str = "[[peer]]\nname = \"p\"\naddress = \"203.0.113.0/24\"\nsecret = \"s\"\n";

// Syntax and shape ----------------------------------------------------------------------------

#[test]
fn syntax_error_has_its_line() {
    let e = errors("[daemon]\nport = 500\nlog-level = info\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, ErrorKind::Syntax);
    assert_eq!(e[0].line, Some(3));
    assert!(
        e[0].to_string().starts_with("site.toml:3: invalid TOML: "),
        "{}",
        e[0]
    );
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let e = errors("[[peer]]\nname = \"a\"\nname = \"b\"\n");
    assert_eq!((e[0].kind, e[0].line), (ErrorKind::Syntax, Some(3)));
}

#[test]
fn unknown_tables_are_refused() {
    assert_eq!(
        one("[daemon]\n\n[peers]\nname = \"x\"\n"),
        "site.toml:3: key \"peers\": unknown table; expected one of peer, proposal, policy, \
         policy-group, mode-config, user, ip-pool, daemon"
    );
    assert_eq!(
        one("# comment\nverbose = true\n"),
        "site.toml:2: key \"verbose\": unknown table; expected one of peer, proposal, policy, \
         policy-group, mode-config, user, ip-pool, daemon"
    );
}

#[test]
fn tables_of_the_wrong_shape_are_refused() {
    assert_eq!(
        one("[peer]\nname = \"a\"\n"),
        "site.toml:1: key \"peer\": expected an array of tables [[peer]], got a single table"
    );
    assert_eq!(
        one("\n[[daemon]]\nport = 500\n"),
        "site.toml:2: key \"daemon\": expected one table [daemon], got an array"
    );
    assert_eq!(
        one("user = [1, 2]\n"),
        "site.toml:1: key \"user\": expected an array of tables [[user]], got an array"
    );
}

// Unknown keys --------------------------------------------------------------------------------

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let e = errors("[[peer]]\nname = \"office\"\nsecret = \"s\"\n\n# typo\nnat-travesal = true\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, ErrorKind::UnknownKey);
    assert_eq!(e[0].line, Some(6));
    assert_eq!(e[0].key.as_deref(), Some("nat-travesal"));
    let text = e[0].to_string();
    assert!(
        text.starts_with(
            "site.toml:6: peer \"office\": key \"nat-travesal\": unknown key; expected one of \
             name, comment, disabled, address, port,"
        ),
        "{text}"
    );
    assert!(text.contains("nat-traversal"), "{text}");
}

#[test]
fn unknown_keys_in_every_table() {
    let cases: [(&str, &str); 9] = [
        (
            "[[proposal]]\nname = \"x\"\npfs = \"none\"\n",
            "site.toml:3: proposal \"x\": key \"pfs\": unknown key;",
        ),
        (
            "[[policy]]\nsrc-address = \"10.0.0.1\"\ndst-address = \"10.0.0.2\"\nmanual-sa = \"x\"\n",
            "site.toml:4: policy #1: key \"manual-sa\": unknown key;",
        ),
        (
            "[[policy-group]]\nname = \"g\"\nmembers = []\n",
            "site.toml:3: policy-group \"g\": key \"members\": unknown key; expected name or \
             comment",
        ),
        (
            "[[mode-config]]\nname = \"m\"\nconnection-mark = \"x\"\n",
            "site.toml:3: mode-config \"m\": key \"connection-mark\": unknown key;",
        ),
        (
            "[[user]]\nname = \"u\"\npassword = \"pw\"\nsecret = \"pw\"\n",
            "site.toml:4: user \"u\": key \"secret\": unknown key;",
        ),
        (
            "[[ip-pool]]\nname = \"pool\"\nranges = \"10.0.0.0/24\"\nnext-pool = \"x\"\n",
            "site.toml:4: ip-pool \"pool\": key \"next-pool\": unknown key;",
        ),
        (
            "[daemon]\nlisten = \"::\"\nthreads = 4\n",
            "site.toml:3: daemon: key \"threads\": unknown key;",
        ),
        (
            "[[peer]]\nname = \"a\"\nsecret = \"s\"\nppk-secret = \"x\"\n",
            "site.toml:4: peer \"a\": key \"ppk-secret\": unknown key;",
        ),
        (
            "[[peer]]\nname = \"a\"\nsecret = \"s\"\nprofile = \"x\"\n",
            "site.toml:4: peer \"a\": key \"profile\": expected one of ios, android, windows-l2tp",
        ),
    ];
    for (text, start) in cases {
        let got = one(text);
        assert!(
            got.starts_with(start),
            "{got}\n  should start with\n{start}"
        );
    }
}

#[test]
fn nested_tables_are_unknown_keys() {
    let got = one("[[peer]]\nname = \"a\"\nsecret = \"s\"\n[peer.extra]\nx = 1\n");
    assert!(
        got.starts_with("site.toml:4: peer \"a\": key \"extra\": unknown key;"),
        "{got}"
    );
}

// Values --------------------------------------------------------------------------------------

#[test]
fn the_example_of_the_brief() {
    let text = "[daemon]\n\n[[peer]]\nname = \"office\"\naddress = \"203.0.113.0/24\"\n\
                secret = \"s\"\n\n\n\n\n\ndh-group = [\"modp2048\", \"modp9999\"]\n";
    assert_eq!(
        one(text),
        "site.toml:12: peer \"office\": key \"dh-group\": expected one of modp768, modp1024, \
         modp1536, modp2048, modp3072, modp4096, modp6144, modp8192, ecp256, ecp384, ecp521, \
         curve25519, got \"modp9999\""
    );
}

#[test]
fn wrong_types_and_ranges() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nport = 70000\n"),
        "site.toml:3: peer \"a\": key \"port\": expected an integer 0..65535, got integer 70000"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\npassive = \"yes\"\n"),
        "site.toml:4: peer \"a\": key \"passive\": expected true or false, got \"yes\""
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\ndpd-maximum-failures = -1\n"),
        "site.toml:4: peer \"a\": key \"dpd-maximum-failures\": expected an integer \
         0..4294967295, got integer -1"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = 1234\n"),
        "site.toml:3: peer \"a\": key \"secret\": expected a string (\"0x\" followed by hex \
         digits for raw bytes), got integer 1234"
    );
    assert_eq!(
        one("[[peer]]\nname = 7\nsecret = \"s\"\n"),
        "site.toml:2: peer #1: key \"name\": expected a string, got integer 7"
    );
}

#[test]
fn refused_keywords_say_why() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nexchange-mode = \"base\"\n"),
        "site.toml:4: peer \"a\": key \"exchange-mode\": \"base\" is refused: base mode is \
         obsolete and not implemented; expected one of main, aggressive, main-l2tp"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nauth-method = \"rsa-key\"\n"),
        "site.toml:3: peer \"a\": key \"auth-method\": \"rsa-key\" is refused: raw RSA keys are \
         not supported, use rsa-signature with certificates; expected one of pre-shared-key, \
         rsa-signature, pre-shared-key-xauth, rsa-signature-hybrid"
    );
    assert_eq!(
        one("[[proposal]]\nname = \"x\"\npfs-group = \"ec2n155\"\n"),
        "site.toml:3: proposal \"x\": key \"pfs-group\": \"ec2n155\" is refused: EC2N groups \
         are obsolete and not implemented; expected one of modp768, modp1024, modp1536, \
         modp2048, modp3072, modp4096, modp6144, modp8192, ecp256, ecp384, ecp521, curve25519"
    );
    assert!(
        one("[[proposal]]\nname = \"x\"\nenc-algorithms = \"aes-128-cbc,blowfish\"\n").starts_with(
            "site.toml:3: proposal \"x\": key \"enc-algorithms\": \"blowfish\" is refused: \
                 not implemented; expected one of des, 3des, aes-128-cbc,"
        )
    );
}

#[test]
fn missing_required_keys_point_at_the_table() {
    assert_eq!(
        one("[daemon]\n\n[[peer]]\naddress = \"203.0.113.1\"\nsecret = \"s\"\n"),
        "site.toml:3: peer #1: key \"name\": required key is missing"
    );
    let e = errors("[[policy]]\nsrc-address = \"10.0.0.0/24\"\n");
    assert_eq!(e[0].kind, ErrorKind::MissingKey);
    assert_eq!(
        e[0].to_string(),
        "site.toml:1: policy #1: key \"dst-address\": required key is missing"
    );
}

#[test]
fn alias_and_key_together() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nremote-id = \"auto\"\npeer-id = \"ignore\"\n"),
        "site.toml:5: peer \"a\": key \"peer-id\": \"remote-id\" is given twice; expected \
         remote-id or its alias peer-id, not both"
    );
}

#[test]
fn policy_template_group_is_an_alias_of_policy_group() {
    let text = "[[peer]]\nname = \"a\"\nsecret = \"s\"\npolicy-group = \"default\"\n\
                policy-template-group = \"default\"\n";
    assert_eq!(
        one(text),
        "site.toml:5: peer \"a\": key \"policy-template-group\": \"policy-group\" is given \
         twice; expected policy-group or its alias policy-template-group, not both"
    );
    let snap = Config::from_toml_str(
        "[[peer]]\nname = \"a\"\nsecret = \"s\"\npolicy-template-group = \"none\"\n",
        "site.toml",
    )
    .unwrap();
    assert_eq!(snap.peer("a").unwrap().policy_group, None);
}

#[test]
fn bad_hex_secret() {
    for secret in ["0xabc", "0x", "0xgg00"] {
        let text = format!("[[peer]]\nname = \"a\"\nsecret = \"{secret}\"\n");
        assert_eq!(
            one(&text),
            "site.toml:3: peer \"a\": key \"secret\": expected \"0x\" followed by an even number \
             of hex digits (or a secret that does not start with \"0x\")"
        );
    }
}

// Peers ---------------------------------------------------------------------------------------

#[test]
fn pre_shared_key_needs_a_secret() {
    assert_eq!(
        one("[[peer]]\nname = \"office\"\naddress = \"203.0.113.7\"\n"),
        "site.toml:1: peer \"office\": key \"secret\": auth-method pre-shared-key needs a \
         secret; expected a non-empty secret"
    );
    assert_eq!(
        one("[[peer]]\nname = \"office\"\nsecret = \"\"\n"),
        "site.toml:3: peer \"office\": key \"secret\": auth-method pre-shared-key needs a \
         secret; expected a non-empty secret"
    );
}

#[test]
fn rsa_signature_needs_a_certificate_and_a_trust_anchor() {
    assert_eq!(
        messages("[[peer]]\nname = \"r\"\nauth-method = \"rsa-signature\"\n"),
        vec![
            "site.toml:1: peer \"r\": key \"certificate\": auth-method rsa-signature signs with \
             our certificate; expected certificate = a certificate file with its private key",
            "site.toml:1: peer \"r\": key \"ca\": auth-method rsa-signature verifies the peer's \
             certificate; expected ca (the CA file it must chain to) or remote-certificate",
        ]
    );
    // `none`, as in the manual's example, is the same as absent.
    assert_eq!(
        one(
            "[[peer]]\nname = \"r\"\nauth-method = \"rsa-signature\"\ncertificate = \
             \"me.pem\"\nremote-certificate = \"none\"\n"
        ),
        "site.toml:1: peer \"r\": key \"ca\": auth-method rsa-signature verifies the peer's \
         certificate; expected ca (the CA file it must chain to) or remote-certificate"
    );
    // Either trust anchor will do.
    assert!(
        Config::from_toml_str(
            "[[peer]]\nname = \"r\"\nauth-method = \"rsa-signature\"\ncertificate = \
             \"me.pem\"\nremote-certificate = \"them.pem\"\n",
            "site.toml"
        )
        .is_ok()
    );
}

#[test]
fn hybrid_needs_a_certificate_on_the_server_and_a_ca_on_the_client() {
    assert_eq!(
        one(
            "[[peer]]\nname = \"srv\"\nauth-method = \"rsa-signature-hybrid\"\npassive = true\n\
             [[user]]\nname = \"u\"\npassword = \"pw\"\n"
        ),
        "site.toml:1: peer \"srv\": key \"certificate\": auth-method rsa-signature-hybrid as \
         responder (passive = true) signs with our certificate; expected certificate = a \
         certificate file with its private key"
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"cli\"\nauth-method = \"rsa-signature-hybrid\"\n\
             xauth-login = \"u\"\nxauth-password = \"pw\"\n"
        ),
        "site.toml:1: peer \"cli\": key \"ca\": auth-method rsa-signature-hybrid verifies the \
         peer's certificate; expected ca (the CA file it must chain to) or remote-certificate"
    );
}

#[test]
fn xauth_client_needs_credentials() {
    assert_eq!(
        messages(
            "[[peer]]\nname = \"c\"\nauth-method = \"pre-shared-key-xauth\"\nsecret = \"s\"\n"
        ),
        vec![
            "site.toml:1: peer \"c\": key \"xauth-login\": auth-method pre-shared-key-xauth as \
             XAuth client (passive = false) needs a user name; expected xauth-login",
            "site.toml:1: peer \"c\": key \"xauth-password\": auth-method pre-shared-key-xauth \
             as XAuth client (passive = false) needs a password; expected a non-empty \
             xauth-password",
        ]
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"c\"\nauth-method = \"pre-shared-key-xauth\"\nsecret = \"s\"\n\
             xauth-login = \"u\"\nxauth-password = \"\"\n"
        ),
        "site.toml:6: peer \"c\": key \"xauth-password\": auth-method pre-shared-key-xauth as \
         XAuth client (passive = false) needs a password; expected a non-empty xauth-password"
    );
}

#[test]
fn lifetimes_and_dpd_ranges() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nlifetime = \"0s\"\n"),
        "site.toml:4: peer \"a\": key \"lifetime\": expected a time above 0s, got 0s"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nlifetime = 4294967296\n"),
        "site.toml:4: peer \"a\": key \"lifetime\": expected at most 4294967295s, got \
         7101w3d6h28m16s"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nlifebytes = 4294967296\n"),
        "site.toml:4: peer \"a\": key \"lifebytes\": expected 0..4294967295, got 4294967296"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\ndpd-interval = 0\n"),
        "site.toml:4: peer \"a\": key \"dpd-interval\": expected a time above 0s or \
         disable-dpd, got 0s"
    );
    for n in [0, 101] {
        assert_eq!(
            one(&format!(
                "[[peer]]\nname = \"a\"\nsecret = \"s\"\ndpd-maximum-failures = {n}\n"
            )),
            format!(
                "site.toml:4: peer \"a\": key \"dpd-maximum-failures\": expected 1..100, got {n}"
            )
        );
    }
    assert_eq!(
        one("[[proposal]]\nname = \"x\"\nlifetime = \"0m\"\n"),
        "site.toml:3: proposal \"x\": key \"lifetime\": expected a time above 0s, got 0s"
    );
}

#[test]
fn empty_and_repeated_algorithm_lists() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\ndh-group = []\n"),
        "site.toml:4: peer \"a\": key \"dh-group\": expected at least one value"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nenc-algorithm = \"aes-128, aes-128\"\n"),
        "site.toml:4: peer \"a\": key \"enc-algorithm\": aes-128 is listed twice; expected each \
         value once"
    );
    assert_eq!(
        one("[[proposal]]\nname = \"x\"\nauth-algorithms = \"\"\n"),
        "site.toml:3: proposal \"x\": key \"auth-algorithms\": expected at least one value"
    );
}

#[test]
fn peer_port_and_local_address() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nport = 0\n"),
        "site.toml:4: peer \"a\": key \"port\": expected 1..65535, got 0"
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"a\"\nsecret = \"s\"\naddress = \"203.0.113.0/24\"\n\
             local-address = \"2001:db8::1\"\n"
        ),
        "site.toml:5: peer \"a\": key \"local-address\": expected an address of the family of \
         address 203.0.113.0/24, got 2001:db8::1"
    );
}

#[test]
fn peer_references() {
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\npolicy-group = \"nope\"\n"),
        "site.toml:4: peer \"a\": key \"policy-group\": no [[policy-group]] is named \"nope\"; \
         expected the name of one, or none"
    );
    assert_eq!(
        one("[[peer]]\nname = \"a\"\nsecret = \"s\"\nmode-config = \"nope\"\n"),
        "site.toml:4: peer \"a\": key \"mode-config\": no [[mode-config]] is named \"nope\"; \
         expected the name of one, none or request-only"
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"a\"\nsecret = \"s\"\npassive = true\nmode-config = \"m\"\n\
             [[mode-config]]\nname = \"m\"\nresponder = false\n"
        ),
        "site.toml:5: peer \"a\": key \"mode-config\": a passive peer hands out settings; \
         expected a mode-config with responder = true, but \"m\" has responder = false"
    );
}

#[test]
fn generate_policy_needs_templates() {
    assert_eq!(
        one("[[peer]]\nname = \"rw\"\nsecret = \"s\"\npassive = true\n\
             generate-policy = \"port-strict\"\n"),
        "site.toml:1: peer \"rw\": key \"policy-group\": generate-policy = port-strict needs a \
         template that bounds what the peer may ask for; expected an enabled [[policy]] with \
         template = true and group = \"default\""
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"rw\"\nsecret = \"s\"\ngenerate-policy = \"port-override\"\n\
             policy-group = \"none\"\n"
        ),
        "site.toml:5: peer \"rw\": key \"policy-group\": generate-policy = port-override needs \
         a policy group with templates; expected a group name, got none"
    );
    // A disabled template does not count.
    assert_eq!(
        one(
            "[[peer]]\nname = \"rw\"\nsecret = \"s\"\ngenerate-policy = \"port-strict\"\n\
             policy-group = \"g\"\n[[policy-group]]\nname = \"g\"\n[[policy]]\ntemplate = true\n\
             group = \"g\"\ndisabled = true\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\n"
        ),
        "site.toml:5: peer \"rw\": key \"policy-group\": generate-policy = port-strict needs a \
         template that bounds what the peer may ask for; expected an enabled [[policy]] with \
         template = true and group = \"g\""
    );
}

#[test]
fn indistinguishable_peers() {
    let text = "[[peer]]\nname = \"a\"\naddress = \"203.0.113.0/24\"\nsecret = \"s\"\n\
                [[peer]]\nname = \"b\"\naddress = \"203.0.113.0/24\"\nsecret = \"t\"\n\
                exchange-mode = \"main-l2tp\"\n";
    assert_eq!(
        one(text),
        "site.toml:7: peer \"b\": key \"address\": the same address, local-address, exchange \
         mode and remote-id as peer \"a\" (line 3), so one of them could never be selected; \
         expected a different remote-id"
    );
    // A different exchange mode, remote-id or local address tells them apart, and a disabled
    // peer is never selected.
    for extra in [
        "exchange-mode = \"aggressive\"\n",
        "remote-id = \"fqdn:b.example\"\n",
        "local-address = \"192.0.2.1\"\n",
        "disabled = true\n",
    ] {
        let text = format!(
            "[[peer]]\nname = \"a\"\naddress = \"203.0.113.0/24\"\nsecret = \"s\"\n\
             [[peer]]\nname = \"b\"\naddress = \"203.0.113.0/24\"\nsecret = \"t\"\n{extra}"
        );
        assert!(Config::from_toml_str(&text, "site.toml").is_ok(), "{extra}");
    }
}

#[test]
fn duplicate_names() {
    assert_eq!(
        one(
            "[[peer]]\nname = \"a\"\nsecret = \"s\"\naddress = \"203.0.113.1\"\n\n\
             [[peer]]\nname = \"a\"\nsecret = \"s\"\naddress = \"203.0.113.2\"\n"
        ),
        "site.toml:7: peer \"a\": key \"name\": duplicate name; peer \"a\" (line 2) has it \
         already"
    );
    assert_eq!(
        one("[[proposal]]\nname = \"x\"\n[[proposal]]\nname = \"x\"\n"),
        "site.toml:4: proposal \"x\": key \"name\": duplicate name; proposal \"x\" (line 2) has \
         it already"
    );
    assert_eq!(
        one("[[user]]\nname = \"u\"\npassword = \"a\"\n[[user]]\nname = \"u\"\npassword = \"b\"\n"),
        "site.toml:5: user \"u\": key \"name\": duplicate name; user \"u\" (line 2) has it \
         already"
    );
}

#[test]
fn empty_and_reserved_names() {
    assert_eq!(
        one("[[policy-group]]\nname = \"\"\n"),
        "site.toml:2: policy-group \"\": key \"name\": expected a non-empty name"
    );
    assert_eq!(
        one("[[mode-config]]\nname = \"request-only\"\n"),
        "site.toml:2: mode-config \"request-only\": key \"name\": \"request-only\" is reserved; \
         expected another name"
    );
}

// Proposals -----------------------------------------------------------------------------------

#[test]
fn null_with_null_protects_nothing() {
    assert_eq!(
        one("[[proposal]]\nname = \"x\"\nenc-algorithms = \"null\"\nauth-algorithms = \"null\"\n"),
        "site.toml:4: proposal \"x\": key \"auth-algorithms\": null with enc-algorithms null \
         would protect nothing; expected an integrity algorithm"
    );
}

// Policies ------------------------------------------------------------------------------------

#[test]
fn policy_references() {
    let text = format!(
        "{PEER}[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
         tunnel = true\nsa-dst-address = \"203.0.113.1\"\nproposal = \"fast\"\n"
    );
    assert_eq!(
        one(&text),
        "site.toml:10: policy #1: key \"proposal\": no [[proposal]] is named \"fast\"; expected \
         the name of one (or default)"
    );
    let text = format!(
        "{PEER}[[proposal]]\nname = \"off\"\ndisabled = true\n\
         [[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
         tunnel = true\nsa-dst-address = \"203.0.113.1\"\nproposal = \"off\"\n"
    );
    assert_eq!(
        one(&text),
        "site.toml:13: policy #1: key \"proposal\": proposal \"off\" is disabled; expected an \
         enabled proposal"
    );
}

#[test]
fn template_group_and_action() {
    assert_eq!(
        one(
            "[[policy]]\ntemplate = true\ngroup = \"rw\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\n"
        ),
        "site.toml:3: policy #1: key \"group\": no [[policy-group]] is named \"rw\"; expected \
         the name of one (or default)"
    );
    assert_eq!(
        one(
            "[[policy]]\ntemplate = true\naction = \"none\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\n"
        ),
        "site.toml:3: policy #1: key \"action\": a template admits policies to encrypt; \
         expected encrypt, got none"
    );
}

#[test]
fn policy_selectors() {
    assert_eq!(
        one(
            "[[policy]]\naction = \"discard\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"2001:db8::/32\"\n"
        ),
        "site.toml:4: policy #1: key \"dst-address\": expected the family of src-address \
         10.0.0.0/8, got 2001:db8::/32"
    );
    assert_eq!(
        one(
            "[[policy]]\naction = \"discard\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\ndst-port = 53\n"
        ),
        "site.toml:5: policy #1: key \"dst-port\": a port needs a protocol with ports; expected \
         protocol tcp, udp, sctp, dccp or udp-lite, got all"
    );
    assert_eq!(
        one(
            "[[policy]]\naction = \"discard\"\nsrc-address = \"10.0.0.0/8\"\n\
             dst-address = \"10.0.0.0/8\"\npriority = -2147483648\n"
        ),
        "site.toml:5: policy #1: key \"priority\": expected -2147483646..2147483647, got \
         -2147483648"
    );
}

#[test]
fn tunnel_mode_needs_the_peer_address() {
    assert_eq!(
        one(
            "[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
             tunnel = true\n"
        ),
        "site.toml:1: policy #1: key \"sa-dst-address\": tunnel mode needs the peer's address; \
         expected sa-dst-address"
    );
    // `::` is the manual's "unset".
    assert_eq!(
        one(
            "[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
             tunnel = true\nsa-dst-address = \"::\"\n"
        ),
        "site.toml:5: policy #1: key \"sa-dst-address\": tunnel mode needs the peer's address; \
         expected sa-dst-address"
    );
    assert_eq!(
        one(&format!(
            "{PEER}[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
             tunnel = true\nsa-src-address = \"2001:db8::1\"\nsa-dst-address = \"203.0.113.9\"\n"
        )),
        "site.toml:10: policy #1: key \"sa-dst-address\": expected the family of \
         sa-src-address 2001:db8::1, got 203.0.113.9"
    );
}

#[test]
fn encrypt_policies_need_a_peer() {
    assert_eq!(
        one(&format!(
            "{PEER}[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"10.1.0.0/24\"\n\
             tunnel = true\nsa-dst-address = \"198.51.100.1\"\n"
        )),
        "site.toml:9: policy #1: key \"sa-dst-address\": no enabled [[peer]] has an address \
         containing 198.51.100.1; expected a peer to negotiate this policy's SAs with"
    );
}

#[test]
fn transport_mode_is_between_hosts() {
    assert_eq!(
        messages(&format!(
            "{PEER}[[policy]]\nsrc-address = \"10.0.0.0/24\"\ndst-address = \"203.0.113.9\"\n"
        )),
        vec![
            "site.toml:6: policy #1: key \"src-address\": transport mode protects traffic \
             between the two hosts only; expected a single address, got 10.0.0.0/24 (or use \
             tunnel = true)"
        ]
    );
    assert_eq!(
        one(&format!(
            "{PEER}[[policy]]\nsrc-address = \"192.0.2.1\"\ndst-address = \"203.0.113.9\"\n\
             sa-dst-address = \"203.0.113.10\"\n"
        )),
        "site.toml:8: policy #1: key \"sa-dst-address\": in transport mode expected \
         203.0.113.9, the dst-address host, got 203.0.113.10"
    );
}

#[test]
fn duplicate_policies() {
    let text = format!(
        "{PEER}[[policy]]\naction = \"discard\"\nsrc-address = \"10.0.0.0/8\"\n\
         dst-address = \"10.0.0.0/8\"\n[[policy]]\naction = \"none\"\n\
         src-address = \"10.0.0.0/8\"\ndst-address = \"10.0.0.0/8\"\n"
    );
    assert_eq!(
        one(&text),
        "site.toml:11: policy #2: key \"src-address\": the same selectors and priority as \
         policy #1 (line 7); expected distinct policies"
    );
}

// Mode-config, users, pools ------------------------------------------------------------------

#[test]
fn mode_config_checks() {
    assert_eq!(
        one("[[mode-config]]\nname = \"m\"\naddress-pool = \"nope\"\n"),
        "site.toml:3: mode-config \"m\": key \"address-pool\": no [[ip-pool]] is named \
         \"nope\"; expected the name of one, or none"
    );
    assert_eq!(
        one("[[mode-config]]\nname = \"m\"\naddress-prefix-length = 33\n"),
        "site.toml:3: mode-config \"m\": key \"address-prefix-length\": expected 1..32, got 33"
    );
    assert_eq!(
        one("[[mode-config]]\nname = \"m\"\nsplit-include = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"),
        "site.toml:3: mode-config \"m\": key \"split-include\": expected IPv4 prefixes (the \
         Cisco Unity split list is IPv4 only), got 2001:db8::/32"
    );
    assert_eq!(
        one("[[mode-config]]\nname = \"m\"\nstatic-dns = \"10.0.0.53\"\nsystem-dns = true\n"),
        "site.toml:4: mode-config \"m\": key \"system-dns\": true conflicts with static-dns; \
         expected one source of DNS servers"
    );
}

#[test]
fn user_checks() {
    assert_eq!(
        one("[[user]]\nname = \"u\"\n"),
        "site.toml:1: user \"u\": key \"password\": expected a non-empty password"
    );
    assert_eq!(
        one(
            "[[user]]\nname = \"u\"\npassword = \"a\"\naddress = \"10.0.0.5\"\n\
             [[user]]\nname = \"v\"\npassword = \"b\"\naddress = \"10.0.0.5\"\n"
        ),
        "site.toml:8: user \"v\": key \"address\": 10.0.0.5 is already the address of user \
         \"u\"; expected one user per address"
    );
}

#[test]
fn pool_checks() {
    assert_eq!(
        one("[[ip-pool]]\nname = \"p\"\n"),
        "site.toml:1: ip-pool \"p\": key \"ranges\": expected at least one range such as \
         \"10.0.0.2-10.0.0.254\""
    );
    assert_eq!(
        one("[[ip-pool]]\nname = \"p\"\nranges = \"10.0.0.9-10.0.0.1\"\n"),
        "site.toml:3: ip-pool \"p\": key \"ranges\": expected a range whose first address is \
         not after its last, both of one family, got \"10.0.0.9-10.0.0.1\""
    );
    assert_eq!(
        one("[[ip-pool]]\nname = \"p\"\nranges = \"10.0.0.0/24\"\n\
             [[ip-pool]]\nname = \"q\"\nranges = [\"10.0.2.0/24\", \"10.0.0.200-10.0.0.210\"]\n"),
        "site.toml:6: ip-pool \"q\": key \"ranges\": 10.0.0.200-10.0.0.210 overlaps \
         10.0.0.0-10.0.0.255 of ip-pool \"p\"; expected each address in one range only"
    );
}

// Daemon --------------------------------------------------------------------------------------

#[test]
fn daemon_checks() {
    assert_eq!(
        one("[daemon]\nport = 4500\n"),
        "site.toml:1: daemon: key \"nat-t-port\": expected a port other than port (4500)"
    );
    assert_eq!(
        one("[daemon]\nlisten = []\n"),
        "site.toml:2: daemon: key \"listen\": expected at least one address"
    );
    assert_eq!(
        one("[daemon]\nlisten = [\"0.0.0.0\", \"localhost\"]\n"),
        "site.toml:2: daemon: key \"listen\": expected an IPv4 or IPv6 address, got \
         \"localhost\""
    );
    assert_eq!(
        one("[daemon]\ndataplane = \"xdp\"\n"),
        "site.toml:2: daemon: key \"dataplane\": expected one of auto, kernel, userspace, got \
         \"xdp\""
    );
}

// Many errors at once -------------------------------------------------------------------------

#[test]
fn every_error_is_reported_in_line_order() {
    let text = "\
[[proposal]]
name = \"fast\"
enc-algorithms = \"aes-128-cbc,rot13\"

[[peer]]
name = \"a\"
address = \"203.0.113.0/24\"

[[policy]]
src-address = \"10.0.0.0/24\"
dst-address = \"10.1.0.0/24\"
tunnel = true
sa-dst-address = \"203.0.113.1\"
proposal = \"fast\"

[daemon]
log-level = \"loud\"
";
    let e = errors(text);
    let summary: Vec<_> = e
        .iter()
        .map(|e| (e.line, e.key.as_deref(), e.kind))
        .collect();
    // The broken proposal is reported once: the policy naming it is not told that it does not
    // exist.
    assert_eq!(
        summary,
        vec![
            (Some(3), Some("enc-algorithms"), ErrorKind::InvalidValue),
            (Some(5), Some("secret"), ErrorKind::MissingKey),
            (Some(17), Some("log-level"), ErrorKind::InvalidValue),
        ]
    );
    assert_eq!(e[0].object.as_ref().unwrap().kind, ObjectKind::Proposal);
    assert_eq!(e[0].object.as_ref().unwrap().name.as_deref(), Some("fast"));
    assert_eq!(e[0].file, "site.toml");
}

#[test]
fn objects_without_names_are_numbered_in_file_order() {
    // The first policy is broken; the second still counts as #2 in messages.
    let text = format!(
        "{PEER}[[policy]]\nsrc-address = \"nonsense\"\ndst-address = \"10.0.0.0/8\"\n\
         [[policy]]\nsrc-address = \"10.0.0.0/8\"\ndst-address = \"10.0.0.0/8\"\n\
         tunnel = true\n"
    );
    assert_eq!(
        messages(&text),
        vec![
            "site.toml:6: policy #1: key \"src-address\": expected an IP prefix such as \
             203.0.113.0/24, 2001:db8::/32 or an address, got \"nonsense\"",
            "site.toml:8: policy #2: key \"sa-dst-address\": tunnel mode needs the peer's \
             address; expected sa-dst-address",
        ]
    );
}

#[test]
fn auto_start_needs_an_active_peer_with_one_address() {
    assert_eq!(
        one(
            "[[peer]]\nname = \"p\"\naddress = \"203.0.113.0/24\"\nsecret = \"s\"\nauto-start = true\n"
        ),
        "site.toml:5: peer \"p\": key \"auto-start\": cannot initiate to a range of addresses \
         (203.0.113.0/24); expected a single-host address"
    );
    assert_eq!(
        one(
            "[[peer]]\nname = \"p\"\naddress = \"203.0.113.7\"\nsecret = \"s\"\npassive = true\nauto-start = true\n"
        ),
        "site.toml:6: peer \"p\": key \"auto-start\": a passive peer never initiates; expected \
         auto-start = false or passive = false"
    );
    let fine =
        "[[peer]]\nname = \"p\"\naddress = \"203.0.113.7\"\nsecret = \"s\"\nauto-start = true\n";
    assert!(Config::from_toml_str(fine, "site.toml").unwrap().peers()[0].auto_start);
}

#[test]
fn replay_window_is_bounded() {
    assert_eq!(
        one("[daemon]\nreplay-window = 5000\n"),
        "site.toml:2: daemon: key \"replay-window\": expected 0..4096 packets, got 5000"
    );
    let ok = Config::from_toml_str("[daemon]\nreplay-window = 4096\n", "site.toml").unwrap();
    assert_eq!(ok.daemon().replay_window, 4096);
    let default = Config::from_toml_str("", "site.toml").unwrap();
    assert_eq!(default.daemon().replay_window, 64);
}

#[test]
fn radius_servers_are_checked() {
    let e = messages(
        r#"
[[radius]]
address = "198.19.250.2"
peers = ["nobody"]
timeout = "0s"
retries = 11
"#,
    );
    let all = e.join("\n");
    assert!(all.contains("secret"), "{all}");
    assert!(all.contains("no [[peer]] named \"nobody\""), "{all}");
    assert!(all.contains("timeout"), "{all}");
    assert!(all.contains("expected 0..10, got 11"), "{all}");
    assert!(all.contains("radius #1"), "{all}");
    let ok = Config::from_toml_str(
        "[[radius]]\naddress = \"198.19.250.2\"\nsecret = \"s\"\n[daemon]\nnas-identifier = \"hq\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(ok.radius()[0].authentication_port, 1812);
    assert_eq!(ok.radius()[0].accounting_port, 1813);
    assert!(ok.radius_for("any-peer"));
    assert_eq!(ok.daemon().nas_identifier, "hq");
}
