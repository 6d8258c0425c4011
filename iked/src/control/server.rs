//! The daemon side of the control socket: accepts connections, reads one request per line,
//! hands it to the main loop and writes the answer back.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{ErrorKind, MAX_REQUEST, Request, Response};

/// Most client connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;
/// How long a connection may stay idle between requests.
const IDLE: Duration = Duration::from_secs(60);
/// How long the main loop may take to answer.
const ANSWER: Duration = Duration::from_secs(120);

/// A request on its way to the main loop, with where to send the answer.
#[derive(Debug)]
pub struct Command {
    /// The request.
    pub request: Request,
    /// The answer goes here.
    pub reply: oneshot::Sender<Response>,
}

/// The listening control socket; the socket file is removed on drop.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlSocket {
    /// Binds `path` (mode 0600; its directory is created, mode 0750, if missing) and serves
    /// it, sending each request to `commands`. A stale socket file from a crashed run is
    /// replaced; one that a live daemon answers on is an error.
    pub fn bind(path: &Path, commands: mpsc::Sender<Command>) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{}: another iked is listening there", path.display()),
                    ));
                }
                std::fs::remove_file(path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists and is not a socket", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let task = tokio::spawn(accept_loop(listener, commands));
        Ok(ControlSocket {
            path: path.to_owned(),
            task,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

async fn accept_loop(listener: UnixListener, commands: mpsc::Sender<Command>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let commands = commands.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, commands).await {
                        tracing::debug!("control connection: {e}");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("control socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, commands: mpsc::Sender<Command>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let n = match tokio::time::timeout(
            IDLE,
            (&mut reader)
                .take(MAX_REQUEST as u64 + 1)
                .read_until(b'\n', &mut line),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let too_long = line.last() != Some(&b'\n');
        let response = if too_long {
            Response::error(
                ErrorKind::BadRequest,
                format!("request longer than {MAX_REQUEST} bytes or not newline-terminated"),
            )
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => ask(&commands, request).await,
                Err(e) => Response::error(ErrorKind::BadRequest, format!("bad request: {e}")),
            }
        };
        let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
        out.push(b'\n');
        write.write_all(&out).await?;
        if too_long {
            return Ok(());
        }
    }
}

async fn ask(commands: &mpsc::Sender<Command>, request: Request) -> Response {
    let (tx, rx) = oneshot::channel();
    let unavailable = || Response::error(ErrorKind::Unavailable, "the daemon is shutting down");
    if commands.send(Command { request, reply: tx }).await.is_err() {
        return unavailable();
    }
    match tokio::time::timeout(ANSWER, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => unavailable(),
        Err(_) => Response::error(ErrorKind::Unavailable, "the daemon did not answer in time"),
    }
}
