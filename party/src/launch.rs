//! `umbra launch`: a torchrun-style local launcher. It makes fresh keys and a cluster file
//! on 127.0.0.1, starts the dealer and one process per party, prefixes every line of their
//! output with who wrote it, and stops everything it started as soon as any of them fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::env::{MemberEnv, fresh_session};
use crate::error::{Error, Result, io_err};
use crate::keygen::{KeygenOptions, keygen};
use crate::net::{Timeouts, Transport};
use crate::wire::hex;

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Number of parties.
    pub parties: usize,
    /// Whether to start a dealer.
    pub dealer: bool,
    /// The program and its arguments, run once per party.
    pub program: Vec<String>,
    /// Transport.
    pub transport: Transport,
    /// Timeouts given to every member.
    pub timeouts: Timeouts,
    /// The `umbra` executable that runs the dealer.
    pub umbra_exe: PathBuf,
    /// Run the dealer attested with test-only evidence ([`crate::attest::TeeKind::InsecureTestOnly`]):
    /// the cluster file pins this measurement (`None`: the SHA-256 of `umbra_exe`, which is
    /// what the dealer will report). Implies `dealer`.
    pub attest_test: Option<Option<[u8; 32]>>,
    /// Prefix output lines with `[party i]` (off: pass party 0's stdout through unchanged and
    /// prefix the rest, for programs whose output is machine-read).
    pub prefix: bool,
}

struct Started {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    forwarders: Vec<std::thread::JoinHandle<()>>,
}

/// `n` distinct free ports on 127.0.0.1 for `transport` (UDP for QUIC, TCP for TCP), held
/// together while they are chosen and then released for the members to bind.
///
/// # Errors
/// The OS has no free port.
pub fn free_ports(n: usize, transport: Transport) -> Result<Vec<u16>> {
    // Bind them all at once so they differ; dropping the sockets releases them.
    let err = |e: std::io::Error| Error::Launch(format!("finding a free port: {e}"));
    let (mut udp, mut tcp, mut ports) = (Vec::new(), Vec::new(), Vec::with_capacity(n));
    for _ in 0..n {
        let port = match transport {
            Transport::Quic => {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").map_err(err)?;
                let port = s.local_addr().map_err(err)?.port();
                udp.push(s);
                port
            }
            Transport::Tcp => {
                let s = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
                let port = s.local_addr().map_err(err)?.port();
                tcp.push(s);
                port
            }
        };
        ports.push(port);
    }
    Ok(ports)
}

fn forward(
    stream: impl std::io::Read + Send + 'static,
    prefix: Option<String>,
    to_stderr: bool,
    lock: Arc<Mutex<()>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let _g = lock.lock();
            let text = match &prefix {
                Some(p) => format!("{p} {line}\n"),
                None => format!("{line}\n"),
            };
            if to_stderr {
                let _ = std::io::stderr().write_all(text.as_bytes());
            } else {
                let _ = std::io::stdout().write_all(text.as_bytes());
            }
        }
    })
}

fn spawn(
    name: &str,
    mut cmd: Command,
    prefix: bool,
    raw_stdout: bool,
    lock: &Arc<Mutex<()>>,
) -> Result<Started> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The children die with the launcher even if it is killed outright.
        .env(
            crate::signals::SUPERVISOR_ENV,
            std::process::id().to_string(),
        );
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Launch(format!("starting {name} ({cmd:?}): {e}")))?;
    let tag = format!("[{name}]");
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let out_prefix = (prefix || !raw_stdout).then(|| tag.clone());
    Ok(Started {
        name: name.to_owned(),
        forwarders: vec![
            forward(out, out_prefix, false, lock.clone()),
            forward(err, Some(tag), true, lock.clone()),
        ],
        child,
        status: None,
    })
}

fn describe(status: &ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(sig) = status.signal() {
                    return format!("killed by signal {sig}");
                }
            }
            "no exit status".to_owned()
        }
    }
}

/// Removes the launcher's key directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_dir() -> Result<TempDir> {
    let dir = std::env::temp_dir().join(format!(
        "umbra-launch-{}-{}",
        std::process::id(),
        hex(&fresh_session()?[..4])
    ));
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(&dir).map_err(io_err("launch directory", &dir))?;
    Ok(TempDir(dir))
}

