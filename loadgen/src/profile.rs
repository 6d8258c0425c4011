//! The road-warrior profile every simulated client plays, and the matching server
//! configurations (iked TOML, strongSwan swanctl.conf), so that both daemons are measured with
//! the same proposals: PSK + XAuth, mode-config pull, one tunnel to the LAN, no PFS.
//!
//! Clients are iPhone-like: aggressive mode with a KEY_ID group name (or main mode, like
//! Android), XAuth user `user<N>`, `mode-config = request-only`, a quick mode from the
//! virtual address to the LAN.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipsec_core::config::value::Address;
use ipsec_core::config::{Config, Snapshot};

/// The LAN behind the concentrator that every client's tunnel reaches.
pub const LAN: &str = "203.0.113.0/24";
/// The virtual-address pool (a /12: a million addresses, more than any run needs).
pub const POOL_FIRST: &str = "100.96.0.1";
/// Last address of the pool.
pub const POOL_LAST: &str = "100.111.255.254";
/// The pool as a prefix (the server's template policy covers it).
pub const POOL_PREFIX: &str = "100.96.0.0/12";
/// The group name clients send as their KEY_ID in aggressive mode.
pub const GROUP_ID: &str = "loadgen";

/// Phase 1 exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// Aggressive mode, KEY_ID group name (iOS, macOS).
    Aggressive,
    /// Main mode (Android, Windows).
    Main,
}

impl FromStr for Exchange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "aggressive" => Ok(Exchange::Aggressive),
            "main" => Ok(Exchange::Main),
            _ => Err(format!("exchange {s:?}: expected aggressive or main")),
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exchange::Aggressive => "aggressive",
            Exchange::Main => "main",
        })
    }
}

/// The phase 1 Diffie-Hellman group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dh {
    /// MODP 2048 (group 14).
    Modp2048,
    /// ECP 256 (group 19).
    Ecp256,
}

impl FromStr for Dh {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "modp2048" => Ok(Dh::Modp2048),
            "ecp256" => Ok(Dh::Ecp256),
            _ => Err(format!("dh group {s:?}: expected modp2048 or ecp256")),
        }
    }
}

impl fmt::Display for Dh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dh::Modp2048 => "modp2048",
            Dh::Ecp256 => "ecp256",
        })
    }
}

/// What every client does, and what the server must accept.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The concentrator's address.
    pub server: Ipv4Addr,
    /// Phase 1 exchange.
    pub exchange: Exchange,
    /// Phase 1 DH group.
    pub dh: Dh,
    /// The group pre-shared key.
    pub psk: String,
    /// Every user's XAuth password (user names are `user<N>`).
    pub password: String,
    /// Client DPD interval in seconds (0: none). Needed to notice a restarted server.
    pub client_dpd: u32,
    /// Server DPD interval in seconds (0: none).
    pub server_dpd: u32,
}

impl Profile {
    /// The XAuth user of client `n`.
    pub fn user(n: usize) -> String {
        format!("user{n}")
    }

