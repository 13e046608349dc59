//! Real links on loopback, every party on its own thread: authentication, session binding
//! and frame checks. Each test has short timeouts, so a regression fails instead of hanging.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mpc::Comm;
use party::keygen::{KeygenOptions, keygen};
use party::wire::{HEADER_LEN, Header, step_tag};
use party::{Cluster, Identity, NetComm, NodeConfig, Timeouts, Transport, connect_mesh};

struct Keys {
    dir: PathBuf,
    cluster: Cluster,
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keys(tag: &str, parties: usize) -> Keys {
    let dir = std::env::temp_dir().join(format!("umbra-links-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hosts = (0..parties)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let path = keygen(&KeygenOptions {
        parties,
        dealer: false,
        hosts,
        base_port: 0,
        out: dir.clone(),
        force: false,
        dealer_attest: None,
    })
    .unwrap();
    Keys {
        cluster: Cluster::load(&path).unwrap(),
        dir,
    }
}

fn identity(dir: &Path, name: &str) -> Identity {
    Identity::load(
        &dir.join(format!("{name}.crt")),
        &dir.join(format!("{name}.key")),
    )
    .unwrap()
}

fn node(
    cluster: &Cluster,
    me: u16,
    id: Identity,
    session: [u8; 16],
    transport: Transport,
) -> NodeConfig {
    NodeConfig {
        cluster: cluster.clone(),
        me,
        identity: id,
        session,
        transport,
        timeouts: Timeouts {
            recv: Duration::from_secs(5),
            connect: Duration::from_secs(3),
            idle: Duration::from_secs(3),
        },
        bind: None,
    }
}

/// Runs one closure per party on its own thread; returns their results in party order.
fn run<T: Send>(progs: Vec<Box<dyn FnOnce() -> T + Send + '_>>) -> Vec<T> {
    std::thread::scope(|s| {
        let hs: Vec<_> = progs.into_iter().map(|p| s.spawn(p)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn mesh_of_two(tag: &str, transport: Transport) -> (Keys, NetComm, NetComm) {
    let k = keys(tag, 2);
    let session = [tag.len() as u8; 16];
    let mut out = run::<NetComm>(
        (0..2u16)
            .map(|i| {
                let cfg = node(
                    &k.cluster,
                    i,
                    identity(&k.dir, &format!("party-{i}")),
                    session,
                    transport,
                );
                Box::new(move || connect_mesh(cfg).unwrap()) as Box<dyn FnOnce() -> NetComm + Send>
            })
            .collect(),
    );
    let c1 = out.pop().unwrap();
    let c0 = out.pop().unwrap();
    (k, c0, c1)
}

/// Drops both ends at once: each waits (bounded) for the other's goodbye.
fn close_both(a: NetComm, b: NetComm) {
    std::thread::scope(|s| {
        s.spawn(move || drop(b));
        drop(a);
    });
}

fn frame(session: [u8; 16], seq: u64, step: &str, payload: &[u8]) -> Vec<u8> {
    let h = Header {
        session,
        from: 1,
        to: 0,
        tag: step_tag(step),
        seq,
        len: payload.len() as u64,
    };
    let mut f = h.encode().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn frames_flow_both_ways_over_both_transports() {
    for transport in [Transport::Quic, Transport::Tcp] {
        let (_k, mut c0, mut c1) = mesh_of_two(&format!("flow-{transport}"), transport);
        // Both send 24 MiB before either receives: the reader tasks must keep this from
        // deadlocking.
        let big = vec![7u8; 24 << 20];
        let (a, b) = std::thread::scope(|s| {
            let big0 = big.clone();
            let h = s.spawn(move || {
                c1.send(0, big0, "bulk").unwrap();
                let got = c1.recv(0, "bulk").unwrap();
                c1.send(0, vec![1, 2, 3], "small").unwrap();
                (got, c1)
            });
            c0.send(1, big.clone(), "bulk").unwrap();
            let got = c0.recv(1, "bulk").unwrap();
            let small = c0.recv_expect(1, 3, "small").unwrap();
            assert_eq!(small, vec![1, 2, 3]);
            let (got1, c1) = h.join().unwrap();
            close_both(c0, c1);
            (got, got1)
        });
        assert_eq!(a.len(), big.len());
        assert_eq!(b, big);
    }
}

#[test]
fn a_frame_of_another_step_or_length_is_refused() {
    let (_k, mut c0, mut c1) = mesh_of_two("step", Transport::Quic);
    c1.send(0, vec![0; 16], "beaver open").unwrap();
    let err = c0.recv(1, "reveal").unwrap_err().to_string();
    assert!(
        err.contains("party 1") && err.contains("step `reveal`"),
        "{err}"
    );
    close_both(c0, c1);
    let (_k, mut c0, mut c1) = mesh_of_two("length", Transport::Quic);
    c1.send(0, vec![0; 16], "reveal").unwrap();
    let err = c0.recv_expect(1, 64, "reveal").unwrap_err().to_string();
    assert_eq!(
        err,
        "frame from party 1 at step `reveal` has 16 bytes, expected 64"
    );
    close_both(c0, c1);
}

/// Party 1 writes `bytes` raw on its link; party 0's next receive must fail with an error
/// containing `want`, quickly.
fn rejected(tag: &str, bytes: impl FnOnce([u8; 16]) -> Vec<u8>, want: &str) {
    let (_k, mut c0, mut c1) = mesh_of_two(tag, Transport::Quic);
    let raw = bytes(c1.session_for_tests());
    c1.send_raw_for_tests(0, &raw).unwrap();
    let t = Instant::now();
    let err = c0.recv(1, "reveal").unwrap_err().to_string();
    assert!(err.contains(want), "{tag}: {err}");
    assert!(err.contains("party 1"), "{tag}: {err}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{tag}: took {:?}",
        t.elapsed()
    );
    close_both(c0, c1);
}

#[test]
fn forged_replayed_and_oversized_frames_are_refused() {
    rejected(
        "session",
        |mut s| {
            s[0] ^= 0xff;
            frame(s, 1, "reveal", &[0; 8])
        },
        "frame of session",
    );
    rejected("skip", |s| frame(s, 9, "reveal", &[0; 8]), "out of order");
    rejected(
        "huge",
        |s| {
            // A length prefix of 2^62 bytes and no payload: refused from the header alone.
            let h = Header {
                session: s,
                from: 1,
                to: 0,
                tag: step_tag("reveal"),
                seq: 1,
                len: 1 << 62,
            };
            h.encode().to_vec()
        },
        "exceeds the cap",
    );
    rejected(
        "garbage",
        |_| (0..HEADER_LEN as u8).map(|b| b.wrapping_mul(97)).collect(),
        "malformed frame",
    );
}

#[test]
fn a_replayed_frame_is_named_as_such() {
    let (_k, mut c0, mut c1) = mesh_of_two("replay2", Transport::Quic);
    let s = c1.session_for_tests();
    let mut raw = frame(s, 1, "reveal", &[0; 8]);
    raw.extend(frame(s, 1, "reveal", &[0; 8]));
    c1.send_raw_for_tests(0, &raw).unwrap();
    assert_eq!(c0.recv(1, "reveal").unwrap(), vec![0; 8]);
    let err = c0.recv(1, "reveal").unwrap_err().to_string();
    assert!(err.contains("replayed"), "{err}");
    close_both(c0, c1);
}

#[test]
fn a_peer_in_another_session_is_refused() {
    let k = keys("sess", 2);
    let errs = run::<String>(
        (0..2u16)
            .map(|i| {
                let cfg = node(
                    &k.cluster,
                    i,
                    identity(&k.dir, &format!("party-{i}")),
                    [i as u8; 16],
                    Transport::Quic,
                );
                Box::new(move || connect_mesh(cfg).unwrap_err().to_string())
                    as Box<dyn FnOnce() -> String + Send>
            })
            .collect(),
    );
    // Whichever side checks first refuses; either way both ids are named.
    for e in &errs {
        assert!(
            e.contains("session 0000") && e.contains("session 0101"),
            "{e}"
        );
    }
}

#[test]
fn an_outsider_certificate_is_refused_on_both_sides() {
    for transport in [Transport::Quic, Transport::Tcp] {
        let k = keys(&format!("outsider-{transport}"), 2);
        let outsider = Identity::generate("party-1", &[]).unwrap();
        // The outsider's own view pins its key as party 1's; the real party 0 pins the real one.
        let mut forged = k.cluster.clone();
        forged.parties[1].pin = party::cluster::Pin::Certificate(outsider.fingerprint());
        let real = node(
            &k.cluster,
            0,
            identity(&k.dir, "party-0"),
            [3; 16],
            transport,
        );
        let fake = node(&forged, 1, outsider, [3; 16], transport);
        let errs = run::<String>(vec![
            Box::new(move || connect_mesh(real).unwrap_err().to_string()),
            Box::new(move || connect_mesh(fake).unwrap_err().to_string()),
        ]);
        assert!(
            errs[0].contains("party-1 presented certificate"),
            "{transport}: {}",
            errs[0]
        );
        assert!(
            errs[0].contains("not in the cluster file"),
            "{transport}: {}",
            errs[0]
        );
        assert!(!errs[1].is_empty());
    }
}

#[test]
fn an_outsider_dialling_in_is_refused_and_reported() {
    let k = keys("dialin", 2);
    let outsider = Identity::generate("party-0", &[]).unwrap();
    let mut forged = k.cluster.clone();
    forged.parties[0].pin = party::cluster::Pin::Certificate(outsider.fingerprint());
    let fake = node(&forged, 0, outsider, [4; 16], Transport::Quic);
    let real = node(
        &k.cluster,
        1,
        identity(&k.dir, "party-1"),
        [4; 16],
        Transport::Quic,
    );
    let errs = run::<String>(vec![
        Box::new(move || connect_mesh(fake).unwrap_err().to_string()),
        Box::new(move || connect_mesh(real).unwrap_err().to_string()),
    ]);
    assert!(
        errs[1].contains("timed out") && errs[1].contains("party 0"),
        "{}",
        errs[1]
    );
    assert!(errs[1].contains("refused meanwhile"), "{}", errs[1]);
}

#[test]
fn the_right_certificate_at_the_wrong_id_is_refused() {
    let k = keys("swap", 3);
    // A process holding party 2's key claims to be party 1 (its cluster view is edited to
    // match, so its own start-up check passes; the real parties' views are not).
    let mut forged = k.cluster.clone();
    forged.parties[1].pin = k.cluster.parties[2].pin.clone();
    forged.parties[2].pin = party::cluster::Pin::Certificate([0xee; 32]);
    let p0 = node(
        &k.cluster,
        0,
        identity(&k.dir, "party-0"),
        [5; 16],
        Transport::Quic,
    );
    let swapped = node(
        &forged,
        1,
        identity(&k.dir, "party-2"),
        [5; 16],
        Transport::Quic,
    );
    let errs = run::<String>(vec![
        Box::new(move || connect_mesh(p0).unwrap_err().to_string()),
        Box::new(move || connect_mesh(swapped).unwrap_err().to_string()),
    ]);
    assert!(
        errs[0].contains("it is party-2's certificate"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_key_that_is_not_pinned_for_this_id_fails_at_start() {
    let k = keys("own", 2);
    let err = connect_mesh(node(
        &k.cluster,
        1,
        identity(&k.dir, "party-0"),
        [6; 16],
        Transport::Quic,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("not the one the cluster file pins for party 1"),
        "{err}"
    );
}

#[test]
fn an_abort_reaches_the_peer_with_its_reason() {
    let (_k, mut c0, mut c1) = mesh_of_two("abort", Transport::Quic);
    c1.abort("party 1 ran out of patience at step `x`");
    let t = Instant::now();
    let err = c0.recv(1, "reveal").unwrap_err().to_string();
    assert_eq!(
        err,
        "party 1 aborted the session: party 1 ran out of patience at step `x`"
    );
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_silent_peer_times_out_with_the_step() {
    let (_k, mut c0, c1) = mesh_of_two("silent", Transport::Tcp);
    let t = Instant::now();
    let err = c0.recv(1, "beaver open").unwrap_err().to_string();
    assert_eq!(
        err,
        "timed out after 5000 ms waiting for party 1 at step `beaver open`"
    );
    assert!(t.elapsed() < Duration::from_secs(7));
    close_both(c0, c1);
}

#[test]
fn the_dealer_serves_a_session_once() {
    let dir = std::env::temp_dir().join(format!("umbra-links-dealer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hosts = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let path = keygen(&KeygenOptions {
        parties: 2,
        dealer: true,
        hosts,
        base_port: 0,
        out: dir.clone(),
        force: false,
        dealer_attest: None,
    })
    .unwrap();
    let cluster = Cluster::load(&path).unwrap();
    let dealer = node(
        &cluster,
        party::wire::DEALER,
        identity(&dir, "dealer"),
        [0; 16],
        Transport::Quic,
    );
    // The dealer serves until the test process ends.
    std::thread::spawn(move || party::dealer::serve(dealer, None));
    let run_once = |session: [u8; 16]| {
        run::<Result<Vec<f64>, String>>(
            (0..2u16)
                .map(|i| {
                    let cfg = node(
                        &cluster,
                        i,
                        identity(&dir, &format!("party-{i}")),
                        session,
                        Transport::Quic,
                    );
                    Box::new(move || {
                        let s = party::connect(cfg, mpc::SessionConfig::default())
                            .map_err(|e| e.to_string())?;
                        let x = s
                            .share_f64(&[3], &[1.5, -2.0, 0.25], 0)
                            .map_err(|e| e.to_string())?;
                        let y = s
                            .share_f64(&[3], &[2.0, 3.0, -4.0], 1)
                            .map_err(|e| e.to_string())?;
                        x.mul(&y)
                            .and_then(|z| z.reveal_f64())
                            .map(tensor::FloatTensor::into_vec)
                            .map_err(|e| e.to_string())
                    }) as Box<dyn FnOnce() -> Result<Vec<f64>, String> + Send>
                })
                .collect(),
        )
    };
    for r in run_once([8; 16]) {
        assert_eq!(r.unwrap(), vec![3.0, -6.0, -1.0]);
    }
    // The same session id again: the dealer refuses, and says why.
    let again = run_once([8; 16]);
    let err = again[0].as_ref().unwrap_err();
    assert!(err.contains("already ended"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
