//! Communication pinned per op: every byte and round a protocol sends is counted, and a
//! regression in cost fails here.
//!
//! Costs per party with `n` parties (each sends to `n - 1` peers), 8-byte ring elements:
//! sharing 0; reveal `8|x|`; Beaver product `8(|x|+|y|)`; square `8|x|`; all in one round.
//! Every fixed-point product adds the exact dealer truncation, `8|z|` in one round, unless a
//! 2-party session opts into `TruncMode::LocalProbabilistic`.

mod common;

use common::*;
use mpc::{CommStats, CrypTensor, Session, run_local};
use tensor::{Conv2dParams, RingTensor};

/// [`cost`] in a 2-party session that opted into local truncation.
fn cost_local(
    inputs: &[RingTensor],
    op: impl Fn(&Session, &[CrypTensor]) -> mpc::Result<()> + Sync,
) -> Vec<CommStats> {
    cost_in(
        2,
        cfg_trunc(9, mpc::TruncMode::LocalProbabilistic),
        inputs,
        op,
    )
}

/// Runs `op` on every party after sharing `inputs`, returning each party's stats for `op` only.
fn cost(
    n: usize,
    inputs: &[RingTensor],
    op: impl Fn(&Session, &[CrypTensor]) -> mpc::Result<()> + Sync,
) -> Vec<CommStats> {
    cost_in(n, cfg(9), inputs, op)
}

fn cost_in(
    n: usize,
    config: mpc::SessionConfig,
    inputs: &[RingTensor],
    op: impl Fn(&Session, &[CrypTensor]) -> mpc::Result<()> + Sync,
) -> Vec<CommStats> {
    run_local(n, config, |s| {
        let xs: Vec<CrypTensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, x)| share(&s, i, x))
            .collect();
        s.reset_stats();
        op(&s, &xs)?;
        Ok(s.stats())
    })
    .unwrap()
}

fn each(stats: &[CommStats], bytes: u64, messages: u64, rounds: u64, what: &str) {
    for (p, st) in stats.iter().enumerate() {
        assert_eq!(
            (st.bytes_sent, st.messages_sent, st.rounds),
            (bytes, messages, rounds),
            "{what}: party {p}"
        );
    }
}

#[test]
fn sharing_an_input_sends_nothing() {
    for n in PARTY_COUNTS {
        let x = fixed(1, &[100], 1000);
        let stats = run_local(n, cfg(1), |s| {
            s.reset_stats();
            share(&s, 0, &x);
            Ok(s.stats())
        })
        .unwrap();
        each(&stats, 0, 0, 0, "share");
    }
}

#[test]
fn reveal_sends_each_share_once_per_peer() {
    for n in PARTY_COUNTS {
        let k = n as u64 - 1;
        let stats = cost(n, &[fixed(1, &[1000], 10)], |_, x| x[0].reveal().map(drop));
        each(&stats, 8000 * k, k, 1, "reveal");
    }
}

#[test]
fn reveal_to_one_party_costs_only_the_others() {
    let stats = cost(3, &[fixed(1, &[100], 10)], |_, x| {
        x[0].reveal_to(1).map(drop)
    });
    assert_eq!(
        stats[1],
        CommStats {
            bytes_sent: 0,
            bytes_received: 1600,
            messages_sent: 0,
            rounds: 0
        }
    );
    for p in [0, 2] {
        assert_eq!(
            (stats[p].bytes_sent, stats[p].messages_sent, stats[p].rounds),
            (800, 1, 1)
        );
    }
}

#[test]
fn opt_in_local_products_cost_one_round_of_their_operands() {
    let (a, b) = (fixed(1, &[1000], 1 << 20), fixed(2, &[1000], 1 << 20));
    each(
        &cost_local(&[a.clone(), b.clone()], |_, x| x[0].mul(&x[1]).map(drop)),
        16_000,
        1,
        1,
        "mul",
    );
    each(
        &cost_local(std::slice::from_ref(&a), |_, x| x[0].square().map(drop)),
        8_000,
        1,
        1,
        "square",
    );
    let v = fixed(3, &[10], 1 << 20);
    let m = fixed(4, &[100, 10], 1 << 20);
    each(
        &cost_local(&[m.clone(), v], |_, x| x[0].mul(&x[1]).map(drop)),
        8 * 1010,
        1,
        1,
        "broadcast mul",
    );
    // (n x k)(k x m): 8(nk + km)
    let (p, q) = (fixed(5, &[30, 20], 1 << 20), fixed(6, &[20, 7], 1 << 20));
    each(
        &cost_local(&[p.clone(), q.clone()], |_, x| x[0].matmul(&x[1]).map(drop)),
        8 * (600 + 140),
        1,
        1,
        "matmul",
    );
    // A parameter with a fixed mask: 8(nk + km) at its first product, 8nk after that.
    let fixed_cost = cost_local(&[p.clone(), q.clone()], |_, x| {
        let w = x[1].clone().fix_mask();
        x[0].matmul(&w)?;
        x[0].matmul(&w).map(drop)
    });
    each(
        &fixed_cost,
        8 * (600 + 140) + 8 * 600,
        2,
        2,
        "fixed-mask matmul twice",
    );
    let (img, w) = (
        fixed(7, &[4, 2, 9, 9], 1 << 20),
        fixed(8, &[3, 2, 3, 3], 1 << 20),
    );
    let conv = cost_local(&[img, w], |_, x| {
        x[0].conv2d(&x[1], &Conv2dParams::default()).map(drop)
    });
    each(&conv, 8 * (648 + 54), 1, 1, "conv2d");
    // Local truncation (powers of two): public products cost nothing. A mean over 10
    // elements divides by 10, which takes the dealer protocol: 8 bytes per output, one round.
    each(
        &cost_local(std::slice::from_ref(&m), |_, x| {
            x[0].mean(&[1], false).map(drop)
        }),
        800,
        1,
        1,
        "mean",
    );
    each(
        &cost_local(std::slice::from_ref(&m), |_, x| {
            x[0].mean(&[0, 1], false)?.div_int(8).map(drop)
        }),
        8,
        1,
        1,
        "mean of all, then a power-of-two division",
    );
    each(
        &cost_local(std::slice::from_ref(&a), |_, x| x[0].mul_f64(0.5).map(drop)),
        0,
        0,
        0,
        "mul by public",
    );
    each(
        &cost_local(&[a, b], |_, x| {
            x[0].add(&x[1])?.neg()?.sum(&[], false).map(drop)
        }),
        0,
        0,
        0,
        "linear ops",
    );
}

