//! [`Var`]: a tensor that records the ops applied to it, and reverse-mode gradients.
//!
//! `Var<T>` wraps any `T: TensorOps` and implements `TensorOps` itself, so code written against
//! the contract runs with gradients unchanged. Each op creates a node that remembers its
//! inputs; [`Var::backward`] walks the graph from the output in reverse creation order and
//! applies one chain-rule arm per op ([`Var::backward`]'s `match`). Creation order depends only
//! on the program, never on hash-map order or timing, so every party of an MPC run issues the
//! same protocol calls in the same order during backward too.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use tensor::TensorOps;

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    static NO_GRAD: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` without recording: every `Var` created inside is a constant (like
/// `torch.no_grad()`). Nests.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    NO_GRAD.with(|n| n.set(n.get() + 1));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            NO_GRAD.with(|n| n.set(n.get() - 1));
        }
    }
    let _reset = Reset;
    f()
}

fn recording() -> bool {
    NO_GRAD.with(|n| n.get() == 0)
}

/// What produced a node: the op and its inputs (and whatever backward needs).
enum Op<T: TensorOps> {
    Leaf,
    Add(Var<T>, Var<T>),
    Sub(Var<T>, Var<T>),
    Mul(Var<T>, Var<T>),
    Neg(Var<T>),
    Matmul(Var<T>, Var<T>),
    MulScalar(Var<T>, f64),
    Sum(Var<T>, Vec<usize>, bool),
    Mean(Var<T>, Vec<usize>, bool),
    Reshape(Var<T>),
    Transpose(Var<T>, usize, usize),
    SumTo(Var<T>),
    BroadcastTo(Var<T>),
    /// ReLU, with its derivative mask from the forward pass.
    Relu(Var<T>, T),
}

struct Node<T: TensorOps> {
    id: u64,
    value: T,
    requires_grad: bool,
    op: Op<T>,
    grad: RefCell<Option<T>>,
}

/// A differentiable tensor. Cloning is cheap and shares the node.
pub struct Var<T: TensorOps> {
    node: Rc<Node<T>>,
}

impl<T: TensorOps> Clone for Var<T> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
        }
    }
}

impl<T: TensorOps + fmt::Debug> fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Var")
            .field("value", &self.node.value)
            .field("requires_grad", &self.node.requires_grad)
            .finish_non_exhaustive()
    }
}

impl<T: TensorOps> Var<T> {
    fn make(value: T, requires_grad: bool, op: Op<T>) -> Self {
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        Self {
            node: Rc::new(Node {
                id,
                value,
                requires_grad,
                op,
                grad: RefCell::new(None),
            }),
        }
    }

    /// A leaf whose gradient is wanted (a parameter).
    pub fn leaf(value: T) -> Self {
        Self::make(value, recording(), Op::Leaf)
    }

    /// A leaf without gradient (data, targets).
    pub fn constant(value: T) -> Self {
        Self::make(value, false, Op::Leaf)
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.node.value
    }

    /// Whether gradients flow into this variable.
    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad
    }

    /// The accumulated gradient, after [`Var::backward`].
    pub fn grad(&self) -> Option<T> {
        self.node.grad.borrow().clone()
    }

    /// Clears the accumulated gradient (before the next step).
    pub fn zero_grad(&self) {
        *self.node.grad.borrow_mut() = None;
    }

    /// The same value as a new constant, cut from the graph.
    pub fn detach(&self) -> Self {
        Self::constant(self.node.value.clone())
    }

    /// A node for `value` produced by `op` from `inputs`.
    fn from_op(value: T, inputs: &[&Var<T>], op: Op<T>) -> Self {
        let rg = recording() && inputs.iter().any(|v| v.requires_grad());
        if rg {
            Self::make(value, true, op)
        } else {
            Self::make(value, false, Op::Leaf)
        }
    }

    /// Reverse-mode gradients of this value with respect to every leaf that requires them,
    /// seeded with ones (for a scalar loss, d loss / d leaf). Gradients accumulate across
    /// calls until [`Var::zero_grad`]. Collective in MPC: every party must call it.
    ///
    /// # Errors
    /// Whatever a backward op returns (network failures for private tensors).
    pub fn backward(&self) -> Result<(), T::Error> {
        if !self.requires_grad() {
            return Ok(());
        }
        // Every node that needs a gradient, reachable from here, in decreasing creation
        // order: a node is created after its inputs, so this is a topological order, and it
        // depends only on the program's structure.
        let mut nodes: Vec<Var<T>> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![self.clone()];
        while let Some(v) = stack.pop() {
            if !v.requires_grad() || !seen.insert(v.node.id) {
                continue;
            }
            stack.extend(v.inputs().into_iter().cloned());
            nodes.push(v);
        }
        nodes.sort_by_key(|v| std::cmp::Reverse(v.node.id));
        let mut grads: std::collections::BTreeMap<u64, T> = std::collections::BTreeMap::new();
        grads.insert(self.node.id, self.node.value.ones_like()?);
        for v in &nodes {
            let Some(g) = grads.remove(&v.node.id) else {
                continue;
            };
            for (input, gi) in v.input_grads(&g)? {
                if !input.requires_grad() {
                    continue;
                }
                let acc = match grads.remove(&input.node.id) {
                    Some(prev) => prev.add(&gi)?,
                    None => gi,
                };
                grads.insert(input.node.id, acc);
            }
            if matches!(v.node.op, Op::Leaf) {
                let mut slot = v.node.grad.borrow_mut();
                *slot = Some(match slot.take() {
                    Some(prev) => prev.add(&g)?,
                    None => g,
                });
            }
        }
        Ok(())
    }

    fn inputs(&self) -> Vec<&Var<T>> {
        match &self.node.op {
            Op::Leaf => vec![],
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Matmul(a, b) => vec![a, b],
            Op::Neg(a)
            | Op::MulScalar(a, _)
            | Op::Sum(a, ..)
            | Op::Mean(a, ..)
            | Op::Reshape(a)
            | Op::Transpose(a, ..)
            | Op::SumTo(a)
            | Op::BroadcastTo(a)
            | Op::Relu(a, _) => vec![a],
        }
    }

    /// The chain rule: the gradient of each input given the gradient `g` of this node.
    fn input_grads(&self, g: &T) -> Result<Vec<(&Var<T>, T)>, T::Error> {
        let shape_of = |v: &Var<T>| v.value().dims();
        Ok(match &self.node.op {
            Op::Leaf => vec![],
            // Broadcasting in the forward pass is undone by summing in the backward pass.
            Op::Add(a, b) => vec![(a, g.sum_to(&shape_of(a))?), (b, g.sum_to(&shape_of(b))?)],
            Op::Sub(a, b) => vec![
                (a, g.sum_to(&shape_of(a))?),
                (b, g.neg()?.sum_to(&shape_of(b))?),
            ],
            Op::Mul(a, b) => vec![
                (a, g.mul(b.value())?.sum_to(&shape_of(a))?),
                (b, g.mul(a.value())?.sum_to(&shape_of(b))?),
            ],
            Op::Neg(a) => vec![(a, g.neg()?)],
            Op::MulScalar(a, c) => vec![(a, g.mul_scalar(*c)?)],
            Op::Matmul(a, b) => {
                let (ra, rb) = (shape_of(a).len(), shape_of(b).len());
                if ra < 2 || rb < 2 {
                    return Err(tensor::Error::InvalidArgument {
                        op: "matmul backward",
                        reason: "1-D operands are not differentiable yet; reshape to 2-D".into(),
                    }
                    .into());
                }
                let bt = b.value().transpose(rb - 2, rb - 1)?;
                let at = a.value().transpose(ra - 2, ra - 1)?;
                vec![
                    (a, g.matmul(&bt)?.sum_to(&shape_of(a))?),
                    (b, at.matmul(g)?.sum_to(&shape_of(b))?),
                ]
            }
            Op::Sum(a, dims, keepdim) => {
                vec![(a, expand_reduced(g, &shape_of(a), dims, *keepdim)?)]
            }
            Op::Mean(a, dims, keepdim) => {
                let shape = shape_of(a);
                let count: usize = if dims.is_empty() {
                    shape.iter().product()
                } else {
                    dims.iter().map(|&d| shape[d]).product()
                };
                vec![(
                    a,
                    expand_reduced(g, &shape, dims, *keepdim)?
                        .mul_scalar(1.0 / count.max(1) as f64)?,
                )]
            }
            Op::Reshape(a) => vec![(a, g.reshape(&shape_of(a))?)],
            Op::Transpose(a, d0, d1) => vec![(a, g.transpose(*d0, *d1)?)],
            Op::SumTo(a) => vec![(a, g.broadcast_to(&shape_of(a))?)],
            Op::BroadcastTo(a) => vec![(a, g.sum_to(&shape_of(a))?)],
            // the mask is a 0/1 integer tensor: the product needs no truncation
            Op::Relu(a, mask) => vec![(a, g.mul(mask)?)],
        })
    }
}

/// Broadcasts the gradient of a reduction back to the input's shape.
fn expand_reduced<T: TensorOps>(
    g: &T,
    shape: &[usize],
    dims: &[usize],
    keepdim: bool,
) -> Result<T, T::Error> {
    let mut kept = shape.to_vec();
    if dims.is_empty() {
        kept.iter_mut().for_each(|d| *d = 1);
    } else {
        for &d in dims {
            kept[d] = 1;
        }
    }
    let g = if keepdim {
        g.clone()
    } else {
        g.reshape(&kept)?
    };
    g.broadcast_to(shape)
}

impl<T: TensorOps> TensorOps for Var<T> {
    type Error = T::Error;

    fn dims(&self) -> Vec<usize> {
        self.value().dims()
    }
    fn add(&self, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().add(rhs.value())?,
            &[self, rhs],
            Op::Add(self.clone(), rhs.clone()),
        ))
    }
    fn sub(&self, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().sub(rhs.value())?,
            &[self, rhs],
            Op::Sub(self.clone(), rhs.clone()),
        ))
    }
    fn mul(&self, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().mul(rhs.value())?,
            &[self, rhs],
            Op::Mul(self.clone(), rhs.clone()),
        ))
    }
    fn neg(&self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().neg()?,
            &[self],
            Op::Neg(self.clone()),
        ))
    }
    fn matmul(&self, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().matmul(rhs.value())?,
            &[self, rhs],
            Op::Matmul(self.clone(), rhs.clone()),
        ))
    }
    fn mul_scalar(&self, v: f64) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().mul_scalar(v)?,
            &[self],
            Op::MulScalar(self.clone(), v),
        ))
    }
    fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().sum(dims, keepdim)?,
            &[self],
            Op::Sum(self.clone(), dims.to_vec(), keepdim),
        ))
    }
    fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().mean(dims, keepdim)?,
            &[self],
            Op::Mean(self.clone(), dims.to_vec(), keepdim),
        ))
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().reshape(shape)?,
            &[self],
            Op::Reshape(self.clone()),
        ))
    }
    fn transpose(&self, d0: usize, d1: usize) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().transpose(d0, d1)?,
            &[self],
            Op::Transpose(self.clone(), d0, d1),
        ))
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().sum_to(shape)?,
            &[self],
            Op::SumTo(self.clone()),
        ))
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().broadcast_to(shape)?,
            &[self],
            Op::BroadcastTo(self.clone()),
        ))
    }
    fn relu_with_mask(&self) -> Result<(Self, Self), T::Error> {
        let (r, mask) = self.value().relu_with_mask()?;
        let out = Self::from_op(r, &[self], Op::Relu(self.clone(), mask.clone()));
        Ok((out, Self::constant(mask)))
    }
    fn ones_like(&self) -> Result<Self, T::Error> {
        Ok(Self::constant(self.value().ones_like()?))
    }
}
