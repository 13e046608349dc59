//! Demos run by `umbra demo NAME`.

use std::fmt::Write as _;

use mpc::{CommStats, SessionConfig, run_local};
use tensor::RingTensor;

/// What the matmul demo produced.
#[derive(Debug, Clone)]
pub struct MatmulDemo {
    /// Number of parties.
    pub parties: usize,
    /// The product each party revealed (all equal).
    pub revealed: Vec<f64>,
    /// The plaintext product computed in `f64`.
    pub plaintext: Vec<f64>,
    /// Shape of the product.
    pub shape: Vec<usize>,
    /// Largest absolute difference between the two.
    pub max_abs_err: f64,
    /// Party 0's communication for the private matmul and the reveal.
    pub stats: CommStats,
}

impl MatmulDemo {
    /// A human-readable report.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let _ = writeln!(
            s,
            "{} in-process parties: A (party 0's secret, {}x{}) times B (party 1's secret, {}x{})",
            self.parties, rows, 3, 3, cols
        );
        let _ = writeln!(
            s,
            "{:>28}   {:>28}",
            "revealed private product", "plaintext f64 product"
        );
        for r in 0..rows {
            let row = |v: &[f64]| {
                v[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|x| format!("{x:9.4}"))
                    .collect::<Vec<_>>()
                    .join("")
            };
            let _ = writeln!(
                s,
                "{:>28}   {:>28}",
                row(&self.revealed),
                row(&self.plaintext)
            );
        }
        let _ = writeln!(
            s,
            "max |error| = {:.2e} (fixed point, 16 fractional bits); party 0 sent {} bytes in {} messages over {} rounds",
            self.max_abs_err, self.stats.bytes_sent, self.stats.messages_sent, self.stats.rounds
        );
        s
    }
}

/// Secret-shares a 4x3 matrix from party 0 and a 3x2 matrix from party 1 among `parties`
/// in-process parties, multiplies them privately and reveals the product.
///
/// # Errors
/// Fewer than two parties, or a protocol failure.
pub fn matmul(parties: usize) -> mpc::Result<MatmulDemo> {
    let a = [
        1.5, -2.0, 0.25, 3.0, 0.5, -1.0, -0.75, 2.5, 4.0, 0.1, 0.2, -0.3,
    ];
    let b = [2.0, -1.0, 0.5, 0.25, -1.5, 3.0];
    let (rows, inner, cols) = (4, 3, 2);
    let results = run_local(parties, SessionConfig::default(), |ctx| {
        // Only the owner's values are used; everyone else passes the shape alone.
        let x = if ctx.party() == 0 {
            ctx.share_f64(&[rows, inner], &a, 0)?
        } else {
            ctx.share_from(&[rows, inner], 16, 0)?
        };
        let w = if ctx.party() == 1 {
            ctx.share_f64(&[inner, cols], &b, 1)?
        } else {
            ctx.share_from(&[inner, cols], 16, 1)?
        };
        ctx.reset_stats();
        let y = x.matmul(&w)?;
        let revealed = y.reveal_f64()?;
        Ok((revealed, ctx.stats()))
    })?;
    let plain = RingTensor::from_f64(&[rows, inner], &a, 16)?.to_f64();
    let plain_b = RingTensor::from_f64(&[inner, cols], &b, 16)?.to_f64();
    let mut plaintext = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            plaintext[r * cols + c] = (0..inner)
                .map(|k| plain[r * inner + k] * plain_b[k * cols + c])
                .sum();
        }
    }
    let (revealed, stats) = results[0].clone();
    let max_abs_err = revealed
        .iter()
        .zip(&plaintext)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    Ok(MatmulDemo {
        parties,
        revealed,
        plaintext,
        shape: vec![rows, cols],
        max_abs_err,
        stats,
    })
}
