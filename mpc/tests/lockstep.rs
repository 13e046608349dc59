//! The same-order rule: every party issues the same tuple requests in the same order, and
//! every frame a party sends is received by its peer, in order and with the same length.
//! Recorded transcripts of a mixed program must line up across parties.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use mpc::{Comm, InsecureTestDealer, LocalComm, Session, TripleSource, TupleRequest};
use tensor::{Conv2dParams, RingTensor};

type Log<T> = Arc<Mutex<Vec<T>>>;

struct RecordingSource<S> {
    inner: S,
    log: Log<TupleRequest>,
}

impl<S: TripleSource> TripleSource for RecordingSource<S> {
    fn fetch(&mut self, req: &TupleRequest) -> mpc::Result<Vec<RingTensor>> {
        self.log.lock().unwrap().push(req.clone());
        self.inner.fetch(req)
    }
}

/// (sent?, peer, length)
struct RecordingComm<C> {
    inner: C,
    log: Log<(bool, usize, usize)>,
}

impl<C: Comm> Comm for RecordingComm<C> {
    fn party(&self) -> usize {
        self.inner.party()
    }
    fn n_parties(&self) -> usize {
        self.inner.n_parties()
    }
    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> mpc::Result<()> {
        self.log.lock().unwrap().push((true, to, frame.len()));
        self.inner.send(to, frame, step)
    }
    fn recv(&mut self, from: usize, step: &'static str) -> mpc::Result<Vec<u8>> {
        let f = self.inner.recv(from, step)?;
        self.log.lock().unwrap().push((false, from, f.len()));
        Ok(f)
    }
}

fn program(s: &Session) -> mpc::Result<()> {
    let x = share(s, 0, &fixed(1, &[4, 6], 1 << 20));
    let y = share(s, 1, &fixed(2, &[6, 3], 1 << 20));
    let z = x.matmul(&y)?.square()?;
    let w = z.mul(&z.sum(&[1], true)?)?.mean(&[0], false)?;
    let img = share(s, 2, &fixed(3, &[1, 2, 5, 5], 1 << 20));
    let k = share(s, 0, &fixed(4, &[2, 2, 3, 3], 1 << 20));
    let c = img.conv2d(&k, &Conv2dParams::default())?;
    // a parameter with a fixed mask: FixedB triples, its mask opened at the first product
    let fixed_w = share(s, 1, &fixed(6, &[6, 3], 1 << 20)).fix_mask();
    x.matmul(&fixed_w)?
        .add(&x.square()?.matmul(&fixed_w)?)?
        .reveal()?;
    w.reveal()?;
    c.reveal_to(1)?;
    Ok(())
}

/// Comparisons, maxima and the functions on them: in the FSS mode, the tuple kinds whose
/// keys reach every party.
fn comparing(s: &Session) -> mpc::Result<()> {
    let x = share(s, 0, &fixed(5, &[2, 3, 4, 4], 1 << 20));
    let pooled = x.relu()?.max_pool2d(&tensor::Pool2dParams::square(2))?;
    let (best, index) = pooled.reshape(&[6, 4])?.max_with_indices(1, false)?;
    let y = x.sigmoid()?.add(&x.abs()?)?;
    x.ltz()?.reveal()?;
    best.reveal()?;
    index.reveal_to(1)?;
    y.reveal()?;
    Ok(())
}

#[test]
fn all_parties_issue_the_same_calls_in_the_same_order() {
    let fss = mpc::SessionConfig {
        compare: mpc::CompareMode::Fss,
        ..cfg(6)
    };
    type Program = fn(&Session) -> mpc::Result<()>;
    let runs: [(usize, mpc::SessionConfig, Program); 4] = [
        (2, cfg(6), program),
        (3, cfg(6), program),
        (2, cfg(6), comparing),
        (2, fss, comparing),
    ];
    for (n, config, run) in runs {
        let dealer = InsecureTestDealer::seeded(n, 5);
        let comms = LocalComm::mesh(n).unwrap();
        let req_logs: Vec<Log<TupleRequest>> = (0..n).map(|_| Log::default()).collect();
        let msg_logs: Vec<Log<(bool, usize, usize)>> = (0..n).map(|_| Log::default()).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = comms
                .into_iter()
                .zip(dealer.clients())
                .enumerate()
                .map(|(p, (comm, src))| {
                    let comm = RecordingComm {
                        inner: comm,
                        log: msg_logs[p].clone(),
                    };
                    let src = RecordingSource {
                        inner: src,
                        log: req_logs[p].clone(),
                    };
                    scope.spawn(move || {
                        let s = Session::new(Box::new(comm), Box::new(src), config)?;
                        run(&s)
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
        let reqs: Vec<Vec<TupleRequest>> =
            req_logs.iter().map(|l| l.lock().unwrap().clone()).collect();
        assert!(!reqs[0].is_empty());
        let keyed = reqs[0].iter().any(|r| {
            matches!(
                r,
                TupleRequest::FssSign { .. } | TupleRequest::FssRelu { .. }
            )
        });
        assert_eq!(keyed, config.compare == mpc::CompareMode::Fss);
        for p in 1..n {
            assert_eq!(
                reqs[p], reqs[0],
                "party {p} asked the dealer for different tuples (n={n})"
            );
        }
        let msgs: Vec<Vec<(bool, usize, usize)>> =
            msg_logs.iter().map(|l| l.lock().unwrap().clone()).collect();
        for a in 0..n {
            for b in (0..n).filter(|&b| b != a) {
                let sent: Vec<usize> = msgs[a]
                    .iter()
                    .filter(|m| m.0 && m.1 == b)
                    .map(|m| m.2)
                    .collect();
                let got: Vec<usize> = msgs[b]
                    .iter()
                    .filter(|m| !m.0 && m.1 == a)
                    .map(|m| m.2)
                    .collect();
                assert_eq!(sent, got, "frames {a} -> {b} do not line up (n={n})");
            }
        }
    }
}
