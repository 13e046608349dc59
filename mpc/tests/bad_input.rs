//! Bad input gets a clear error naming what was wrong: never a panic, a hang, or a wrong
//! number.

mod common;

use common::*;
use mpc::{
    Comm, Error, InsecureTestDealer, LocalComm, Session, SessionConfig, TruncMode, run_local,
};
use tensor::RingTensor;

#[test]
fn fewer_than_two_parties_is_refused() {
    assert!(matches!(
        run_local(1, cfg(1), |_| Ok(())),
        Err(Error::TooFewParties(1))
    ));
    assert!(matches!(
        run_local(0, cfg(1), |_| Ok(())),
        Err(Error::TooFewParties(0))
    ));
    assert!(matches!(LocalComm::mesh(1), Err(Error::TooFewParties(1))));
}

#[test]
fn shape_mismatches_fail_on_every_party_without_hanging() {
    let err = run_local(3, cfg(2), |s| {
        let x = share(&s, 0, &fixed(1, &[2, 3], 100));
        let y = share(&s, 1, &fixed(2, &[4], 100));
        x.mul(&y).map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let err = run_local(2, cfg(2), |s| {
        let x = share(&s, 0, &fixed(1, &[2, 3], 100));
        let y = share(&s, 1, &fixed(2, &[2, 3], 100));
        x.matmul(&y).map(drop)
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("matmul: shape mismatch between [2, 3] and [2, 3]"),
        "{err}"
    );
}

#[test]
fn unknown_parties_are_named() {
    let err = run_local(3, cfg(3), |s| {
        share(&s, 0, &fixed(1, &[2], 10)).reveal_to(3).map(drop)
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "party 3 does not exist in a session of 3 parties"
    );
    let err = run_local(2, cfg(3), |s| s.share(&fixed(1, &[2], 10), 7).map(drop)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "party 7 does not exist in a session of 2 parties"
    );
    let err = run_local(2, cfg(3), |s| s.share_from(&[2], 16, s.party()).map(drop)).unwrap_err();
    assert!(err.to_string().contains("owns the input"), "{err}");
}

#[test]
fn local_truncation_with_three_parties_is_refused() {
    let config = SessionConfig {
        trunc: TruncMode::LocalProbabilistic,
        ..cfg(4)
    };
    let err = run_local(3, config, |_| Ok(())).unwrap_err();
    assert!(
        err.to_string().contains("only correct for 2 parties"),
        "{err}"
    );
}

#[test]
fn a_failing_party_is_reported_and_its_peers_do_not_hang() {
    let start = std::time::Instant::now();
    let err = run_local(3, cfg(5), |s| {
        let x = share(&s, 0, &fixed(1, &[8], 100));
        if s.party() == 2 {
            return Err(Error::InvalidArgument {
                op: "user program",
                reason: "party 2 gave up".into(),
            });
        }
        x.mul(&x).map(drop)
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("party 2 gave up"),
        "the root cause must be reported, got: {err}"
    );
    assert!(start.elapsed().as_secs() < 10);
}

/// Party 0's session against a hand-written party 1 that runs `script` on its end of the
/// link (it must answer the setup hello first), and the thread running it.
fn against_rogue_party_1(
    script: impl FnOnce(&mut LocalComm) + Send + 'static,
) -> (mpc::Result<Session>, std::thread::JoinHandle<LocalComm>) {
    let mut comms = LocalComm::mesh(2).unwrap().into_iter();
    let (c0, mut c1) = (comms.next().unwrap(), comms.next().unwrap());
    let mut clients = InsecureTestDealer::seeded(2, 6).clients().into_iter();
    let src0 = clients.next().unwrap();
    let rogue = std::thread::spawn(move || {
        let _ = c1.recv(0, "setup hello");
        script(&mut c1);
        c1
    });
    (Session::new(Box::new(c0), Box::new(src0), cfg(6)), rogue)
}

#[test]
fn a_malformed_frame_is_rejected_by_length() {
    // Party 1 is replaced by a hand-written peer that sends a short frame where a Beaver
    // opening is expected.
    let (s, rogue) = against_rogue_party_1(|c1| {
        // complete setup (hello, then the seed from party 0), then answer the opening with 3 bytes
        let hello = [mpc::session::PROTOCOL_VERSION, 2, 16, 0, 1, 1, 6, 0, 0];
        c1.send(0, mpc::comm::encode_u64s(&hello), "setup hello")
            .unwrap();
        let _ = c1.recv(0, "pairwise seed");
        c1.send(0, vec![1, 2, 3], "beaver open").unwrap();
    });
    let s = s.unwrap();
    let x = s
        .share(&RingTensor::from_i64(&[4], &[1, 2, 3, 4]).unwrap(), 0)
        .unwrap();
    let err = x.mul(&x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame from party 1 at step `beaver open` has 3 bytes, expected 64"
    );
    drop(rogue.join().unwrap());
}

#[test]
fn a_peer_of_another_protocol_version_is_named_as_such() {
    // a version-1 peer sends the 7-word hello of its time: the error is the version, not a
    // frame length
    let (s, old) = against_rogue_party_1(|c1| {
        let hello = [1, 2, 16, 0, 1, 1, 6];
        c1.send(0, mpc::comm::encode_u64s(&hello), "setup hello")
            .unwrap();
    });
    assert_eq!(
        s.unwrap_err().to_string(),
        format!(
            "party 1 runs with protocol version = 1, this party expects {}",
            mpc::session::PROTOCOL_VERSION
        )
    );
    drop(old.join().unwrap());
}

/// The setup errors of two parties, party `p` starting with `config(p)`.
fn setup_errors(config: impl Fn(usize) -> SessionConfig + Sync) -> Vec<String> {
    let comms = LocalComm::mesh(2).unwrap();
    let clients = InsecureTestDealer::seeded(2, 7).clients();
    std::thread::scope(|scope| {
        let hs: Vec<_> = comms
            .into_iter()
            .zip(clients)
            .map(|(c, src)| {
                let config = config(c.party());
                scope.spawn(move || {
                    Session::new(Box::new(c), Box::new(src), config)
                        .unwrap_err()
                        .to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn parties_with_different_settings_refuse_to_start() {
    let errs = setup_errors(|p| SessionConfig {
        frac_bits: if p == 0 { 16 } else { 20 },
        ..cfg(7)
    });
    assert_eq!(
        errs[0],
        "party 1 runs with fractional bits = 20, this party expects 16"
    );
    assert_eq!(
        errs[1],
        "party 0 runs with fractional bits = 16, this party expects 20"
    );
}

#[test]
fn parties_with_different_maximum_reductions_refuse_to_start() {
    // the two reductions issue different protocol calls, so they must agree up front
    let errs = setup_errors(|p| SessionConfig {
        max_reduction: if p == 0 {
            mpc::MaxReduction::AllPairs
        } else {
            mpc::MaxReduction::Tree
        },
        ..cfg(7)
    });
    assert_eq!(
        errs[0],
        "party 1 runs with maximum reduction = 1, this party expects 0"
    );
}

#[test]
fn a_fixed_test_seed_must_be_the_same_at_every_party() {
    for other in [None, Some(8)] {
        let errs = setup_errors(|p| SessionConfig {
            insecure_test_seed: if p == 0 { Some(7) } else { other },
            ..SessionConfig::default()
        });
        for e in &errs {
            assert!(e.contains("insecure test seed"), "{other:?}: {e}");
        }
    }
}

#[test]
fn a_failed_step_aborts_the_session_instead_of_reading_stale_frames() {
    let out = run_local(3, cfg(8), |s| {
        let x = share(&s, 0, &int_tensor(1, &[3], 10));
        // party 2 reveals a differently shaped tensor: every party sees a length error
        let bad = if s.party() == 2 {
            x.narrow(0, 0, 2)?
        } else {
            x.clone()
        };
        let first = bad.reveal().unwrap_err().to_string();
        let second = x.reveal().unwrap_err().to_string();
        Ok((first, second, s.is_aborted()))
    })
    .unwrap();
    for (first, second, aborted) in out {
        // A party whose peer already gave up may see the disconnect before the bad frame.
        assert!(
            first.contains("bytes, expected") || first.contains("disconnected"),
            "{first}"
        );
        assert_eq!(
            second,
            "the session was aborted by an earlier protocol failure"
        );
        assert!(aborted);
    }
}

#[test]
fn absurd_shapes_are_refused_before_allocating() {
    let err = run_local(2, cfg(9), |s| {
        let src = 1 - s.party();
        s.share_from(&[1 << 33, 1 << 33, 4], 16, src).map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("more than 2^36 elements"), "{err}");
}

#[test]
fn products_that_would_overflow_the_scale_are_refused() {
    let big = RingTensor::from_raw(&[2], vec![1, 2], 40).unwrap();
    let err = run_local(2, cfg(10), |s| {
        let x = s.share(&big, 0)?;
        x.mul(&x).map(drop)
    })
    .unwrap_err();
    assert!(err.to_string().contains("overflow the ring"), "{err}");
    let config = SessionConfig {
        frac_bits: 40,
        ..cfg(10)
    };
    assert!(
        run_local(2, config, |_| Ok(()))
            .unwrap_err()
            .to_string()
            .contains("headroom")
    );
}
