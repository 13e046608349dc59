//! Optimizers, as `torch.optim`: [`Sgd`] (momentum, dampening, weight decay, Nesterov) and
//! [`Adam`] (with bias correction).
//!
//! An optimizer steps `&mut [&mut Var<T>]` — a model's `parameters_mut()` — and keeps its
//! state (momentum buffers, moments) per parameter in that fixed order, as plain `T` (no
//! tape). A step replaces each parameter by a fresh leaf, which also clears its gradient.
//! Parameters without a gradient are left as they are. On secret shares every product with
//! a public hyper-parameter costs one truncation; Adam's square root and division are `mpc`'s
//! `inv_sqrt`.

use autograd::Var;
use tensor::{TensorExt, TensorOps};

use crate::layers::invalid;

/// Per-parameter state slots, checked against the number of parameters stepped.
fn slots<T>(state: &mut Vec<Option<T>>, n: usize, op: &'static str) -> Result<(), tensor::Error> {
    if state.is_empty() {
        state.resize_with(n, || None);
    }
    if state.len() != n {
        return Err(tensor::Error::InvalidArgument {
            op,
            reason: format!(
                "the optimizer holds state for {} parameters but was given {n}",
                state.len()
            ),
        });
    }
    Ok(())
}

/// Stochastic gradient descent, as `torch.optim.SGD`:
///
/// ```text
/// g = ∇p + weight_decay·p
/// b = g                                   (first step)
/// b = momentum·b + (1 - dampening)·g      (later steps)
/// g = g + momentum·b   (Nesterov)   or   g = b   (plain momentum)
/// p = p - lr·g
/// ```
///
/// With `momentum = 0` this is plain SGD, `p ← p - lr·(∇p + weight_decay·p)`.
#[derive(Debug, Clone)]
pub struct Sgd<T> {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening = 0`).
    pub nesterov: bool,
    buffers: Vec<Option<T>>,
}

impl<T: TensorOps> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            buffers: Vec::new(),
        }
    }

    /// The same optimizer with momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// The same optimizer with weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The same optimizer with Nesterov momentum.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// The same optimizer with dampening.
    pub fn with_dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Applies one step to parameters whose gradients [`Var::backward`] has filled, and
    /// starts them as fresh leaves. Collective in MPC: every party steps the same parameters.
    ///
    /// # Errors
    /// Nesterov without momentum or with dampening; a different number of parameters than
    /// the previous steps; for private tensors, network failures.
    pub fn step(&mut self, params: &mut [&mut Var<T>]) -> Result<(), T::Error> {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(invalid(
                "sgd",
                "Nesterov momentum needs momentum > 0 and zero dampening".into(),
            ));
        }
        slots(&mut self.buffers, params.len(), "sgd")?;
        // Every product with a public number below runs once for all parameters
        // (`scale_all`): one truncation round per kind of product, not one per parameter.
        let (live, mut grads): (Vec<usize>, Vec<T>) = params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.grad().map(|g| (i, g)))
            .unzip();
        let values: Vec<T> = live.iter().map(|&i| params[i].value().clone()).collect();
        if self.weight_decay != 0.0 {
            let decay = scale_all(&values.iter().collect::<Vec<_>>(), self.weight_decay)?;
            for (g, d) in grads.iter_mut().zip(decay) {
                *g = g.add(&d)?;
            }
        }
        if self.momentum != 0.0 {
            // b = g on a parameter's first step, else momentum·b + (1 - dampening)·g
            let old: Vec<(usize, T)> = live
                .iter()
                .enumerate()
                .filter_map(|(j, &i)| self.buffers[i].take().map(|b| (j, b)))
                .collect();
            let kept = scale_all(
                &old.iter().map(|(_, b)| b).collect::<Vec<_>>(),
                self.momentum,
            )?;
            let fresh: Vec<&T> = old.iter().map(|(j, _)| &grads[*j]).collect();
            let fresh = if self.dampening == 0.0 {
                fresh.into_iter().cloned().collect()
            } else {
                scale_all(&fresh, 1.0 - self.dampening)?
            };
            let mut bufs = grads.clone();
            for (((j, _), k), f) in old.iter().zip(kept).zip(fresh) {
                bufs[*j] = k.add(&f)?;
            }
            if self.nesterov {
                let ahead = scale_all(&bufs.iter().collect::<Vec<_>>(), self.momentum)?;
                for (g, a) in grads.iter_mut().zip(ahead) {
                    *g = g.add(&a)?;
                }
            } else {
                grads.clone_from(&bufs);
            }
            for (&i, b) in live.iter().zip(bufs) {
                self.buffers[i] = Some(b);
            }
        }
        let steps = scale_all(&grads.iter().collect::<Vec<_>>(), self.lr)?;
        for ((&i, v), d) in live.iter().zip(values).zip(steps) {
            *params[i] = Var::leaf(v.sub(&d)?);
        }
        Ok(())
    }
}

/// `c·t` for every tensor of `ts`, as one product with a public number: the tensors are laid
/// end to end, scaled together and cut apart again, so that a private backend truncates them
/// all in one round instead of one round each. The product is elementwise, so the values are
/// those of scaling each tensor on its own. Tensors that cannot be laid together (different
/// fixed-point scales) are scaled one by one; which path runs depends on public shapes and
/// scales only, so every party takes the same one.
fn scale_all<T: TensorOps>(ts: &[&T], c: f64) -> Result<Vec<T>, T::Error> {
    if ts.len() < 2 {
        return ts.iter().map(|t| t.mul_scalar(c)).collect();
    }
    let dims: Vec<Vec<usize>> = ts.iter().map(|t| t.dims()).collect();
    let flat = ts
        .iter()
        .zip(&dims)
        .map(|(t, d)| t.reshape(&[d.iter().product()]))
        .collect::<Result<Vec<T>, _>>()?;
    let Ok(all) = T::concat(&flat.iter().collect::<Vec<_>>(), 0) else {
        return ts.iter().map(|t| t.mul_scalar(c)).collect();
    };
    let all = all.mul_scalar(c)?;
    let mut at = 0;
    dims.iter()
        .map(|d| {
            let n: usize = d.iter().product();
            at += n;
            all.narrow(0, at - n, n)?.reshape(d)
        })
        .collect()
}

/// First moments are kept times this (a power of two: scaling is exact).
const M_SCALE: f64 = 64.0;
/// Gradients are multiplied by this before squaring, so second moments are kept times its
/// square, 1024.
const G_SCALE: f64 = 32.0;

/// Moment weights are rounded to multiples of `1/WEIGHT_GRID` (the default fixed-point ULP).
const WEIGHT_GRID: f64 = 65536.0;

/// Adam, as `torch.optim.Adam` with one deliberate difference, `ε` under the square root:
///
/// ```text
/// g = ∇p + weight_decay·p
/// m = β1·m + (1 - β1)·g,   v = β2·v + (1 - β2)·g²
/// m̂ = m/(1 - β1^t),        v̂ = v/(1 - β2^t)          (bias correction, t = step count)
/// p = p - lr·m̂/√(v̂ + ε)
/// ```
///
/// `1/√(v̂ + ε)` is one `inv_sqrt`, which on secret shares is accurate on `[0.01, 100]`:
/// with the default `ε = 0.01` the argument never falls below the domain, so the update stays
/// accurate for gradients up to about 10 in magnitude (PyTorch's `1/(√v̂ + 1e-8)` would need
/// a square root and a reciprocal far outside any fixed-point domain: at 16 fractional bits
/// `1e-8` and the `v` of a gradient below `0.004` are both zero). Gradients much smaller than
/// `√ε = 0.1` are then scaled like SGD's, by `lr/√ε`.
///
/// Fixed point shapes the bookkeeping, not the result: the moments are kept bias-corrected
/// (`m̂_t = a·m̂_{t-1} + (1-a)·g` with `a = β1(1 - β1^{t-1})/(1 - β1^t)`, and likewise `v̂`),
/// which is the same quantity in exact arithmetic but never divides a tiny `(1 - β2)·g²` by
/// `1 - β2^t`; and they are kept scaled by `2^6` and `2^10` (the gradient is doubled five times
/// before squaring), so that the floor of every fixed-point product, repeated at every step
/// with a weight `a` close to 1, does not pile up into a bias of hundreds of ULP in `v̂`. The
/// weights `a` are rounded to multiples of `2^-16`, so that `a` and `1 - a` are both encoded
/// exactly and sum to 1. The scaling bounds gradients to about `|g| < 1400` (the square of
/// the scaled gradient must fit the ring).
///
/// Every product with a public real (the learning rate, the weights) encodes it to the
/// nearest ULP first, a relative error of up to `2^-17/c` for a constant `c`: a learning rate
/// of `1e-3` acts as `0.00101`. This holds on plaintext and shares alike.
#[derive(Debug, Clone)]
pub struct Adam<T> {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to `v̂` under the square root.
    pub eps: f64,
    /// L2 penalty (added to the gradient, as `torch.optim.Adam`).
    pub weight_decay: f64,
    steps: u64,
    /// `(steps, m̂·2^6, v̂·2^10)` per parameter (steps count the parameter's own updates, as
    /// PyTorch's per-parameter `step`).
    moments: Vec<Option<(u64, T, T)>>,
}

impl<T: TensorOps> Adam<T> {
    /// Adam with learning rate `lr`, `betas = (0.9, 0.999)`, `eps = 0.01`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 0.01,
            weight_decay: 0.0,
            steps: 0,
            moments: Vec::new(),
        }
    }

    /// Calls to [`Adam::step`] so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies one step (see the type's docs) and starts the parameters as fresh leaves.
    /// Collective in MPC.
    ///
    /// # Errors
    /// Betas outside `[0, 1)` or a non-positive `eps`; a different number of parameters than
    /// the previous steps; for private tensors, network failures.
    pub fn step(&mut self, params: &mut [&mut Var<T>]) -> Result<(), T::Error> {
        let (b1, b2) = self.betas;
        if !(0.0..1.0).contains(&b1) || !(0.0..1.0).contains(&b2) || self.eps <= 0.0 {
            return Err(invalid(
                "adam",
                format!(
                    "betas {:?} must lie in [0, 1) and eps {} be positive",
                    self.betas, self.eps
                ),
            ));
        }
        slots(&mut self.moments, params.len(), "adam")?;
        self.steps += 1;
        for (p, state) in params.iter_mut().zip(self.moments.iter_mut()) {
            let Some(mut g) = p.grad() else { continue };
            let value = p.value();
            if self.weight_decay != 0.0 {
                g = g.add(&value.mul_scalar(self.weight_decay)?)?;
            }
            let gm = g.mul_scalar(M_SCALE)?;
            let gs = g.mul_scalar(G_SCALE)?;
            let g2 = gs.mul(&gs)?;
            let (t, m, v) = match state.take() {
                None => (1, gm, g2),
                Some((prev, m, v)) => {
                    let t = prev + 1;
                    // weight of the previous bias-corrected moment, β(1 - β^{t-1})/(1 - β^t),
                    // on the 2^-16 grid, so that it and its complement are both encoded
                    // exactly and sum to exactly 1 (an average stays an average)
                    let keep = |b: f64| {
                        let a = b * (1.0 - b.powi(prev as i32)) / (1.0 - b.powi(t as i32));
                        (a * WEIGHT_GRID).round() / WEIGHT_GRID
                    };
                    let (a1, a2) = (keep(b1), keep(b2));
                    (
                        t,
                        m.mul_scalar(a1)?.add(&gm.mul_scalar(1.0 - a1)?)?,
                        v.mul_scalar(a2)?.add(&g2.mul_scalar(1.0 - a2)?)?,
                    )
                }
            };
            let denom = v
                .mul_scalar(1.0 / (G_SCALE * G_SCALE))?
                .add_scalar(self.eps)?
                .inv_sqrt()?;
            let update = m
                .mul(&denom)?
                .mul_scalar(self.lr)?
                .mul_scalar(1.0 / M_SCALE)?;
            **p = Var::leaf(value.sub(&update)?);
            *state = Some((t, m, v));
        }
        Ok(())
    }
}
