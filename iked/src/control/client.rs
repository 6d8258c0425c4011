//! The client side of the control socket: send one request, print the answer as a table or
//! as JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{MAX_LINE, PolicyRow, Reply, Request, Response, SaRow, StatsReply, StatusReply};
use crate::table::{Table, duration};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting failed (daemon not running, wrong path, no permission).
    #[error("cannot reach iked at {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The system error.
        source: std::io::Error,
    },
    /// Talking failed (timeout, closed connection).
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The answer was not a reply.
    #[error("control socket: malformed answer: {0}")]
    Malformed(String),
}

/// Sends `request` to the daemon at `path` and waits (at most `timeout`) for its answer.
pub fn request(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(request)
        .map_err(|e| ClientError::Malformed(format!("cannot encode request: {e}")))?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reader = BufReader::new(stream).take(MAX_LINE as u64 + 1);
    let mut buf = Vec::new();
    reader.read_until(b'\n', &mut buf)?;
    if buf.last() != Some(&b'\n') {
        return Err(ClientError::Malformed(if buf.is_empty() {
            "the daemon closed the connection".into()
        } else {
            "reply too long or cut short".into()
        }));
    }
    serde_json::from_slice(&buf).map_err(|e| ClientError::Malformed(e.to_string()))
}

/// Runs one client command: prints the reply (JSON or a table) to stdout, errors to stderr.
/// Exit status 0 on success, 1 when the daemon refused or could not be reached.
pub fn run(path: &Path, req: &Request, json: bool, timeout: Duration) -> ExitCode {
    match request(path, req, timeout) {
        Ok(Response::Ok(reply)) => {
            if json {
                println!("{}", reply_json(&reply));
            } else {
                print!("{}", render(&reply));
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error(e)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&Response::Error(e.clone())).unwrap_or_default()
                );
            }
            eprintln!("iked: {}", e.message);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("iked: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The reply's data as pretty JSON (`sas --json` is an array of SAs, and so on).
pub fn reply_json(reply: &Reply) -> String {
    let v = match reply {
        Reply::Status(s) => serde_json::to_value(s),
        Reply::Sas(s) => serde_json::to_value(s),
        Reply::Policies(p) => serde_json::to_value(p),
        Reply::Stats(s) => serde_json::to_value(s),
        Reply::Done(d) => serde_json::to_value(d),
    };
    v.and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The reply as text for people.
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Status(s) => render_status(s),
        Reply::Sas(s) => render_sas(s),
        Reply::Policies(p) => render_policies(p),
        Reply::Stats(s) => render_stats(s),
        Reply::Done(d) => format!("{}\n", d.message),
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn render_status(s: &StatusReply) -> String {
    let mut out = format!(
        "iked {} (pid {}), up {}, config {}\nengine: {}\nlistening: {}\n\n",
        s.version,
        s.pid,
        duration(s.uptime),
        s.config,
        match s.engine {
            super::EngineState::Running => "running",
            super::EngineState::NotWired => "not wired (no negotiations in this build)",
        },
        if s.listening.is_empty() {
            "-".to_string()
        } else {
            s.listening.join(", ")
        }
    );
    let mut t = Table::new(&[
        "peer",
        "local-address",
        "remote-address",
        "side",
        "state",
        "established",
        "ph2",
        "nat",
        "suite",
    ]);
    for p in &s.peers {
        t.row(vec![
            opt(&p.name),
            p.local_address.clone(),
            p.remote_address.clone(),
            p.side.clone(),
            p.state.clone(),
            duration(p.age),
            p.ph2_total.to_string(),
            opt(&p.nat),
            opt(&p.suite),
        ]);
    }
    if t.is_empty() {
        out.push_str("no remote peers\n");
    } else {
        out.push_str(&t.render());
    }
    if !s.radius.is_empty() {
        let mut r = Table::new(&[
            "radius", "auth", "acct", "incoming", "peers", "state", "sent", "answered", "timeouts",
        ]);
        let port = |p: u16| {
            if p == 0 {
                "-".to_string()
            } else {
                p.to_string()
            }
        };
        for row in &s.radius {
            r.row(vec![
                row.address.clone(),
                port(row.authentication_port),
                port(row.accounting_port),
                if row.incoming { "yes" } else { "no" }.into(),
                row.peers.clone(),
                row.state.clone(),
                row.sent.to_string(),
                row.answered.to_string(),
                row.timeouts.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&r.render());
        if let Some(n) = s.radius_accounting_backlog {
            out.push_str(&format!("accounting records waiting for a server: {n}\n"));
        }
    }
    out
}

fn lifetime(soft: Option<u64>, hard: Option<u64>) -> String {
    let f = |v: Option<u64>| v.map_or_else(|| "-".to_string(), duration);
    format!("{}/{}", f(soft), f(hard))
}

fn render_sas(sas: &[SaRow]) -> String {
    if sas.is_empty() {
        return "no installed SAs\n".into();
    }
    let mut t = Table::new(&[
        "spi",
        "proto",
        "dir",
        "src-address",
        "dst-address",
        "mode",
        "state",
        "enc",
        "auth",
        "bytes",
        "packets",
        "add-lifetime",
        "peer",
    ]);
    for s in sas {
        t.row(vec![
            s.spi.clone(),
            s.protocol.clone(),
            s.direction.clone(),
            s.src_address.clone(),
            s.dst_address.clone(),
            s.mode.clone(),
            s.state.clone(),
            opt(&s.enc_algorithm),
            opt(&s.auth_algorithm),
            s.current_bytes.to_string(),
            s.current_packets.to_string(),
            lifetime(s.soft_lifetime, s.hard_lifetime),
            opt(&s.peer),
        ]);
    }
    t.render()
}

fn render_policies(ps: &[PolicyRow]) -> String {
    if ps.is_empty() {
        return "no installed policies\n".into();
    }
    let mut t = Table::new(&[
        "#",
        "dir",
        "src-address",
        "dst-address",
        "proto",
        "action",
        "level",
        "tunnel",
        "sa-src",
        "sa-dst",
        "ph2-state",
        "packets",
    ]);
    for p in ps {
        let port = |a: &str, port: &str| {
            if port == "any" {
                a.to_string()
            } else {
                format!("{a}:{port}")
            }
        };
        t.row(vec![
            p.policy
                .map_or_else(|| "gen".to_string(), |n| n.to_string()),
            p.direction.clone(),
            port(&p.src_address, &p.src_port),
            port(&p.dst_address, &p.dst_port),
            p.protocol.clone(),
            p.action.clone(),
            p.level.clone(),
            if p.tunnel { "yes" } else { "no" }.into(),
            opt(&p.sa_src_address),
            opt(&p.sa_dst_address),
            p.ph2_state.clone(),
            p.packets.to_string(),
        ]);
    }
    t.render()
}

fn render_stats(s: &StatsReply) -> String {
    let mut t = Table::new(&["counter", "value"]);
    for c in &s.kernel {
        t.row(vec![c.name.clone(), c.value.to_string()]);
    }
    let mut out = t.render();
    match s.engine_state {
        super::EngineState::Running => {
            let mut t = Table::new(&["ike counter", "value"]);
            for c in &s.engine {
                t.row(vec![c.name.clone(), c.value.to_string()]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        super::EngineState::NotWired => out.push_str("\nengine: not wired (no IKE counters)\n"),
    }
    out
}
