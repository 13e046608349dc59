//! Data ownership helpers (vertical and horizontal splits) and the loader whose batch order
//! no party knows, for 2 and 3 parties.

use umbra::loader::{Block, Loader, Shuffle, horizontal, share_block, vertical};
use umbra::mpc::run_parties;
use umbra::{CrypTensor, Session};

/// Values only at the owner: everyone else passes `None`, as a real party would.
fn mine<'a>(s: &Session, owner: usize, v: &'a [f64]) -> Option<&'a [f64]> {
    (s.party() == owner).then_some(v)
}

#[test]
fn vertical_split_puts_each_owners_columns_side_by_side() {
    // party 0: two feature columns, party 1: one more feature, last party: the label
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [0.5, -0.5, 1.5];
    let y = [1.0, 0.0, 1.0];
    for n in [2, 3] {
        let out = run_parties(n, |s| {
            let t = vertical(
                &s,
                &[
                    Block::new(0, 3, 2, mine(&s, 0, &a)),
                    Block::new(1, 3, 1, mine(&s, 1, &b)),
                    Block::new(n - 1, 3, 1, mine(&s, n - 1, &y)),
                ],
            )?;
            assert_eq!(t.shape(), &[3, 4]);
            t.reveal_f64()
        })
        .unwrap();
        let want = vec![1.0, 2.0, 0.5, 1.0, 3.0, 4.0, -0.5, 0.0, 5.0, 6.0, 1.5, 1.0];
        for o in out {
            assert_eq!(o, want, "n={n}");
        }
    }
}

#[test]
fn horizontal_split_stacks_each_owners_rows() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0];
    for n in [2, 3] {
        let out = run_parties(n, |s| {
            let t = horizontal(
                &s,
                &[
                    Block::new(1, 2, 2, mine(&s, 1, &a)),
                    Block::new(0, 1, 2, mine(&s, 0, &b)),
                ],
            )?;
            // sharing is free: nothing was sent
            assert_eq!(s.stats().bytes_sent, 0);
            t.reveal_f64()
        })
        .unwrap();
        assert_eq!(out[0], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}

#[test]
fn blocks_that_do_not_line_up_or_lack_values_are_refused() {
    let out = run_parties(2, |s| {
        let misaligned = vertical(
            &s,
            &[
                Block::new(0, 3, 1, Some(&[1.0; 3])),
                Block::new(1, 2, 1, Some(&[1.0; 2])),
            ],
        )
        .unwrap_err()
        .to_string();
        let missing = share_block(&s, &Block::new(s.party(), 1, 1, None))
            .unwrap_err()
            .to_string();
        let short = share_block(&s, &Block::new(s.party(), 2, 2, Some(&[1.0])))
            .unwrap_err()
            .to_string();
        let stranger = share_block(&s, &Block::new(5, 1, 1, None))
            .unwrap_err()
            .to_string();
        Ok((misaligned, missing, short, stranger))
    })
    .unwrap();
    let (misaligned, missing, short, stranger) = &out[0];
    assert!(misaligned.contains("do not line up"), "{misaligned}");
    assert!(missing.contains("gave no values"), "{missing}");
    assert!(short.contains("needs 4 values"), "{short}");
    assert!(stranger.contains('5'), "{stranger}");
}

const ROWS: usize = 11;

/// Row `i` is `(i, 10 i)` from party 0 and label `i + 0.5` from the last party; the loader
/// must keep them aligned.
fn table(s: &Session) -> umbra::mpc::Result<(CrypTensor, CrypTensor)> {
    let last = s.n_parties() - 1;
    let x: Vec<f64> = (0..ROWS)
        .flat_map(|i| [i as f64, 10.0 * i as f64])
        .collect();
    let y: Vec<f64> = (0..ROWS).map(|i| i as f64 + 0.5).collect();
    Ok((
        share_block(s, &Block::new(0, ROWS, 2, mine(s, 0, &x)))?,
        share_block(s, &Block::new(last, ROWS, 1, mine(s, last, &y)))?,
    ))
}

/// The row order of each epoch, checking alignment and batch sizes on the way.
fn orders(batches: &[Vec<Vec<CrypTensor>>]) -> Vec<Vec<usize>> {
    batches
        .iter()
        .map(|epoch| {
            let mut order = Vec::new();
            for (k, b) in epoch.iter().enumerate() {
                assert_eq!(b.len(), 2);
                let want = if k + 1 < epoch.len() { 4 } else { ROWS % 4 };
                assert_eq!(b[0].shape(), &[want, 2]);
                let x = b[0].reveal_f64().unwrap();
                let y = b[1].reveal_f64().unwrap();
                for (r, lab) in x.chunks(2).zip(&y) {
                    let i = r[0] as usize;
                    assert_eq!((r[1], *lab), (10.0 * i as f64, i as f64 + 0.5));
                    order.push(i);
                }
            }
            order
        })
        .collect()
}

#[test]
fn private_loader_visits_every_row_exactly_once_per_epoch() {
    for n in [2, 3] {
        let out = run_parties(n, |s| {
            let (x, y) = table(&s)?;
            let mut loader =
                Loader::with_seed(&s, &[&x, &y], 4, Shuffle::Private, 100 + s.party() as u64)?;
            assert_eq!(loader.batches_per_epoch(), 3);
            let epochs = vec![loader.epoch()?, loader.epoch()?];
            Ok(orders(&epochs))
        })
        .unwrap();
        let epochs = &out[0];
        for order in epochs {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..ROWS).collect::<Vec<_>>(), "n={n}: {order:?}");
        }
        assert_ne!(epochs[0], (0..ROWS).collect::<Vec<_>>(), "n={n}");
        assert_ne!(epochs[0], epochs[1], "n={n}: a fresh order every epoch");
    }
}

