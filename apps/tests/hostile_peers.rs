//! Bad peers and bad operators, as separate processes on loopback: the dealer survives a huge
//! request, a silent connection, a duplicate party and a silent party 0; a party gives up on
//! a stopped dealer within its connect timeout; the launcher and `umbra party` handle
//! termination signals. Every child runs under a hard deadline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::*;

/// A cluster of `parties` and a dealer on fresh loopback ports, removed when dropped.
struct Keys {
    dir: PathBuf,
    hosts: Vec<String>,
}

impl Keys {
    fn new(tag: &str, parties: usize, tcp: bool) -> Keys {
        let dir = std::env::temp_dir().join(format!("umbra-hostile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hosts: Vec<String> = (0..=parties)
            .map(|_| format!("127.0.0.1:{}", free_port(tcp)))
            .collect();
        let out = umbra()
            .args([
                "keygen",
                "--parties",
                &parties.to_string(),
                "--dealer",
                "--out",
            ])
            .arg(&dir)
            .arg("--hosts")
            .arg(hosts.join(","))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Keys { dir, hosts }
    }

    fn cluster(&self) -> PathBuf {
        self.dir.join("cluster.toml")
    }

    fn dealer_addr(&self) -> &str {
        self.hosts.last().unwrap()
    }

    fn dealer(&self, args: &[&str]) -> Child {
        let mut c = umbra();
        c.arg("dealer")
            .arg("--cluster")
            .arg(self.cluster())
            .args(args);
        spawn(c)
    }

    fn party(&self, id: usize, session: &str, args: &[&str], program: &[&str]) -> Child {
        let mut c = umbra();
        c.arg("party")
            .arg("--cluster")
            .arg(self.cluster())
            .args(["--id", &id.to_string(), "--session", session])
            .args(args)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_umbra"))
            .args(program);
        spawn(c)
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn node(keys: &Keys, me: u16, session: [u8; 16]) -> party::NodeConfig {
    let name = if me == party::wire::DEALER {
        "dealer".to_owned()
    } else {
        format!("party-{me}")
    };
    let dir: &Path = &keys.dir;
    party::NodeConfig {
        cluster: party::Cluster::load(&keys.cluster()).unwrap(),
        me,
        identity: party::Identity::load(
            &dir.join(format!("{name}.crt")),
            &dir.join(format!("{name}.key")),
        )
        .unwrap(),
        session,
        transport: party::Transport::Quic,
        timeouts: party::Timeouts {
            recv: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(5),
        },
        // Not the cluster file's address: the real party with this id listens there.
        bind: Some(format!("127.0.0.1:{}", free_port(false)).parse().unwrap()),
    }
}

const SESSION_A: &str = "00112233445566778899aabbccddeeff";

fn assert_ran(run: &Run, who: &str) {
    assert_eq!(run.code, Some(0), "{who}:\n{}\n{}", run.out, run.err);
    assert!(run.out.contains("RESULT "), "{who}: {}", run.out);
}

#[test]
fn a_huge_request_is_refused_to_its_session_while_another_finishes() {
    use mpc::TripleSource;
    let keys = Keys::new("huge", 2, false);
    let started = Instant::now();
    let dealer = keys.dealer(&["--sessions", "2"]);
    let a: Vec<Child> = (0..2)
        .map(|i| keys.party(i, SESSION_A, &[], &["testprog", "wait", "--secs", "2"]))
        .collect();
    // Session B's party 0 asks for 2^36 elements (512 GiB a slot) while session A runs.
    let b = [0xB0u8; 16];
    let mut rogue = party::DealerClient::join(node(&keys, 0, b)).expect("party 0 of B joins");
    let huge = mpc::TupleRequest::Mul {
        a: vec![1 << 36],
        b: vec![1 << 36],
    };
    let err = rogue.fetch(&huge).unwrap_err().to_string();
    assert!(
        err.contains("more than this dealer's limit") && err.contains("--max-request-elements"),
        "{err}"
    );
    assert!(!err.contains("Aborted(") && !err.contains("Lost("), "{err}");
    drop(rogue);
    // Session A is untouched and the dealer still serves: B's party 1 joins and leaves,
    // which ends session B, and the dealer exits after its two sessions.
    for (i, p) in a.into_iter().enumerate() {
        assert_ran(&finish(p, started), &format!("party {i} of session A"));
    }
    let late = party::DealerClient::join(node(&keys, 1, b)).expect("party 1 of B joins");
    drop(late);
    let d = finish_within(dealer, started, Duration::from_secs(40));
    assert_eq!(d.code, Some(0), "dealer: {}", d.err);
    assert!(
        d.err.contains("--max-request-elements"),
        "the refusal is logged: {}",
        d.err
    );
}

#[test]
fn a_silent_tcp_connection_is_dropped_after_the_handshake_timeout_while_a_session_runs() {
    let keys = Keys::new("silent", 2, true);
    let started = Instant::now();
    // No --sessions: the dealer outlives the session, so only the handshake bound can close
    // the two connections.
    let mut dealer = keys.dealer(&["--transport", "tcp"]);
    // Wait for the dealer's listener, then hold two unauthenticated connections: one silent,
    // one with the first 10 bytes of a ClientHello.
    let dial = || loop {
        match std::net::TcpStream::connect(keys.dealer_addr()) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("the dealer never listened: {e}"),
        }
    };
    let mut silent = dial();
    let mut partial = dial();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
        .unwrap();
    let held_at = Instant::now();
    let a: Vec<Child> = (0..2)
        .map(|i| {
            keys.party(
                i,
                SESSION_A,
                &["--transport", "tcp"],
                &["testprog", "matmul-relu"],
            )
        })
        .collect();
    for (i, p) in a.into_iter().enumerate() {
        assert_ran(&finish(p, started), &format!("party {i}"));
    }
    // Both connections are closed by the dealer, within the 10 s handshake bound.
    for s in [&mut silent, &mut partial] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        let n = loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break 0,
                Ok(_) => continue, // an alert
            }
        };
        assert_eq!(n, 0);
    }
    let closed_after = held_at.elapsed();
    let still_serving = dealer.try_wait().unwrap().is_none();
    signal(dealer.id(), "TERM");
    let d = finish_within(dealer, started, Duration::from_secs(40));
    assert!(still_serving, "the dealer died: {}", d.err);
    assert!(
        closed_after >= Duration::from_secs(8) && closed_after < Duration::from_secs(15),
        "closed after {closed_after:?}: {}",
        d.err
    );
    assert!(d.err.contains("no TLS handshake within"), "{}", d.err);
}

