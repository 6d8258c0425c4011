//! The CA certificates a device must trust to accept the server's certificate (hybrid RSA),
//! and PEM text for the formats that show them.
//!
//! Where they come from, first found: `--ca FILE`; the chain in the peer's `certificate`
//! bundle above the server's own certificate (the bundle's first), or that certificate
//! itself when it is self-signed; the peer's `ca` file (what it trusts, usually the same CA).
//! The device gets intermediates as well as the root: Apple's deployment guide for its Cisco
//! IPsec client says that certificate chains sent by the server are not supported.

use std::path::Path;

use ipsec_core::config::Peer;
use ipsec_core::pki::{Certificate, Limits};

/// One CA certificate for the device.
#[derive(Debug, Clone)]
pub struct CaCertificate {
    /// DER.
    pub der: Vec<u8>,
    /// The subject, for display.
    pub subject: String,
    /// Subject and issuer are the same: a trust anchor (an Apple "root" payload);
    /// otherwise an intermediate.
    pub self_signed: bool,
}

impl CaCertificate {
    fn from(cert: &Certificate) -> Self {
        CaCertificate {
            der: cert.der().to_vec(),
            subject: cert.subject().to_string(),
            self_signed: cert.subject() == cert.issuer(),
        }
    }

    /// The certificate as a PEM block.
    pub fn pem(&self) -> String {
        let b64 = base64(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

/// The CA certificates for `peer`, intermediates first and the trust anchor last; the error
/// says what to do.
///
/// `ca` is the peer's `ca` as written: a hybrid responder does not verify certificates, so
/// validation leaves it out of the snapshot, but where the operator wrote it, it names the
/// CA of the server's certificate.
pub fn ca_for(
    peer: &Peer,
    ca: Option<&Path>,
    dir: &Path,
    flag: Option<&Path>,
) -> Result<Vec<CaCertificate>, String> {
    let read = |path: &Path, what: &str| -> Result<Vec<Certificate>, String> {
        let full = dir.join(path);
        let bytes = std::fs::read(&full).map_err(|e| format!("{what} {}: {e}", full.display()))?;
        Certificate::all_from_pem_or_der(&bytes, &Limits::default())
            .map_err(|e| format!("{what} {}: {e}", full.display()))
    };
    let certs: Vec<Certificate> = if let Some(path) = flag {
        // `--ca` is relative to the working directory, like any command-line path.
        read_cwd(path)?
    } else {
        let chain = match &peer.certificate {
            Some(path) => read(path, "certificate")?,
            None => Vec::new(),
        };
        match (&chain[..], ca) {
            ([only], _) if only.subject() == only.issuer() => chain,
            ([_, rest @ ..], ca) if !rest.is_empty() => {
                let mut v = rest.to_vec();
                // A chain without its root: the trust anchor may be in `ca`.
                if let Some(ca) = ca
                    && !v.iter().any(|c| c.subject() == c.issuer())
                {
                    v.extend(
                        read(ca, "ca")?
                            .into_iter()
                            .filter(|c| c.subject() == c.issuer()),
                    );
                }
                v
            }
            (_, Some(ca)) => read(ca, "ca")?,
            ([leaf], None) => {
                return Err(format!(
                    "the certificate file holds only the server's certificate (issued by {}); \
                     give the CA certificate the device must trust with --ca FILE",
                    leaf.issuer()
                ));
            }
            _ => {
                return Err(
                    "no certificate, ca or --ca FILE to take the CA certificate from".to_owned(),
                );
            }
        }
    };
    if certs.is_empty() {
        return Err("no certificate in the CA file".to_owned());
    }
    // Trust anchors last, so that renderers can name "the" CA as the last one.
    let mut out: Vec<CaCertificate> = certs.iter().map(CaCertificate::from).collect();
    out.sort_by_key(|c| c.self_signed);
    Ok(out)
}

fn read_cwd(path: &Path) -> Result<Vec<Certificate>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--ca {}: {e}", path.display()))?;
    Certificate::all_from_pem_or_der(&bytes, &Limits::default())
        .map_err(|e| format!("--ca {}: {e}", path.display()))
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    fn vector(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../vectors/pki")
            .join(name)
    }

    #[test]
    fn pem_round_trips_through_the_parser() {
        let der = Certificate::from_pem_or_der(&std::fs::read(vector("ca.pem")).unwrap())
            .unwrap()
            .der()
            .to_vec();
        let c = CaCertificate {
            der: der.clone(),
            subject: "CN=x".to_owned(),
            self_signed: true,
        };
        let pem = c.pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = Certificate::from_pem_or_der(pem.as_bytes()).unwrap();
        assert_eq!(back.der(), &der[..]);
    }
}
