//! Plain text: the fields of Android's legacy VPN screen (Settings > Network > VPN > +), in
//! the order the screen shows them, for a person to type in.
//!
//! Android's types: "IPSec Xauth PSK" (group name and key, then the user's login),
//! "IPSec Hybrid RSA" (the server's certificate checked against a CA installed on the
//! phone, then the login) and "L2TP/IPSec PSK" (the key, then the login to PPP).

use super::model::{ExportError, Kind, Setup};

/// Text safe on one line of the sheet.
fn line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The sheet.
pub fn render(s: &Setup) -> Result<String, ExportError> {
    let mut f: Vec<(&str, String)> = vec![("Name", line(&s.name))];
    match s.kind {
        Kind::XauthPsk => {
            f.push(("Type", "IPSec Xauth PSK".to_owned()));
            f.push(("Server address", line(&s.server)));
            f.push(("IPSec identifier", line(s.group.as_deref().unwrap_or(""))));
            f.push((
                "IPSec pre-shared key",
                line(s.psk_text()?.unwrap_or_default()),
            ));
        }
        Kind::XauthHybrid => {
            f.push(("Type", "IPSec Hybrid RSA".to_owned()));
            f.push(("Server address", line(&s.server)));
            let anchor =
                s.ca.iter()
                    .rev()
                    .find(|c| c.self_signed)
                    .or(s.ca.last())
                    .map(|c| line(&c.subject))
                    .unwrap_or_default();
            f.push((
                "IPSec CA certificate",
                format!("{anchor} (install it first, see below)"),
            ));
            f.push((
                "IPSec server certificate",
                "(received from server)".to_owned(),
            ));
        }
        Kind::L2tpPsk => {
            f.push(("Type", "L2TP/IPSec PSK".to_owned()));
            f.push(("Server address", line(&s.server)));
            f.push(("L2TP secret", "(not used)".to_owned()));
            f.push(("IPSec identifier", "(not used)".to_owned()));
            f.push((
                "IPSec pre-shared key",
                line(s.psk_text()?.unwrap_or_default()),
            ));
        }
    }
    if !s.split_include.is_empty() {
        f.push((
            "Forwarding routes",
            format!(
                "{} (advanced options; the server also sends them)",
                s.split_include.join(" ")
            ),
        ));
    }
    f.push(("Username", line(&s.user)));
    f.push((
        "Password",
        match s.password_text() {
            Some(p) => line(p),
            None => "(your password; not included)".to_owned(),
        },
    ));
    let width = f.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut o = format!(
        "Android VPN settings for {} (iked peer {}, {}).\n\
         Settings > Network & internet > VPN > + (Add VPN), then:\n\n",
        line(&s.user),
        line(&s.peer),
        s.kind.describe()
    );
    for (k, v) in &f {
        o.push_str(&format!("{:<width$} {v}\n", format!("{k}:")));
    }
    if !s.ca.is_empty() {
        o.push_str(
            "\nFirst save each certificate below as a .crt file and install it\n\
             (Settings > Security > Encryption & credentials > Install a certificate >\n\
             CA certificate):\n\n",
        );
        for c in &s.ca {
            o.push_str(&format!("# {}\n{}\n", line(&c.subject), c.pem()));
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::super::model::Format;
    use super::super::model::tests::{CONF, req, setup};
    use super::*;

    #[test]
    fn xauth_psk_sheet() {
        let s = setup(CONF, &req(Format::Android)).unwrap();
        let t = render(&s).unwrap();
        for want in [
            "Type:                 IPSec Xauth PSK",
            "Server address:       198.51.100.1",
            "IPSec identifier:     droids",
            "IPSec pre-shared key: android secret",
            "Username:             alice",
            "(your password; not included)",
            "Forwarding routes:",
        ] {
            assert!(t.contains(want), "{want:?} in\n{t}");
        }
    }

    #[test]
    fn l2tp_sheet_with_password() {
        let mut r = req(Format::Android);
        r.peer = Some("laptops");
        r.include_password = true;
        let t = render(&setup(CONF, &r).unwrap()).unwrap();
        assert!(t.contains("L2TP/IPSec PSK"), "{t}");
        assert!(t.contains("IPSec pre-shared key: l2tp secret"), "{t}");
        assert!(t.contains("alice pw"));
    }
}
