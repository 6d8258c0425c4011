//! `iked demo`: a site-to-site tunnel between two network namespaces, shown step by step and
//! removed again (also on Ctrl-C).
//!
//! ```text
//!   namespace "left"                                   namespace "right"
//!   LAN 100.64.1.1 ── iked ── 198.18.200.1 ══ veth ══ 198.18.200.2 ── iked ── LAN 100.64.2.1
//! ```
//!
//! Both daemons are this very binary (`iked run`) with a generated configuration: a fresh
//! random pre-shared key, AES-128-GCM with PFS. The ping from one LAN address to the other
//! matches the encrypt policy; the dataplane (the kernel's ESP where it has it, else iked's
//! userspace dataplane, which the daemon picks and logs) asks iked for SAs, the two daemons
//! negotiate main mode and quick mode, and the ping passes encrypted.
//!
//! Everything lives in a temporary directory and two namespaces named
//! `iked-demo-<pid>-{left,right}`; [`Cleanup`] removes them whatever happens.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// The two sides: namespace suffix, transport address, LAN address, the peer's.
struct Side {
    name: &'static str,
    wan: &'static str,
    lan: &'static str,
}

const LEFT: Side = Side {
    name: "left",
    wan: "198.18.200.1",
    lan: "100.64.1.1",
};
const RIGHT: Side = Side {
    name: "right",
    wan: "198.18.200.2",
    lan: "100.64.2.1",
};

