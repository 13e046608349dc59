//! Bad input gets a clear error naming what was wrong: never a panic, a hang, or a wrong
//! number.

mod common;

use common::*;
use mpc::{Error, InsecureTestDealer, LocalComm, Session, SessionConfig, TruncMode, run_local};
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
        trunc: TruncMode::Local,
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

#[test]
fn a_malformed_frame_is_rejected_by_length() {
    // Party 1 is replaced by a hand-written peer that sends a short frame where a Beaver
    // opening is expected.
    let mut comms = LocalComm::mesh(2).unwrap().into_iter();
    let (c0, mut c1) = (comms.next().unwrap(), comms.next().unwrap());
    let mut clients = InsecureTestDealer::seeded(2, 6).clients().into_iter();
    let src0 = clients.next().unwrap();
    let rogue = std::thread::spawn(move || {
        use mpc::Comm;
        // complete the seed handshake, then answer the opening with 3 bytes
        let _ = c1.recv(0);
        let _ = c1.recv(0);
        c1.send(0, vec![1, 2, 3]).unwrap();
        c1
    });
    let s = Session::new(Box::new(c0), Box::new(src0), cfg(6)).unwrap();
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
