//! Composition beyond a chain: [`Residual`] (`y = x + f(x)`, a ResNet block, a transformer
//! sub-layer) and [`Branches`] (several modules on the same input, joined by a sum or a
//! concatenation: inception blocks, multi-head layers, gates).
//!
//! Both hold any module, a user's own included, and name their children's tensors as PyTorch
//! would (`Residual` adds no level; branch `i` is prefixed `"i."`).

use tensor::{TensorExt, TensorOps};

use crate::module::{MapParams, Module, Role, by_position};

/// `y = x + f(x)`: a residual connection around `inner`, whose output must have the input's
/// shape (or broadcast to it).
///
/// ```
/// use nn::{Linear, Module, ReLU, Residual, Sequential};
/// use tensor::RingTensor;
/// let t = |s: &[usize], v: &[f64]| RingTensor::from_f64(s, v, 16).unwrap();
/// let block = Residual::new(Sequential::new(vec![
///     Linear::new(t(&[2, 2], &[1.0, 0.0, 0.0, -1.0]), None).into(),
///     ReLU.into(),
/// ]));
/// // x + relu(x·Wᵀ) = [1, 2] + relu([1, -2]) = [2, 2]
/// assert_eq!(block.forward(&t(&[1, 2], &[1.0, 2.0]))?.to_f64(), vec![2.0, 2.0]);
/// # Ok::<(), tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Residual<M> {
    /// The residual branch `f`.
    pub inner: M,
}

impl<M> Residual<M> {
    /// `x + inner(x)`.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<T: TensorOps, M: Module<T>> Module<T> for Residual<M> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        x.add(&self.inner.forward(x)?)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        self.inner.named_parameters()
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        self.inner.named_parameters_mut()
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        self.inner.named_buffers()
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        self.inner.named_buffers_mut()
    }
    fn train(&mut self, on: bool) {
        self.inner.train(on);
    }
}

impl<T: TensorOps, M: MapParams<T>> MapParams<T> for Residual<M> {
    type Mapped<U: TensorOps + 'static> = Residual<M::Mapped<U>>;

    fn try_map<U, E>(
        &self,
        f: &mut dyn FnMut(&str, Role, &T) -> Result<U, E>,
    ) -> Result<Self::Mapped<U>, E>
    where
        U: TensorOps + 'static,
        E: From<tensor::Error>,
    {
        Ok(Residual {
            inner: self.inner.try_map(f)?,
        })
    }
}

/// How [`Branches`] joins its outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Elementwise sum (shapes broadcast).
    Sum,
    /// Concatenation along a dimension (`torch.cat(outputs, dim)`).
    Concat(usize),
}

/// Several modules applied to the same input, their outputs joined ([`Join`]). Branch `i`'s
/// tensors are named `"i.<name>"`. The branches are boxed, so any module fits, and they run in
/// their fixed order (every party issues the same calls).
pub struct Branches<T: TensorOps + 'static> {
    branches: Vec<Box<dyn Module<T>>>,
    join: Join,
}

impl<T: TensorOps + 'static> Branches<T> {
    /// The given branches, joined by `join`.
    pub fn new(branches: Vec<Box<dyn Module<T>>>, join: Join) -> Self {
        Self { branches, join }
    }

    /// The branches.
    pub fn branches(&self) -> &[Box<dyn Module<T>>] {
        &self.branches
    }
}

impl<T: TensorOps + 'static> Module<T> for Branches<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        if self.branches.is_empty() {
            return Err(tensor::Error::InvalidArgument {
                op: "branches",
                reason: "no branches to join".into(),
            }
            .into());
        }
        let outs = self
            .branches
            .iter()
            .map(|b| b.forward(x))
            .collect::<Result<Vec<T>, T::Error>>()?;
        match self.join {
            Join::Sum => {
                let mut acc = outs[0].clone();
                for o in &outs[1..] {
                    acc = acc.add(o)?;
                }
                Ok(acc)
            }
            Join::Concat(dim) => T::concat(&outs.iter().collect::<Vec<_>>(), dim),
        }
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        by_position(self.branches.iter().map(|b| b.named_parameters()))
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        by_position(self.branches.iter_mut().map(|b| b.named_parameters_mut()))
    }
    fn named_buffers(&self) -> Vec<(String, T)> {
        by_position(self.branches.iter().map(|b| b.named_buffers()))
    }
    fn named_buffers_mut(&mut self) -> Vec<(String, &mut T)> {
        by_position(self.branches.iter_mut().map(|b| b.named_buffers_mut()))
    }
    fn train(&mut self, on: bool) {
        self.branches.iter_mut().for_each(|b| b.train(on));
    }
}