#[test]
fn a_stopped_dealer_fails_the_party_within_its_connect_timeout() {
    let keys = Keys::new("stopped", 2, true);
    let mut dealer = keys.dealer(&["--sessions", "1", "--transport", "tcp"]);
    // Let it bind, then freeze it: its kernel still accepts TCP, nothing answers TLS.
    let t0 = Instant::now();
    while std::net::TcpStream::connect(keys.dealer_addr()).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the dealer never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(dealer.id(), "STOP");
    let started = Instant::now();
    let net = ["--transport", "tcp", "--connect-timeout-ms", "3000"];
    let a: Vec<Child> = (0..2)
        .map(|i| keys.party(i, SESSION_A, &net, &["testprog", "matmul-relu"]))
        .collect();
    let runs: Vec<Run> = a
        .into_iter()
        .map(|p| finish_within(p, started, Duration::from_secs(20)))
        .collect();
    signal(dealer.id(), "CONT");
    let _ = dealer.kill();
    let _ = dealer.wait();
    for (i, r) in runs.iter().enumerate() {
        assert_ne!(r.code, Some(0), "party {i}: {}", r.out);
        assert!(r.err.contains("dealer"), "party {i}: {}", r.err);
        assert!(
            r.took < Duration::from_secs(8),
            "party {i} took {:?}",
            r.took
        );
    }
}

#[test]
fn a_duplicate_party_id_does_not_end_the_session() {
    let keys = Keys::new("dup", 2, false);
    let started = Instant::now();
    let dealer = keys.dealer(&["--sessions", "1"]);
    let a: Vec<Child> = (0..2)
        .map(|i| keys.party(i, SESSION_A, &[], &["testprog", "wait", "--secs", "4"]))
        .collect();
    // Once the real parties have joined, a second process claims party 1 (on another port).
    std::thread::sleep(Duration::from_millis(1500));
    let bind = format!("127.0.0.1:{}", free_port(false));
    let dup = finish(
        keys.party(
            1,
            SESSION_A,
            &["--bind", &bind],
            &["testprog", "matmul-relu"],
        ),
        started,
    );
    assert_ne!(dup.code, Some(0), "{}", dup.out);
    assert!(dup.err.contains("joined this session twice"), "{}", dup.err);
    for (i, p) in a.into_iter().enumerate() {
        assert_ran(&finish(p, started), &format!("party {i}"));
    }
    let d = finish_within(dealer, started, Duration::from_secs(40));
    assert_eq!(d.code, Some(0), "dealer: {}", d.err);
}

