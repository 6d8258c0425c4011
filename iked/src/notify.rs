//! systemd readiness notification (`sd_notify`): a datagram to `$NOTIFY_SOCKET`, written out
//! here because it is a dozen lines.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=...`) to the service manager, if there is
/// one. Failures are ignored: notification is advisory.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let Ok(addr) = addr else {
        return;
    };
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to_addr(state.as_bytes(), &addr);
    }
}