#[test]
fn in_order_loader_keeps_the_stored_order_and_sends_nothing() {
    let out = run_parties(2, |s| {
        let (x, y) = table(&s)?;
        let mut loader = Loader::with_seed(&s, &[&x, &y], 4, Shuffle::InOrder, 1)?;
        let e = loader.epoch()?;
        let sent = s.stats().bytes_sent;
        Ok((orders(&[e]), sent))
    })
    .unwrap();
    assert_eq!(out[0].0[0], (0..ROWS).collect::<Vec<_>>());
    // the reveals in `orders` ran after the count
    assert_eq!(out[0].1, 0);
}

/// The epoch's order with party `k`'s seed changed (`k = None`: no change).
fn order_with(n: usize, k: Option<usize>) -> (Vec<usize>, u64) {
    let out = run_parties(n, |s| {
        let (x, y) = table(&s)?;
        let seed = 7 + s.party() as u64 + if Some(s.party()) == k { 1000 } else { 0 };
        let mut loader = Loader::with_seed(&s, &[&x, &y], 4, Shuffle::Private, seed)?;
        s.reset_stats();
        let e = loader.epoch()?;
        let sent = s.stats().bytes_sent;
        Ok((orders(&[e]).remove(0), sent))
    })
    .unwrap();
    out.into_iter().next().unwrap()
}

#[test]
fn the_order_depends_on_every_partys_secret_and_only_masked_values_travel() {
    for n in [2, 3] {
        let (base, sent) = order_with(n, None);
        // Each party's own permutation changes the order, so no coalition that lacks any one
        // party's secret can tell the order.
        for k in 0..n {
            assert_ne!(order_with(n, Some(k)).0, base, "n={n}: party {k}'s seed");
        }
        // What is sent is exactly the Beaver openings of one [rows, rows] x [rows, 3] product
        // per party: masked values, nothing else (no truncation: the permutation is integer).
        let per_product = 8 * (ROWS * ROWS + ROWS * 3) * (n - 1);
        assert_eq!(sent, (n * per_product) as u64, "n={n}");
    }
}
