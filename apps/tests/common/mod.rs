//! Shared helpers for the tests that run the `umbra` binary as separate processes.
#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(60);

/// A finished child: exit code, output, and how long it took.
pub struct Run {
    pub code: Option<i32>,
    pub out: String,
    pub err: String,
    pub took: Duration,
}

pub fn umbra() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_umbra"));
    c.env("RUST_BACKTRACE", "0");
    c
}

pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start umbra")
}

/// Waits for `child` until `limit` after `started` (then kills it and fails the test).
pub fn finish_within(mut child: Child, started: Instant, limit: Duration) -> Run {
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (out_t.join().unwrap(), err_t.join().unwrap());
            panic!("a child ran past {limit:?}:\n{out}\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        out: out_t.join().unwrap(),
        err: err_t.join().unwrap(),
        took: started.elapsed(),
    }
}

pub fn finish(child: Child, started: Instant) -> Run {
    finish_within(child, started, DEADLINE)
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

pub fn free_port(tcp: bool) -> u16 {
    if tcp {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
