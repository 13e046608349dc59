//! In-process parties: every party on its own thread, linked by channels, with the
//! [`InsecureTestDealer`]. This is how the tests, doctests and the quick demo run; real
//! deployments use separate processes (crate `party`).

use std::time::Instant;

use crate::comm::{Comm, EmulatedComm, LinkProfile, LocalComm};
use crate::error::{Error, Result};
use crate::provider::{EmulatedSource, InsecureTestDealer, TripleSource};
use crate::session::{Session, SessionConfig};

/// Runs `program` once per party, each on its own thread with its own [`Session`], and returns
/// the parties' results in party order.
///
/// With `config.insecure_test_seed` set, every seed (pairwise and dealer) is derived from it,
/// so runs reproduce; otherwise seeds come from the OS RNG.
///
/// # Errors
/// Fewer than two parties, or the first error any party returned (an error that is only a
/// consequence of another party's failure, such as a disconnect, is reported last).
///
/// # Examples
/// ```
/// let sums = mpc::run_local(2, mpc::SessionConfig::default(), |s| Ok(s.party() + s.n_parties()))?;
/// assert_eq!(sums, vec![2, 3]);
/// # Ok::<(), mpc::Error>(())
/// ```
pub fn run_local<T, F>(n: usize, config: SessionConfig, program: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(Session) -> Result<T> + Sync,
{
    run_local_over(n, config, None, program)
}

/// [`run_local`] with every link emulated as `link` (round-trip time and bandwidth, between
/// the parties and from the dealer to party 0): what a run would take between sites, for
/// benchmarks. `None` is [`run_local`].
///
/// # Errors
/// As [`run_local`].
pub fn run_local_over<T, F>(
    n: usize,
    config: SessionConfig,
    link: Option<LinkProfile>,
    program: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(Session) -> Result<T> + Sync,
{
    if n < 2 {
        return Err(Error::TooFewParties(n));
    }
    let dealer = match config.insecure_test_seed {
        Some(seed) => InsecureTestDealer::seeded(n, seed),
        None => InsecureTestDealer::new(n)?,
    };
    // Kernels keep their default of every core per party: measured on 2 cores, capping each
    // of 2 parties at one core slowed a 1024^3 private matmul from 0.44 s to 0.55 s, because
    // whichever party is not waiting (the dealer's GEMM runs on party 0) then leaves a core idle.
    let comms = LocalComm::mesh(n)?;
    let epoch = Instant::now();
    let results: Vec<Result<T>> = std::thread::scope(|scope| {
        let handles: Vec<_> = comms
            .into_iter()
            .zip(dealer.clients())
            .enumerate()
            .map(|(party, (comm, source))| {
                let program = &program;
                std::thread::Builder::new()
                    .name(format!("party-{party}"))
                    .spawn_scoped(scope, move || {
                        let (comm, source): (Box<dyn Comm>, Box<dyn TripleSource>) = match link {
                            None => (Box::new(comm), Box::new(source)),
                            Some(l) => (
                                Box::new(EmulatedComm::new(comm, l, epoch)),
                                Box::new(EmulatedSource::new(source, party, l)),
                            ),
                        };
                        let session = Session::new(comm, source, config)?;
                        program(session)
                    })
                    .expect("spawn party thread")
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(party, h)| h.join().unwrap_or(Err(Error::PartyPanicked(party))))
            .collect()
    });
    let mut first_consequence = None;
    let mut out = Vec::with_capacity(n);
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(e @ (Error::Disconnected { .. } | Error::Timeout { .. })) => {
                first_consequence.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_consequence {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// [`run_local`] with reproducible seeds: the test helper. Every seed is derived from a fixed
/// value, so a failing test fails the same way again. **Tests only.**
///
/// # Errors
/// As [`run_local`].
///
/// # Examples
/// ```
/// let out = mpc::run_parties(3, |ctx| ctx.share_f64(&[1], &[2.5], 0)?.square()?.reveal_f64())?;
/// assert_eq!(out[1], vec![6.25]);
/// # Ok::<(), mpc::Error>(())
/// ```
pub fn run_parties<T, F>(n: usize, program: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(Session) -> Result<T> + Sync,
{
    run_local(
        n,
        SessionConfig {
            insecure_test_seed: Some(0x0075_6d62_7261),
            ..SessionConfig::default()
        },
        program,
    )
}