    /// One client's configuration, parsed once; [`Profile::client`] fills in the address and
    /// user of each client.
    pub fn client_template(&self) -> Result<Config, String> {
        let dpd = if self.client_dpd == 0 {
            "disable-dpd".to_owned()
        } else {
            format!("{}s", self.client_dpd)
        };
        let my_id = match self.exchange {
            Exchange::Aggressive => format!("my-id = \"key-id:{GROUP_ID}\"\n"),
            Exchange::Main => String::new(),
        };
        let text = format!(
            r#"[[peer]]
name = "gw"
address = "{server}/32"
local-address = "{server}"
auth-method = "pre-shared-key-xauth"
exchange-mode = "{exchange}"
{my_id}secret = "{psk}"
xauth-login = "user0"
xauth-password = "{password}"
mode-config = "request-only"
dh-group = ["{dh}"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
dpd-interval = "{dpd}"
dpd-maximum-failures = 3

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-gcm"]
pfs-group = "none"

[[policy]]
src-address = "0.0.0.0/0"
dst-address = "{LAN}"
tunnel = true
sa-dst-address = "{server}"
proposal = "p"
"#,
            server = self.server,
            exchange = self.exchange,
            psk = self.psk,
            password = self.password,
            dh = self.dh,
        );
        Config::parse(&text, "ikeload-client.toml").map_err(|e| format!("{e:?}"))
    }

    /// Client `n`'s validated configuration: the template with its own address and user.
    pub fn client(template: &Config, address: Ipv4Addr, n: usize) -> Result<Snapshot, String> {
        let mut config = template.clone();
        let peer = config
            .peer
            .first_mut()
            .ok_or("the client template has no peer")?;
        peer.local_address = Some(Address(std::net::IpAddr::V4(address)));
        peer.xauth_login = Some(Profile::user(n));
        config
            .validate("ikeload-client.toml")
            .map_err(|e| format!("{e:?}"))
    }

    /// The iked configuration that serves `clients` clients of this profile: a passive
    /// road-warrior peer, a template policy to the pool, one `[[user]]` per client (iked keeps
    /// one session per XAuth user, so each client needs its own).
    pub fn iked_server(&self, clients: usize) -> String {
        let dpd = if self.server_dpd == 0 {
            "disable-dpd".to_owned()
        } else {
            format!("{}s", self.server_dpd)
        };
        let mut out = format!(
            r#"[daemon]
listen = ["{server}"]
dataplane = "userspace"

[[peer]]
name = "rw"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
exchange-mode = "{exchange}"
secret = "{psk}"
passive = true
nat-traversal = true
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"
dh-group = ["{dh}"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
dpd-interval = "{dpd}"
dpd-maximum-failures = 3

[[proposal]]
name = "rw"
enc-algorithms = ["aes-128-gcm"]
pfs-group = "none"

[[policy]]
template = true
group = "rw"
src-address = "{LAN}"
dst-address = "{POOL_PREFIX}"
tunnel = true
proposal = "rw"

[[policy-group]]
name = "rw"

[[mode-config]]
name = "rw-cfg"
address-pool = "pool"
address-prefix-length = 32
split-include = ["{LAN}"]

[[ip-pool]]
name = "pool"
ranges = ["{POOL_FIRST}-{POOL_LAST}"]
"#,
            server = self.server,
            exchange = self.exchange,
            psk = self.psk,
            dh = self.dh,
        );
        out.reserve(clients * 48);
        for n in 0..clients {
            out.push_str(&format!(
                "\n[[user]]\nname = \"{}\"\npassword = \"{}\"\n",
                Profile::user(n),
                self.password
            ));
        }
        out
    }

    /// strongSwan's swanctl.conf for the same service: the same proposals (IKE
    /// aes128-sha256-<group>, ESP aes128gcm16 without PFS), XAuth against one secret that
    /// matches every user, the same pool, no uniqueness checks (each client is a new user).
    pub fn swanctl(&self) -> String {
        let dh = match self.dh {
            Dh::Modp2048 => "modp2048",
            Dh::Ecp256 => "ecp256",
        };
        let dpd = if self.server_dpd == 0 {
            "0s".to_owned()
        } else {
            format!("{}s", self.server_dpd)
        };
        let aggressive = if self.exchange == Exchange::Aggressive {
            "yes"
        } else {
            "no"
        };
        format!(
            r#"connections {{
  rw {{
    version = 1
    aggressive = {aggressive}
    local_addrs = {server}
    pools = pool
    proposals = aes128-sha256-{dh}
    dpd_delay = {dpd}
    unique = never
    send_certreq = no
    local {{
      auth = psk
    }}
    remote-1 {{
      auth = psk
    }}
    remote-2 {{
      auth = xauth
    }}
    children {{
      lan {{
        local_ts = {LAN}
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
pools {{
  pool {{
    addrs = {POOL_FIRST}-{POOL_LAST}
  }}
}}
secrets {{
  ike-group {{
    secret = "{psk}"
  }}
  xauth-users {{
    secret = "{password}"
  }}
}}
"#,
            server = self.server,
            psk = self.psk,
            password = self.password,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(exchange: Exchange, dh: Dh) -> Profile {
        Profile {
            server: Ipv4Addr::new(198, 18, 0, 2),
            exchange,
            dh,
            psk: "group secret".into(),
            password: "user password".into(),
            client_dpd: 10,
            server_dpd: 0,
        }
    }

    #[test]
    fn client_and_server_configurations_validate() {
        for (x, dh) in [
            (Exchange::Aggressive, Dh::Ecp256),
            (Exchange::Main, Dh::Modp2048),
        ] {
            let p = profile(x, dh);
            let t = p.client_template().unwrap();
            let c = Profile::client(&t, Ipv4Addr::new(100, 80, 0, 7), 7).unwrap();
            assert_eq!(
                c.peers()[0].xauth.as_ref().map(|x| x.login.as_str()),
                Some("user7")
            );
            let server = p.iked_server(3);
            ipsec_core::config::Config::from_toml_str(&server, "server.toml").unwrap();
            assert!(p.swanctl().contains(&format!("aes128-sha256-{dh}")));
        }
    }
}