/// Runs the session; returns the exit code the launcher should exit with (0 when every party
/// exited 0).
///
/// # Errors
/// Keys, ports or processes could not be set up.
pub fn launch(o: &LaunchOptions) -> Result<i32> {
    if o.program.is_empty() {
        return Err(Error::Config(
            "no program to launch: put it after `--`".into(),
        ));
    }
    // From here on Ctrl-C, SIGTERM and SIGHUP stop the children and remove the key
    // directory (which holds every member's private key) instead of killing the launcher
    // with both left behind.
    let signals = crate::signals::Signals::catch()?;
    let dir = make_dir()?;
    let with_dealer = o.dealer || o.attest_test.is_some();
    let dealer_attest = match o.attest_test {
        None => None,
        Some(pinned) => {
            let m = match pinned {
                Some(m) => m,
                None => {
                    let exe = std::fs::read(&o.umbra_exe)
                        .map_err(io_err("umbra executable", &o.umbra_exe))?;
                    crate::identity::fingerprint(&exe)
                }
            };
            Some(crate::attest::PolicyFile {
                tee: crate::attest::TeeKind::InsecureTestOnly.name().into(),
                measurement: Some(hex(&m)),
                ..Default::default()
            })
        }
    };
    let members = o.parties + usize::from(with_dealer);
    let ports = free_ports(members, o.transport)?;
    let hosts = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let cluster = keygen(&KeygenOptions {
        parties: o.parties,
        dealer: with_dealer,
        dealer_attest,
        hosts,
        base_port: 0,
        out: dir.0.clone(),
        force: false,
    })?;
    let session = fresh_session()?;
    let lock = Arc::new(Mutex::new(()));
    let env_for = |me: u16| MemberEnv::new(cluster.clone(), me, session, o.transport, o.timeouts);
    let mut started: Vec<Started> = Vec::new();
    let result = (|| -> Result<i32> {
        if with_dealer {
            let mut cmd = Command::new(&o.umbra_exe);
            if o.attest_test.is_some() {
                cmd.arg("dealer")
                    .arg("--attest")
                    .arg(crate::attest::TeeKind::InsecureTestOnly.name());
            } else {
                cmd.arg("dealer");
            }
            cmd.arg("--cluster")
                .arg(&cluster)
                .arg("--sessions")
                .arg("1")
                .arg("--transport")
                .arg(o.transport.to_string())
                .arg("--recv-timeout-ms")
                .arg(o.timeouts.recv.as_millis().to_string())
                .arg("--connect-timeout-ms")
                .arg(o.timeouts.connect.as_millis().to_string())
                .arg("--idle-timeout-ms")
                .arg(o.timeouts.idle.as_millis().to_string());
            started.push(spawn("dealer", cmd, true, false, &lock)?);
        }
        for i in 0..o.parties {
            let mut cmd = Command::new(&o.program[0]);
            cmd.args(&o.program[1..]).envs(env_for(i as u16).to_env());
            started.push(spawn(&format!("party {i}"), cmd, o.prefix, i == 0, &lock)?);
        }
        supervise(&mut started, with_dealer, &signals)
    })();
    for s in &mut started {
        if s.status.is_none() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        for f in s.forwarders.drain(..) {
            let _ = f.join();
        }
    }
    drop(dir);
    result
}

/// Waits for the parties; on the first failure stops everything else. The dealer may outlive
/// the parties by a moment (it exits after its session); it is stopped if it lingers.
fn supervise(
    started: &mut [Started],
    has_dealer: bool,
    signals: &crate::signals::Signals,
) -> Result<i32> {
    let first_party = usize::from(has_dealer);
    let mut parties_done_at: Option<Instant> = None;
    loop {
        if let Some(sig) = signals.received() {
            eprintln!(
                "umbra launch: received signal {sig}; stopping the processes this launcher started"
            );
            return Ok(128 + sig);
        }
        for s in started.iter_mut().filter(|s| s.status.is_none()) {
            if let Some(st) = s
                .child
                .try_wait()
                .map_err(|e| Error::Launch(format!("waiting for {}: {e}", s.name)))?
            {
                s.status = Some(st);
                if !st.success() {
                    let code = st.code().filter(|&c| c != 0).unwrap_or(1);
                    eprintln!(
                        "umbra launch: {} failed ({}); stopping the processes this launcher started",
                        s.name,
                        describe(&st)
                    );
                    return Ok(code);
                }
            }
        }
        let parties_done = started[first_party..].iter().all(|s| s.status.is_some());
        if parties_done {
            let t = *parties_done_at.get_or_insert_with(Instant::now);
            let dealer_done = !has_dealer || started[0].status.is_some();
            if dealer_done || t.elapsed() > Duration::from_secs(5) {
                return Ok(0);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where `umbra` itself is, for starting the dealer.
///
/// # Errors
/// The OS cannot say.
pub fn current_exe() -> Result<PathBuf> {
    std::env::current_exe()
        .map_err(|e| Error::Launch(format!("locating the umbra executable: {e}")))
}