/// How long the tunnel may take to come up (the first ping triggers the negotiation).
const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the demo; exit status 0 if the ping passed through the tunnel.
pub fn run() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("iked demo: run me as root (I create network namespaces and IPsec SAs)");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iked demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cleanup = match Cleanup::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iked demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = demo(&cleanup) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted (Ctrl-C)".to_owned()),
        }
    });
    let ok = match &outcome {
        Ok(()) => true,
        Err(e) => {
            say(&format!("The demo failed: {e}"));
            cleanup.print_logs();
            false
        }
    };
    say(
        "Cleaning up: stopping both daemons (they remove their SAs and policies), deleting the namespaces.",
    );
    runtime.block_on(cleanup.run());
    if ok {
        say("Done. Nothing is left behind.");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn say(text: &str) {
    println!("\n==> {text}");
}

/// What the demo made, removed by [`Cleanup::run`].
struct Cleanup {
    prefix: String,
    dir: PathBuf,
    namespaces: RefCell<Vec<String>>,
    daemons: RefCell<Vec<(String, Child)>>,
}

impl Cleanup {
    fn new() -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        let prefix = format!("iked-demo-{}", std::process::id());
        // Private to root: it holds the pre-shared key and the control sockets.
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Cleanup {
            prefix,
            dir,
            namespaces: RefCell::new(Vec::new()),
            daemons: RefCell::new(Vec::new()),
        })
    }

    fn netns(&self, side: &Side) -> String {
        format!("{}-{}", self.prefix, side.name)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn print_logs(&self) {
        for side in [&LEFT, &RIGHT] {
            let log = self.path(&format!("{}.log", side.name));
            if let Ok(text) = std::fs::read_to_string(&log) {
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                println!("\n--- last lines of the {} daemon's log:", side.name);
                for line in tail.iter().rev() {
                    println!("{line}");
                }
            }
        }
    }

    /// SIGTERM to each daemon (it removes what it installed), bounded waits, then the
    /// namespaces.
    async fn run(&self) {
        let daemons = std::mem::take(&mut *self.daemons.borrow_mut());
        for (name, mut child) in daemons {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
                Ok(Ok(status)) if status.success() => println!("    {name}: iked stopped cleanly"),
                Ok(Ok(status)) => println!("    {name}: iked exited with {status}"),
                _ => {
                    println!("    {name}: iked did not stop in 15 s; killing it");
                    let _ = child.kill().await;
                }
            }
        }
        let namespaces = std::mem::take(&mut *self.namespaces.borrow_mut());
        for ns in namespaces {
            let _ = ip(&["netns", "del", &ns]).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The demo proper; every step says what it does.
async fn demo(c: &Cleanup) -> Result<(), String> {
    let (left, right) = (c.netns(&LEFT), c.netns(&RIGHT));
    say(&format!(
        "Creating two network namespaces, {left} and {right}: two separate network stacks on \
         this machine, standing in for two offices."
    ));
    for ns in [&left, &right] {
        ip(&["netns", "add", ns]).await?;
        c.namespaces.borrow_mut().push(ns.clone());
        ns_run(ns, &["ip", "link", "set", "lo", "up"]).await?;
    }
    say(&format!(
        "Joining them with a virtual cable (veth): {} in {left}, {} in {right}. This is the \
         untrusted network between the offices.",
        LEFT.wan, RIGHT.wan
    ));
    ip(&[
        "link", "add", "wan", "netns", &left, "type", "veth", "peer", "name", "wan", "netns",
        &right,
    ])
    .await?;
    for (ns, side, other) in [(&left, &LEFT, &RIGHT), (&right, &RIGHT, &LEFT)] {
        ns_run(
            ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/24", side.wan),
                "dev",
                "wan",
            ],
        )
        .await?;
        ns_run(ns, &["ip", "link", "set", "wan", "up"]).await?;
        ns_run(
            ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/32", side.lan),
                "dev",
                "lo",
            ],
        )
        .await?;
        // The other LAN is reached over the WAN link from our LAN address; the encrypt policy
        // catches exactly that traffic. (With the userspace dataplane iked routes the policy's
        // destination into its TUN device with a better metric.)
        ns_run(
            ns,
            &[
                "ip",
                "route",
                "add",
                &format!("{}/32", other.lan),
                "via",
                other.wan,
                "src",
                side.lan,
                "metric",
                "1000",
            ],
        )
        .await?;
    }
    println!(
        "    LAN addresses: {} (left) and {} (right), on each namespace's loopback.",
        LEFT.lan, RIGHT.lan
    );

    let secret = random_secret()?;
    say(
        "Writing one iked configuration per side: the other side as [[peer]] with a fresh \
         random pre-shared key (phase 1: AES-256, SHA-256, ECP-256), a [[proposal]] \
         (AES-128-GCM, PFS with ecp256) and a [[policy]] that encrypts LAN-to-LAN traffic in \
         tunnel mode.",
    );
    for (side, other) in [(&LEFT, &RIGHT), (&RIGHT, &LEFT)] {
        let text = config_text(c, side, other, &secret);
        let file = c.path(&format!("{}.toml", side.name));
        std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
        if side.name == "left" {
            println!("    {}:\n", file.display());
            for line in text.lines() {
                println!("      {line}");
            }
        }
    }

    say("Starting iked in each namespace (`iked run -c FILE`).");
    for (ns, side) in [(&left, &LEFT), (&right, &RIGHT)] {
        let child = start_daemon(c, ns, side)?;
        c.daemons.borrow_mut().push((side.name.to_owned(), child));
    }
    for side in [&LEFT, &RIGHT] {
        wait_ready(c, side).await?;
        let st = client(c, side, &["status"]).await?;
        for line in st.lines().take(3) {
            println!("    {}: {line}", side.name);
        }
        // Which ESP dataplane the daemon chose (the kernel's, or its own over TUN).
        let log =
            std::fs::read_to_string(c.path(&format!("{}.log", side.name))).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("dataplane:")) {
            let text = line
                .split_once("dataplane:")
                .map_or(line, |(_, t)| t)
                .trim();
            println!("    {}: dataplane: {text}", side.name);
        }
    }

    say(&format!(
        "Pinging {} from {}. The first packet matches the policy but has no SA yet: the \
         dataplane asks iked for one, the daemons run main mode (authentication with the key) \
         and quick mode (the ESP keys), install the SAs, and the ping goes through encrypted.",
        RIGHT.lan, LEFT.lan
    ));
    let t0 = Instant::now();
    loop {
        if ping(&left).await {
            break;
        }
        if t0.elapsed() > UP_TIMEOUT {
            return Err(format!(
                "no ping answer through the tunnel within {UP_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("    tunnel up: first answer after {:.1?}", t0.elapsed());
    let out = ns_output(
        &left,
        &[
            "ping", "-n", "-c", "3", "-i", "0.2", "-I", LEFT.lan, RIGHT.lan,
        ],
    )
    .await?;
    for line in out.lines() {
        println!("    {line}");
    }

    say(
        "What the left daemon reports: `iked status` (the IKE peer) and `iked sas` (the ESP SAs, with their byte counters).",
    );
    for cmd in ["status", "sas"] {
        println!("\n$ iked {cmd}");
        println!("{}", client(c, &LEFT, &[cmd]).await?);
    }
    say("And the right daemon's `iked sas`: the same two SPIs, the directions swapped.");
    println!("{}", client(c, &RIGHT, &["sas"]).await?);
    Ok(())
}

fn config_text(c: &Cleanup, side: &Side, other: &Side, secret: &str) -> String {
    format!(
        r#"# iked demo: the {name} side.
[daemon]
listen = ["{wan}"]
control-socket = "{sock}"

[[peer]]
name = "{peer}"
address = "{peer_wan}"
secret = "{secret}"
enc-algorithm = ["aes-256"]
hash-algorithm = ["sha256"]
dh-group = ["ecp256"]

[[proposal]]
name = "demo"
enc-algorithms = ["aes-128-gcm"]
pfs-group = "ecp256"

[[policy]]
src-address = "{lan}/32"
dst-address = "{peer_lan}/32"
tunnel = true
sa-src-address = "{wan}"
sa-dst-address = "{peer_wan}"
proposal = "demo"
"#,
        name = side.name,
        wan = side.wan,
        lan = side.lan,
        sock = c.path(&format!("{}.sock", side.name)).display(),
        peer = other.name,
        peer_wan = other.wan,
        peer_lan = other.lan,
    )
}

fn random_secret() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no randomness for the key".to_owned())?;
    Ok(format!(
        "0x{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

fn start_daemon(c: &Cleanup, ns: &str, side: &Side) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let log_path = c.path(&format!("{}.log", side.name));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(&exe)
        .args(["run", "-c"])
        .arg(c.path(&format!("{}.toml", side.name)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting iked in {ns}: {e}"))
}

/// Until the daemon answers on its control socket (bounded).
async fn wait_ready(c: &Cleanup, side: &Side) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if client(c, side, &["status"]).await.is_ok() {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(15) {
            return Err(format!("the {} daemon did not start", side.name));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `iked CMD --socket SIDE.sock`, its standard output.
async fn client(c: &Cleanup, side: &Side, args: &[&str]) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let out = bounded(
        Command::new(exe)
            .args(args)
            .arg("--socket")
            .arg(c.path(&format!("{}.sock", side.name))),
    )
    .await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

async fn ping(ns: &str) -> bool {
    ns_output(
        ns,
        &[
            "ping", "-n", "-c", "1", "-W", "1", "-I", LEFT.lan, RIGHT.lan,
        ],
    )
    .await
    .is_ok()
}

async fn ip(args: &[&str]) -> Result<(), String> {
    let out = bounded(Command::new("ip").args(args)).await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

async fn ns_run(ns: &str, args: &[&str]) -> Result<(), String> {
    ns_output(ns, args).await.map(|_| ())
}

/// Runs `args` inside `ns`; its standard output if it succeeded.
async fn ns_output(ns: &str, args: &[&str]) -> Result<String, String> {
    let out = bounded(Command::new("ip").args(["netns", "exec", ns]).args(args)).await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} (in {ns}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a command to completion, killed after 20 s.
async fn bounded(cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let what = format!("{:?}", cmd.as_std().get_program());
    match tokio::time::timeout(Duration::from_secs(20), cmd.output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what} did not finish within 20 s")),
    }
}
