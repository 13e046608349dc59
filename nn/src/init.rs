//! Parameter initialisers, as `torch.nn.init`, producing plaintext [`RingTensor`]s from a
//! seeded [`Rng`] (a model is initialised by its owner, then shared; see `MapParams`).
//!
//! ```
//! use nn::init::{Rng, kaiming_uniform};
//! let mut rng = Rng::new(7);
//! let w = kaiming_uniform(&[4, 9], &mut rng)?;        // bound 1/√9
//! assert!(w.to_f64().iter().all(|v| v.abs() <= 1.0 / 3.0));
//! # Ok::<(), tensor::Error>(())
//! ```

use tensor::{DEFAULT_FRAC_BITS, RingTensor};

/// A small seeded generator (splitmix64): reproducible initialisation without a dependency.
/// Not for cryptographic use; secret randomness comes from the mpc crate.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform real in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal real (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64(); // (0, 1]
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn from_fn(shape: &[usize], mut f: impl FnMut() -> f64) -> tensor::Result<RingTensor> {
    let n = tensor::shape::checked_numel("init", shape)?;
    let v: Vec<f64> = (0..n).map(|_| f()).collect();
    RingTensor::from_f64(shape, &v, DEFAULT_FRAC_BITS)
}

/// Uniform in `[lo, hi)` (`torch.nn.init.uniform_`).
///
/// # Errors
/// A shape too large, or bounds that cannot be encoded.
pub fn uniform(shape: &[usize], lo: f64, hi: f64, rng: &mut Rng) -> tensor::Result<RingTensor> {
    from_fn(shape, || lo + (hi - lo) * rng.next_f64())
}

/// Normal with the given mean and standard deviation (`torch.nn.init.normal_`).
///
/// # Errors
/// A shape too large, or values that cannot be encoded.
pub fn normal(shape: &[usize], mean: f64, std: f64, rng: &mut Rng) -> tensor::Result<RingTensor> {
    from_fn(shape, || mean + std * rng.next_normal())
}

/// All equal to `v` (`torch.nn.init.constant_`; zeros and ones are `v = 0, 1`).
///
/// # Errors
/// A shape too large, or `v` cannot be encoded.
pub fn constant(shape: &[usize], v: f64) -> tensor::Result<RingTensor> {
    from_fn(shape, || v)
}

/// PyTorch's fan-in and fan-out of a weight: `[out, in]` gives `(in, out)`; a convolution
/// weight `[out, in, k...]` multiplies both by the receptive field size.
///
/// # Errors
/// Fewer than 2 dimensions.
pub fn fans(shape: &[usize]) -> tensor::Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(tensor::Error::InvalidArgument {
            op: "init",
            reason: format!("fan in and fan out need at least 2 dimensions, got {shape:?}"),
        });
    }
    let field: usize = shape[2..].iter().product();
    Ok((shape[1] * field, shape[0] * field))
}

/// `1/√fan_in`: the bound of PyTorch's default initialisation of `Linear` and `Conv2d`
/// weights and biases.
///
/// # Errors
/// Fewer than 2 dimensions or a zero fan-in.
pub fn fan_in_bound(shape: &[usize]) -> tensor::Result<f64> {
    let (fan_in, _) = fans(shape)?;
    if fan_in == 0 {
        return Err(tensor::Error::InvalidArgument {
            op: "init",
            reason: format!("zero fan-in for shape {shape:?}"),
        });
    }
    Ok(1.0 / (fan_in as f64).sqrt())
}

/// PyTorch's default weight initialisation, `kaiming_uniform_(w, a=√5)`: uniform in
/// `±√(6/((1 + a²)·fan_in)) = ±1/√fan_in`.
///
/// # Errors
/// As [`fan_in_bound`].
pub fn kaiming_uniform(shape: &[usize], rng: &mut Rng) -> tensor::Result<RingTensor> {
    let b = fan_in_bound(shape)?;
    uniform(shape, -b, b, rng)
}

/// `xavier_uniform_(w, gain)`: uniform in `±gain·√(6/(fan_in + fan_out))`.
///
/// # Errors
/// As [`fans`].
pub fn xavier_uniform(shape: &[usize], gain: f64, rng: &mut Rng) -> tensor::Result<RingTensor> {
    let (fan_in, fan_out) = fans(shape)?;
    let b = gain * (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    uniform(shape, -b, b, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&[3, 5]).unwrap(), (5, 3));
        assert_eq!(fans(&[8, 4, 3, 3]).unwrap(), (36, 72));
        assert!(fans(&[3]).is_err());
    }

    #[test]
    fn draws_are_reproducible_and_in_range() {
        let a = uniform(&[100], -0.5, 0.25, &mut Rng::new(1)).unwrap();
        assert_eq!(a, uniform(&[100], -0.5, 0.25, &mut Rng::new(1)).unwrap());
        assert!(a.to_f64().iter().all(|&v| (-0.5..=0.25).contains(&v)));
        let n = normal(&[4000], 1.0, 2.0, &mut Rng::new(2))
            .unwrap()
            .to_f64();
        let mean = n.iter().sum::<f64>() / 4000.0;
        let var = n.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4000.0;
        assert!(
            (mean - 1.0).abs() < 0.1 && (var.sqrt() - 2.0).abs() < 0.1,
            "{mean} {var}"
        );
        let x = xavier_uniform(&[10, 20], 1.0, &mut Rng::new(3)).unwrap();
        assert!(x.to_f64().iter().all(|v| v.abs() <= (6.0f64 / 30.0).sqrt()));
    }
}