#[test]
fn a_silent_party_0_makes_the_dealer_give_up_within_its_receive_timeout() {
    let keys = Keys::new("silent0", 2, true);
    let started = Instant::now();
    let dealer = keys.dealer(&[
        "--sessions",
        "1",
        "--transport",
        "tcp",
        "--recv-timeout-ms",
        "2000",
    ]);
    // Party 0 goes quiet for 30 s after its first product; party 1 waits on it.
    let prog = ["testprog", "stall", "--victim", "0", "--secs", "30"];
    let mut a: Vec<Child> = (0..2)
        .map(|i| keys.party(i, SESSION_A, &["--transport", "tcp"], &prog))
        .collect();
    let d = finish_within(dealer, started, Duration::from_secs(20));
    for p in &mut a {
        let _ = p.kill();
        let _ = p.wait();
    }
    assert_eq!(d.code, Some(0), "dealer: {}", d.err);
    assert!(
        d.err.contains("sent nothing within the receive timeout"),
        "{}",
        d.err
    );
    assert!(
        d.took < Duration::from_secs(12),
        "the dealer took {:?}",
        d.took
    );
}

/// The fields of `/proc/PID/stat` after the command name, from the state on (`None` once
/// the process is gone). The name may contain spaces, so split after the last `)`.
fn stat_after_name(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_owned).collect())
}

/// The pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&p| stat_after_name(p).is_some_and(|f| f[1].parse() == Ok(pid)))
        .collect()
}

/// Running, and not a zombie.
fn alive(pid: u32) -> bool {
    stat_after_name(pid).is_some_and(|f| f[0] != "Z")
}

#[test]
fn a_signal_to_the_launcher_removes_its_keys_and_stops_its_children() {
    for sig in ["INT", "TERM", "KILL"] {
        let mut c = umbra();
        c.args(["launch", "--parties", "2", "--dealer", "--"])
            .arg(env!("CARGO_BIN_EXE_umbra"))
            .args(["testprog", "wait", "--secs", "30"]);
        let launcher = spawn(c);
        let pid = launcher.id();
        let key_dir = || {
            std::fs::read_dir(std::env::temp_dir())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy()
                            .starts_with(&format!("umbra-launch-{pid}-"))
                    })
                })
        };
        let t0 = Instant::now();
        let mut kids = Vec::new();
        while kids.len() < 3 {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "the launcher never started its children"
            );
            std::thread::sleep(Duration::from_millis(50));
            kids = children_of(pid);
        }
        let dir = key_dir().expect("the launcher's key directory exists while it runs");
        assert!(dir.join("party-0.key").exists());
        let started = Instant::now();
        signal(pid, sig);
        let run = finish_within(launcher, started, Duration::from_secs(10));
        assert!(
            run.took < Duration::from_secs(2),
            "SIG{sig}: exit took {:?}",
            run.took
        );
        if sig == "KILL" {
            // Nothing runs in a killed process: the kernel kills its children with it
            // (PR_SET_PDEATHSIG), but its key directory stays; remove it here.
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let code = 128 + if sig == "INT" { 2 } else { 15 };
            assert_eq!(run.code, Some(code), "{}", run.err);
            assert!(!dir.exists(), "SIG{sig}: {} was left behind", dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
        for k in kids {
            assert!(!alive(k), "SIG{sig}: child {k} still runs");
        }
    }
}

#[test]
fn umbra_party_forwards_sigterm_to_its_program() {
    let keys = Keys::new("term", 2, false);
    let mut c = umbra();
    c.arg("party")
        .arg("--cluster")
        .arg(keys.cluster())
        .args(["--id", "0", "--session", SESSION_A, "--", "sh", "-c"])
        .arg("trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done");
    let mut child = spawn(c);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    let started = Instant::now();
    signal(child.id(), "TERM");
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("got-term"), "{rest}");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn the_dealers_id_is_refused_as_a_party_at_start() {
    let keys = Keys::new("id", 2, false);
    let out = umbra()
        .arg("party")
        .arg("--cluster")
        .arg(keys.cluster())
        .args(["--id", "65535", "--session", SESSION_A, "--", "true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the dealer's id"), "{err}");
}
