//! A PowerShell script for Windows' built-in L2TP/IPsec client (`Add-VpnConnection` of the
//! VpnClient module).
//!
//! Windows has no Cisco IPsec/XAuth client, so only L2TP/IPsec peers get a script (the model
//! refuses the others). The user name and password belong to PPP (MS-CHAPv2 to the L2TP
//! server); Windows asks for them at the first connection and keeps them with
//! `-RememberCredential`.

use super::model::{ExportError, Kind, Setup};

/// A PowerShell string literal: single quotes, in which only `'` needs doubling. PowerShell
/// also takes the typographic single quotes as quotes, so they are doubled too.
fn ps(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Text safe in a `#` comment line.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The script.
pub fn render(s: &Setup) -> Result<String, ExportError> {
    if s.kind != Kind::L2tpPsk {
        return Err(ExportError::WindowsNeedsL2tp {
            peer: s.peer.clone(),
            kind: s.kind.describe(),
        });
    }
    let psk = s.psk_text()?.unwrap_or_default();
    let name = ps(&s.name);
    let mut o = String::new();
    o.push_str(&format!(
        "# L2TP/IPsec VPN to {server} for {user} (iked peer {peer}).\n\
         # Written by `iked profile`; it holds the pre-shared key{pw}: keep it private and\n\
         # delete it once run. Run it in PowerShell as the user who connects:\n\
         #   powershell -ExecutionPolicy Bypass -File .\\this-script.ps1\n\n\
         $ErrorActionPreference = 'Stop'\n\n",
        server = comment(&s.server),
        user = comment(&s.user),
        peer = comment(&s.peer),
        pw = if s.password.is_some() {
            " and the password"
        } else {
            ""
        },
    ));
    o.push_str(
        "# -TunnelType L2tp: L2TP over IPsec in transport mode, phase 1 by pre-shared key.\n\
         # -AuthenticationMethod MSChapv2: how PPP logs the user in to the L2TP server (its\n\
         #   pppd checks the user name and password, not iked).\n\
         # -EncryptionLevel Required: no connection without IPsec.\n\
         # -RememberCredential: keep the user name and password after the first connection.\n\
         # -Force: no questions (the key is given in clear on purpose).\n",
    );
    o.push_str(&format!(
        "Add-VpnConnection -Name {name} -ServerAddress {server} -TunnelType L2tp `\n    \
         -L2tpPsk {psk} -AuthenticationMethod MSChapv2 -EncryptionLevel Required `\n    \
         -RememberCredential -Force\n\n",
        server = ps(&s.server),
        psk = ps(psk),
    ));
    o.push_str(
        "# Only when this server sits behind a NAT itself (its public address forwarded by a\n\
         # router to a private one): Windows refuses NAT-T towards servers behind a NAT unless\n\
         # told otherwise (2: server and client may both be behind NAT). Run as administrator,\n\
         # then restart Windows.\n\
         # Set-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent' `\n\
         #     -Name 'AssumeUDPEncapsulationContextOnSendRule' -Type DWord -Value 2\n\n",
    );
    match s.password_text() {
        Some(pw) => o.push_str(&format!(
            "# Connect once now with the stored credentials:\n\
             rasdial {name} {user} {pw}\n",
            user = ps(&s.user),
            pw = ps(pw),
        )),
        None => o.push_str(&format!(
            "# Connect from the network menu, or here (asks for the password):\n\
             # rasdial {name} {user} *\n",
            name = comment(&name),
            user = comment(&ps(&s.user)),
        )),
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::super::model::Format;
    use super::super::model::tests::{CONF, req, setup};
    use super::*;

    #[test]
    fn script_names_the_parameters() {
        let s = setup(CONF, &req(Format::Windows)).unwrap();
        let t = render(&s).unwrap();
        assert!(t.contains("-ServerAddress '198.51.100.1'"), "{t}");
        assert!(t.contains("-TunnelType L2tp"));
        assert!(t.contains("-L2tpPsk 'l2tp secret'"));
        assert!(t.contains("-AuthenticationMethod MSChapv2"));
        assert!(t.contains("-EncryptionLevel Required"));
        assert!(t.contains("-RememberCredential -Force"));
        assert!(t.contains("# Set-ItemProperty"));
        assert!(t.contains("AssumeUDPEncapsulationContextOnSendRule"));
        assert!(!t.contains("alice pw"));
    }

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(ps("it's"), "'it''s'");
        assert_eq!(ps("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        let conf = CONF.replace("\"l2tp secret\"", "\"o'brien $x\"");
        let t = render(&setup(&conf, &req(Format::Windows)).unwrap()).unwrap();
        assert!(t.contains("-L2tpPsk 'o''brien $x'"), "{t}");
    }

    #[test]
    fn binary_secret_is_refused() {
        let conf = CONF.replace("\"l2tp secret\"", "\"0xff00\"");
        let s = setup(&conf, &req(Format::Windows)).unwrap();
        assert!(matches!(render(&s), Err(ExportError::BinaryPsk { .. })));
    }
}
