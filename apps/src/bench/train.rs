//! `umbra bench train`: end-to-end private ML workloads, measured like `bench ops` (best of
//! the repetitions after one warm-up, the slowest party's time, with and without the tuples
//! prefetched).
//!
//! - `mlp_784_128_10_sgd_step_b64`: one SGD step (forward, cross-entropy, backward, update)
//!   of a 784-128-10 MLP with ReLU on a batch of 64; the model from party 0, the images and
//!   one-hot labels from the last party.
//! - `lenet_inference_b64` and `_b1`: the LeNet of `umbra demo lenet` (trained weights) on 64
//!   and on 1 image of 28x28; the model from party 0, the images from the last party, the
//!   logits revealed to the images' owner.

use std::time::Instant;

use autograd::Var;
use mpc::{CompareMode, CrypTensor, LinkProfile, Session, SessionConfig, run_local_over};
use nn::init::Rng;
use nn::{Linear, Module, ReLU, Sequential, Sgd, cross_entropy};
use serde::Serialize;

use super::{PartyRun, WARMUP, best_time, gather};
use umbra::Encrypt;

/// One workload's result (one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct TrainRow {
    /// Workload name.
    pub name: String,
    /// Number of parties.
    pub parties: usize,
    /// `inproc`, `quic` or `tcp`.
    pub transport: &'static str,
    /// The emulated link (`none`, or round-trip time and bandwidth), in-process only.
    pub link: String,
    /// The comparison mode (`circuit` or `fss`).
    pub compare: &'static str,
    /// Batch size.
    pub batch: usize,
    /// Wall time with the dealer's work included (slowest party, best repetition), seconds.
    pub wall_s: f64,
    /// Wall time with the tuples prefetched: the online phase alone.
    pub online_wall_s: f64,
    /// Payload bytes sent by the busiest party.
    pub bytes_sent_per_party: u64,
    /// Frames sent by the busiest party.
    pub messages_per_party: u64,
    /// Communication rounds (most of any party).
    pub rounds: u64,
    /// Payload bytes the dealer sent the party that receives most (party 0), with the
    /// dealer's work included.
    pub dealer_bytes_per_party: u64,
    /// Trips to the dealer in that run.
    pub dealer_round_trips: u64,
    /// CrypTen's floor on this link (rounds times the one-way delay, plus its bytes where
    /// measured; [`super::peers`]), seconds; `null` without a link or a measurement.
    pub crypten_floor_s: Option<f64>,
    /// SPU's floor on this link, likewise.
    pub spu_floor_s: Option<f64>,
}

/// The workloads, in order.
pub const WORKLOADS: [&str; 3] = [
    "mlp_784_128_10_sgd_step_b64",
    "lenet_inference_b64",
    "lenet_inference_b1",
];

fn data(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.next_f64()).collect()
}

/// A party's input: its values at the owner, the shape elsewhere.
fn input(s: &Session, owner: usize, shape: &[usize], values: &[f64]) -> mpc::Result<CrypTensor> {
    if s.party() == owner {
        s.share_f64(shape, values, owner)
    } else {
        s.share_from(shape, s.config().frac_bits, owner)
    }
}

/// Times `step` on `s`: one warm-up that records its tuple requests, then `reps` timed runs,
/// each prefetching those requests first when `prefetch`.
fn measure(
    s: &Session,
    reps: usize,
    prefetch: bool,
    mut step: impl FnMut() -> mpc::Result<()>,
) -> mpc::Result<PartyRun> {
    let mut elapsed = Vec::with_capacity(reps);
    let mut requests = Vec::new();
    let mut stats = mpc::CommStats::default();
    let mut dealer = mpc::DealerStats::default();
    for rep in 0..WARMUP + reps {
        if prefetch && rep >= WARMUP {
            s.prefetch(&requests)?;
        }
        // one tiny round so that all parties start the clock together
        s.share_f64(&[1], &[0.0], 0)?.reveal()?;
        s.reset_stats();
        let t0 = Instant::now();
        let ((), made) = s.record_requests(&mut step)?;
        let t = t0.elapsed().as_secs_f64();
        if rep < WARMUP {
            requests = made;
        } else {
            elapsed.push(t);
        }
        stats = s.stats();
        dealer = s.dealer_stats();
    }
    Ok(PartyRun {
        elapsed,
        stats,
        dealer,
        revealed: Vec::new(),
    })
}

