//! Small party programs that the multi-process tests and the examples run, and that the
//! in-process tests run too, so the two can be compared exactly.

use mpc::Session;

/// Deterministic inputs in `[-2, 2)` (a fixed function of the index).
fn values(n: usize, salt: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (((i * 37 + salt * 11) % 64) as f64 - 32.0) / 16.0)
        .collect()
}

/// `relu(X·W)` with `X` (4x6) from party 0 and `W` (6x5) from party 1, revealed to all.
///
/// # Errors
/// A protocol or network failure.
pub fn matmul_relu(s: &Session) -> mpc::Result<Vec<f64>> {
    let x = s.share_f64(&[4, 6], &values(24, 1), 0)?;
    let w = s.share_f64(&[6, 5], &values(30, 2), 1)?;
    let y = x.matmul(&w)?;
    let (r, _) = y.relu_with_mask()?;
    Ok(r.reveal_f64()?.into_vec())
}

/// A private elementwise product of party 0's and party 1's vectors, revealed: one Beaver
/// round, used by the fault tests as "the protocol step".
///
/// # Errors
/// A protocol or network failure.
pub fn one_mul(s: &Session) -> mpc::Result<Vec<f64>> {
    let a = s.share_f64(&[64], &values(64, 3), 0)?;
    let b = s.share_f64(&[64], &values(64, 4), 1)?;
    Ok(a.mul(&b)?.reveal_f64()?.into_vec())
}