#[test]
fn exact_products_add_one_truncation_round() {
    let (a, b) = (fixed(1, &[1000], 1 << 20), fixed(2, &[1000], 1 << 20));
    // the default at 2 parties: open e and f (16000), then x + r (8000)
    each(
        &cost(2, &[a.clone(), b.clone()], |_, x| x[0].mul(&x[1]).map(drop)),
        24_000,
        2,
        2,
        "2-party mul",
    );
    let n = 3;
    // open e and f to 2 peers (2 * 16000), then open x + r to 2 peers (2 * 8000)
    each(
        &cost(n, &[a.clone(), b.clone()], |_, x| x[0].mul(&x[1]).map(drop)),
        48_000,
        4,
        2,
        "3-party mul",
    );
    each(
        &cost(n, std::slice::from_ref(&a), |_, x| x[0].square().map(drop)),
        32_000,
        4,
        2,
        "3-party square",
    );
    // a truncation fused with the square of its result: one opening of x + r to each peer
    for n in [2, 3] {
        each(
            &cost(n, std::slice::from_ref(&a), |s, x| {
                let CrypTensor::Private(sh) = &x[0] else {
                    unreachable!("a shared input")
                };
                mpc::protocols::truncate::truncate_and_square(s, sh.share(), 1 << 16).map(drop)
            }),
            8_000 * (n as u64 - 1),
            n as u64 - 1,
            1,
            "truncate_and_square",
        );
    }
    let (p, q) = (fixed(5, &[30, 20], 1 << 20), fixed(6, &[20, 7], 1 << 20));
    each(
        &cost(n, &[p, q], |_, x| x[0].matmul(&x[1]).map(drop)),
        2 * 8 * (600 + 140) + 2 * 8 * 210,
        4,
        2,
        "3-party matmul",
    );
    each(
        &cost(n, std::slice::from_ref(&a), |_, x| {
            x[0].mul_f64(0.5).map(drop)
        }),
        16_000,
        2,
        1,
        "3-party mul by public",
    );
    // integer operands need no truncation
    let (i, j) = (int_tensor(3, &[500], 100), int_tensor(4, &[500], 100));
    each(
        &cost(n, &[i, j], |_, x| x[0].mul(&x[1]).map(drop)),
        2 * 8000,
        2,
        1,
        "integer mul",
    );
}

/// What the dealer sends, per party: party 0 gets one correction word per element of each
/// correlated slot (Beaver `c`; the truncation pair `r / d` and `r`'s wrap bit), the others
/// nothing; one trip per tuple fetched on demand, one per prefetched batch.
#[test]
fn the_dealers_traffic_is_counted_at_party_0_only() {
    for n in PARTY_COUNTS {
        let (x, y) = (fixed(1, &[50], 100), fixed(2, &[50], 100));
        let got = run_local(n, cfg(11), |s| {
            let (a, b) = (share(&s, 0, &x), share(&s, 1, &y));
            s.reset_stats();
            let (_, reqs) = s.record_requests(|| a.mul(&b))?;
            let on_demand = s.dealer_stats();
            s.prefetch(&reqs)?;
            let after_prefetch = s.dealer_stats();
            a.mul(&b)?;
            let online = s.dealer_stats();
            s.reset_stats();
            Ok((
                on_demand,
                after_prefetch,
                online,
                s.dealer_stats(),
                reqs.len(),
            ))
        })
        .unwrap();
        // a triple, then a truncation pair for the exact truncation, at every party count
        let (tuples, words) = (2, 50 + 2 * 50);
        for (p, (on_demand, after_prefetch, online, reset, reqs)) in got.iter().enumerate() {
            let bytes = if p == 0 { 8 * words } else { 0 };
            assert_eq!(*reqs as u64, tuples, "{n} parties");
            assert_eq!(
                (
                    on_demand.bytes_received,
                    on_demand.tuples,
                    on_demand.round_trips
                ),
                (bytes, tuples, tuples),
                "{n} parties, party {p}, on demand"
            );
            assert_eq!(
                (after_prefetch.bytes_received, after_prefetch.round_trips),
                (2 * bytes, tuples + 1),
                "{n} parties, party {p}: one trip for the batch"
            );
            assert_eq!(
                online, after_prefetch,
                "prefetched tuples cost nothing more"
            );
            assert_eq!(*reset, mpc::DealerStats::default());
        }
    }
}