/// One party's measurement of workload `name` (with and without prefetching).
fn party_runs(s: &Session, name: &str, reps: usize) -> mpc::Result<(PartyRun, PartyRun)> {
    let last = s.n_parties() - 1;
    match name {
        "mlp_784_128_10_sgd_step_b64" => {
            let mut rng = Rng::new(5);
            let plain = Sequential::new(vec![
                Linear::init(784, 128, true, &mut rng)?.into(),
                ReLU.into(),
                Linear::init(128, 10, true, &mut rng)?.into(),
            ]);
            let mut model = plain.encrypt_trainable(s, 0)?;
            let x = Var::constant(input(s, last, &[64, 784], &data(6, 64 * 784, 0.0, 1.0))?);
            let mut onehot = vec![0.0; 640];
            for i in 0..64 {
                onehot[i * 10 + (i * 7) % 10] = 1.0;
            }
            let y = Var::constant(input(s, last, &[64, 10], &onehot)?);
            let mut opt = Sgd::new(0.05);
            let mut step = || -> mpc::Result<()> {
                let loss = cross_entropy(&model.forward(&x)?, &y)?;
                loss.backward()?;
                opt.step(&mut model.parameters_mut())?;
                Ok(())
            };
            Ok((
                measure(s, reps, false, &mut step)?,
                measure(s, reps, true, &mut step)?,
            ))
        }
        "lenet_inference_b64" | "lenet_inference_b1" => {
            let batch = if name.ends_with("b64") { 64 } else { 1 };
            let plain = if s.party() == 0 {
                crate::demo::lenet::trained_for_inference()
            } else {
                crate::demo::lenet::inference_architecture(0)
            };
            let model = plain.encrypt(s, 0)?;
            let x = input(
                s,
                last,
                &[batch, 1, 28, 28],
                &data(7, batch * 784, 0.0, 1.0),
            )?;
            let mut step = || -> mpc::Result<()> {
                model.forward(&x)?.reveal_to(last)?;
                Ok(())
            };
            Ok((
                measure(s, reps, false, &mut step)?,
                measure(s, reps, true, &mut step)?,
            ))
        }
        other => Err(mpc::Error::InvalidArgument {
            op: "bench train",
            reason: format!("unknown workload `{other}`"),
        }),
    }
}

fn row(
    name: &str,
    parties: usize,
    transport: &'static str,
    link: Option<LinkProfile>,
    compare: CompareMode,
    w: &[PartyRun],
    o: &[PartyRun],
) -> TrainRow {
    let most = |f: fn(&PartyRun) -> u64| w.iter().map(f).max().unwrap_or(0);
    let (crypten_floor_s, spu_floor_s) = super::peers::floors(name, 0, link);
    TrainRow {
        name: name.to_string(),
        parties,
        transport,
        link: super::link_name(link),
        compare: super::compare_name(compare),
        batch: if name.ends_with("b1") { 1 } else { 64 },
        wall_s: best_time(w),
        online_wall_s: best_time(o),
        bytes_sent_per_party: most(|r| r.stats.bytes_sent),
        messages_per_party: most(|r| r.stats.messages_sent),
        rounds: most(|r| r.stats.rounds),
        dealer_bytes_per_party: most(|r| r.dealer.bytes_received),
        dealer_round_trips: most(|r| r.dealer.round_trips),
        crypten_floor_s,
        spu_floor_s,
    }
}

fn selected(only: Option<&str>) -> Vec<&'static str> {
    WORKLOADS
        .into_iter()
        .filter(|n| only.is_none_or(|o| n.starts_with(o)))
        .collect()
}

/// Runs the workloads with `parties` in-process parties; `only` keeps the names that start
/// with it.
///
/// # Errors
/// A protocol failure.
pub fn train(
    parties: usize,
    only: Option<&str>,
    reps: usize,
    link: Option<LinkProfile>,
    compare: CompareMode,
    mut emit: impl FnMut(&TrainRow),
) -> mpc::Result<Vec<TrainRow>> {
    let mut rows = Vec::new();
    let config = SessionConfig {
        compare,
        ..SessionConfig::default()
    };
    for name in selected(only) {
        let runs = run_local_over(parties, config, link, |s| party_runs(&s, name, reps))?;
        let (w, o): (Vec<PartyRun>, Vec<PartyRun>) = runs.into_iter().unzip();
        let r = row(name, parties, "inproc", link, compare, &w, &o);
        emit(&r);
        rows.push(r);
    }
    Ok(rows)
}

/// [`train`] as one party of a networked session; rows are emitted at party 0 only.
///
/// # Errors
/// A protocol or network failure.
pub fn train_networked(
    s: &Session,
    transport: &'static str,
    only: Option<&str>,
    reps: usize,
    mut emit: impl FnMut(&TrainRow),
) -> mpc::Result<Vec<TrainRow>> {
    let mut rows = Vec::new();
    for name in selected(only) {
        let (w, o) = party_runs(s, name, reps)?;
        let (w, o) = (gather(s, w)?, gather(s, o)?);
        let r = row(
            name,
            s.n_parties(),
            transport,
            None,
            s.config().compare,
            &w,
            &o,
        );
        if s.party() == 0 {
            emit(&r);
        }
        rows.push(r);
    }
    Ok(rows)
}
