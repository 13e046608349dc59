//! [`Var`]: a tensor that records the ops applied to it, and reverse-mode gradients.
//!
//! `Var<T>` wraps any `T: TensorOps` and implements `TensorOps` itself, so code written against
//! the contract runs with gradients unchanged. Each op creates a node that remembers its
//! inputs; [`Var::backward`] walks the graph from the output in reverse creation order and
//! applies one chain-rule arm per op ([`Var::backward`]'s `match`). Creation order depends only
//! on the program, never on hash-map order or timing, so every party of an MPC run issues the
//! same protocol calls in the same order during backward too.
//!
//! No gradient is ever dropped silently: every required `TensorOps` op is implemented here,
//! with its rule, or the crate does not compile; the rules of the elementwise functions are the
//! one derivative table of [`crate::derivative`]. One-hot positions (the maximum's), steps
//! (ReLU's derivative) and dropout masks are constants. A rule that cannot be applied (a 1-D
//! matmul) is an explicit error from `backward`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use tensor::{
    BinaryOp, Conv2dParams, LaneOp, Pool2dParams, ReduceOp, TensorExt, TensorOps, UnaryOp,
    WindowFill,
};

use crate::{conv_grad, derivative};

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
    Binary(BinaryOp, Var<T>, Var<T>),
    /// An elementwise function, with the companion its derivative needs (see
    /// [`derivative::companion`]), computed with the forward value.
    Unary(UnaryOp, Var<T>, Option<T>),
    /// A sum or mean over `dims` (`keepdim`).
    Reduce(ReduceOp, Var<T>, Vec<usize>, bool),
    /// Maximum over a dimension (`dim`, `keepdim`), with the one-hot mask of where it was.
    Max(Var<T>, T, usize, bool),
    Lane(LaneOp, Var<T>, usize),
    Neg(Var<T>),
    Matmul(Var<T>, Var<T>),
    MulScalar(Var<T>, f64),
    AddScalar(Var<T>),
    Reshape(Var<T>),
    Permute(Var<T>, Vec<usize>),
    SumTo(Var<T>),
    BroadcastTo(Var<T>),
    /// Input, dimension, start.
    Narrow(Var<T>, usize, usize),
    Pad(Var<T>, Vec<(usize, usize)>),
    Flip(Var<T>, Vec<usize>),
    IndexSelect(Var<T>, usize, Vec<usize>),
    Concat(Vec<Var<T>>, usize),
    Unfold2d(Var<T>, Pool2dParams, WindowFill),
    Fold2d(Var<T>, Pool2dParams, WindowFill),
    AvgPool2d(Var<T>, Pool2dParams),
    Conv2d(Var<T>, Var<T>, Conv2dParams),
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

    /// A node for `value` produced from this variable alone by `op`.
    fn unary_node(&self, value: T, op: impl FnOnce(Var<T>) -> Op<T>) -> Result<Self, T::Error> {
        Ok(Self::from_op(value, &[self], op(self.clone())))
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
            Op::Binary(_, a, b) | Op::Matmul(a, b) | Op::Conv2d(a, b, _) => vec![a, b],
            Op::Concat(parts, _) => parts.iter().collect(),
            Op::Unary(_, a, _)
            | Op::Reduce(_, a, ..)
            | Op::Max(a, ..)
            | Op::Lane(_, a, _)
            | Op::Neg(a)
            | Op::MulScalar(a, _)
            | Op::AddScalar(a)
            | Op::Reshape(a)
            | Op::Permute(a, _)
            | Op::SumTo(a)
            | Op::BroadcastTo(a)
            | Op::Narrow(a, ..)
            | Op::Pad(a, _)
            | Op::Flip(a, _)
            | Op::IndexSelect(a, ..)
            | Op::Unfold2d(a, ..)
            | Op::Fold2d(a, ..)
            | Op::AvgPool2d(a, _) => vec![a],
        }
    }

    /// The chain rule: the gradient of each input given the gradient `g` of this node.
    fn input_grads(&self, g: &T) -> Result<Vec<(&Var<T>, T)>, T::Error> {
        let shape_of = |v: &Var<T>| v.value().dims();
        let out = &self.node.value;
        Ok(match &self.node.op {
            Op::Leaf => vec![],
            // Broadcasting in the forward pass is undone by summing in the backward pass.
            Op::Binary(op, a, b) => match op {
                BinaryOp::Add => needed([a, b], |i| g.sum_to(&shape_of([a, b][i])))?,
                BinaryOp::Sub => needed([a, b], |i| match i {
                    0 => g.sum_to(&shape_of(a)),
                    _ => g.neg()?.sum_to(&shape_of(b)),
                })?,
                BinaryOp::Mul => needed([a, b], |i| match i {
                    0 => g.mul(b.value())?.sum_to(&shape_of(a)),
                    _ => g.mul(a.value())?.sum_to(&shape_of(b)),
                })?,
                BinaryOp::Div => {
                    // one signed reciprocal of the divisor serves both rules
                    let r = b.value().ones_like()?.div(b.value())?;
                    needed([a, b], |i| match i {
                        0 => g.mul(&r)?.sum_to(&shape_of(a)),
                        _ => g.mul(out)?.mul(&r)?.neg()?.sum_to(&shape_of(b)),
                    })?
                }
            },
            Op::Unary(op, a, companion) => {
                match derivative::derivative(*op, a.value(), out, companion.as_ref())? {
                    // a 0/1 integer derivative (a step) multiplies without truncation
                    Some(d) => vec![(a, g.mul(&d)?)],
                    None => vec![],
                }
            }
            Op::Reduce(op, a, dims, keepdim) => {
                let shape = shape_of(a);
                let spread = expand_reduced(g, &shape, dims, *keepdim)?;
                match op {
                    ReduceOp::Mean => {
                        let count: usize = if dims.is_empty() {
                            shape.iter().product()
                        } else {
                            dims.iter().map(|&d| shape[d]).product()
                        };
                        vec![(a, spread.mul_scalar(1.0 / count.max(1) as f64)?)]
                    }
                    // the maximum records Op::Max (with its one-hot position) instead
                    ReduceOp::Sum | ReduceOp::Max => vec![(a, spread)],
                }
            }
            Op::Max(a, mask, dim, keepdim) => {
                let shape = shape_of(a);
                let g = if *keepdim {
                    g.clone()
                } else {
                    let mut kept = shape.clone();
                    kept[*dim] = 1;
                    g.reshape(&kept)?
                };
                vec![(a, g.broadcast_to(&shape)?.mul(mask)?)]
            }
            Op::Lane(LaneOp::Softmax, a, dim) => {
                let dot = g.mul(out)?.sum(&[*dim], true)?;
                vec![(a, out.mul(&g.sub(&dot)?)?)]
            }
            Op::Lane(LaneOp::LogSoftmax, a, dim) => {
                // softmax = exp(log_softmax), as PyTorch's backward has it: one exp of the
                // output instead of a second softmax (on shares: no maximum, no reciprocal)
                let p = out.exp()?;
                vec![(a, g.sub(&p.mul(&g.sum(&[*dim], true)?)?)?)]
            }
            Op::Neg(a) => vec![(a, g.neg()?)],
            Op::MulScalar(a, c) => vec![(a, g.mul_scalar(*c)?)],
            Op::AddScalar(a) => vec![(a, g.clone())],
            Op::Matmul(a, b) => {
                let (ra, rb) = (shape_of(a).len(), shape_of(b).len());
                if ra < 2 || rb < 2 {
                    return Err(tensor::Error::InvalidArgument {
                        op: "matmul backward",
                        reason: "1-D operands are not differentiable yet; reshape to 2-D".into(),
                    }
                    .into());
                }
                needed([a, b], |i| match i {
                    0 => g
                        .matmul(&b.value().transpose(rb - 2, rb - 1)?)?
                        .sum_to(&shape_of(a)),
                    _ => a
                        .value()
                        .transpose(ra - 2, ra - 1)?
                        .matmul(g)?
                        .sum_to(&shape_of(b)),
                })?
            }
            Op::Reshape(a) => vec![(a, g.reshape(&shape_of(a))?)],
            Op::SumTo(a) => vec![(a, g.broadcast_to(&shape_of(a))?)],
            Op::BroadcastTo(a) => vec![(a, g.sum_to(&shape_of(a))?)],
            Op::Permute(a, perm) => {
                let mut inverse = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inverse[p] = i;
                }
                vec![(a, g.permute(&inverse)?)]
            }
            Op::Narrow(a, dim, start) => {
                let full = shape_of(a)[*dim];
                let len = g.dims()[*dim];
                let mut pads = vec![(0, 0); g.dims().len()];
                pads[*dim] = (*start, full - start - len);
                vec![(a, g.pad(&pads)?)]
            }
            Op::Pad(a, pads) => {
                let shape = shape_of(a);
                let mut ga = g.clone();
                for (d, &(before, _)) in pads.iter().enumerate() {
                    ga = ga.narrow(d, before, shape[d])?;
                }
                vec![(a, ga)]
            }
            Op::Flip(a, dims) => vec![(a, g.flip(dims)?)],
            Op::IndexSelect(a, dim, indices) => {
                vec![(
                    a,
                    index_select_adjoint(g, *dim, indices, shape_of(a)[*dim])?,
                )]
            }
            Op::Concat(parts, dim) => {
                let mut at = 0;
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    let len = shape_of(p)[*dim];
                    if p.requires_grad() {
                        out.push((p, g.narrow(*dim, at, len)?));
                    }
                    at += len;
                }
                out
            }
            Op::Unfold2d(a, p, fill) => {
                let s = shape_of(a);
                vec![(a, g.fold2d(p, (s[2], s[3]), *fill)?)]
            }
            Op::Fold2d(a, p, fill) => vec![(a, g.unfold2d(p, *fill)?)],
            Op::AvgPool2d(a, p) => {
                let s = shape_of(a);
                let k = p.kernel.0 * p.kernel.1;
                let mut taps = g.dims();
                taps.push(1);
                let spread = g.mul_scalar(1.0 / k as f64)?.reshape(&taps)?;
                *taps.last_mut().expect("rank 5") = k;
                let ga = spread
                    .broadcast_to(&taps)?
                    .fold2d(p, (s[2], s[3]), WindowFill::Zero)?;
                vec![(a, ga)]
            }
            Op::Conv2d(x, w, p) => {
                let (xs, ws) = (shape_of(x), shape_of(w));
                needed([x, w], |i| match i {
                    0 => conv_grad::input_grad(g, w.value(), (xs[2], xs[3]), p),
                    _ => conv_grad::weight_grad(g, x.value(), (ws[2], ws[3]), p),
                })?
            }
        })
    }
}

/// The gradients of the inputs that want one, by `rule(i)` for input `i`, evaluated only for
/// those: on secret shares a gradient costs protocol rounds (the input gradient of a first
/// layer is a whole private product), and every party skips the same ones, because whether a
/// value wants a gradient depends only on the program.
fn needed<T: TensorOps, const N: usize>(
    inputs: [&Var<T>; N],
    mut rule: impl FnMut(usize) -> Result<T, T::Error>,
) -> Result<Vec<(&Var<T>, T)>, T::Error> {
    let mut out = Vec::with_capacity(N);
    for (i, v) in inputs.into_iter().enumerate() {
        if v.requires_grad() {
            out.push((v, rule(i)?));
        }
    }
    Ok(out)
}

/// The adjoint of `index_select(dim, indices)` from a dimension of length `len`: every
/// gradient slice is added back to the index it was picked from (repeats add up). A product
/// with a public 0/1 selection matrix, which is exact (no truncation) and local on shares.
fn index_select_adjoint<T: TensorOps>(
    g: &T,
    dim: usize,
    indices: &[usize],
    len: usize,
) -> Result<T, T::Error> {
    let rank = g.dims().len();
    let mut sel = vec![0i64; indices.len() * len];
    for (i, &j) in indices.iter().enumerate() {
        sel[i * len + j] = 1;
    }
    let sel = g.new_int_tensor(&[indices.len(), len], &sel)?;
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
    perm.push(dim);
    let mut back: Vec<usize> = (0..rank - 1).collect();
    back.insert(dim, rank - 1);
    g.permute(&perm)?.matmul(&sel)?.permute(&back)
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
    /// While recording, a function whose derivative needs a companion (see the derivative
    /// table) is evaluated together with it, so the backward pass costs products only; outside
    /// recording, or for a value that wants no gradient, the function alone.
    fn unary(&self, op: UnaryOp) -> Result<Self, T::Error> {
        if op.is_indicator() {
            // a step's derivative is zero almost everywhere: a constant, like a mask
            return Ok(Self::constant(self.value().unary(op)?));
        }
        let companion = derivative::companion(op).filter(|_| recording() && self.requires_grad());
        let (value, companion) = match companion {
            Some(c) => {
                let [y, d]: [T; 2] = self
                    .value()
                    .unary_fused(&[op, c])?
                    .try_into()
                    .map_err(|_| fused_count(op))?;
                (y, Some(d))
            }
            None => (self.value().unary(op)?, None),
        };
        self.unary_node(value, |a| Op::Unary(op, a, companion))
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().binary(op, rhs.value())?,
            &[self, rhs],
            Op::Binary(op, self.clone(), rhs.clone()),
        ))
    }
    fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Self, T::Error> {
        if op == ReduceOp::Max && recording() && self.requires_grad() {
            let dim = tensor::ops::one_dim(op, dims)?;
            return Ok(self.max_with_one_hot(dim, keepdim)?.0);
        }
        let value = self.value().reduce(op, dims, keepdim)?;
        self.unary_node(value, |a| Op::Reduce(op, a, dims.to_vec(), keepdim))
    }
    fn max_with_one_hot(&self, dim: usize, keepdim: bool) -> Result<(Self, Self), T::Error> {
        let (m, mask) = self.value().max_with_one_hot(dim, keepdim)?;
        let out = self.unary_node(m, |a| Op::Max(a, mask.clone(), dim, keepdim))?;
        Ok((out, Self::constant(mask)))
    }
    fn lane(&self, op: LaneOp, dim: usize) -> Result<Self, T::Error> {
        let value = self.value().lane(op, dim)?;
        self.unary_node(value, |a| Op::Lane(op, a, dim))
    }
    fn neg(&self) -> Result<Self, T::Error> {
        self.unary_node(self.value().neg()?, Op::Neg)
    }
    fn mul_scalar(&self, v: f64) -> Result<Self, T::Error> {
        self.unary_node(self.value().mul_scalar(v)?, |a| Op::MulScalar(a, v))
    }
    fn add_scalar(&self, v: f64) -> Result<Self, T::Error> {
        self.unary_node(self.value().add_scalar(v)?, Op::AddScalar)
    }
    fn matmul(&self, rhs: &Self) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().matmul(rhs.value())?,
            &[self, rhs],
            Op::Matmul(self.clone(), rhs.clone()),
        ))
    }
    fn conv2d(&self, weight: &Self, p: &Conv2dParams) -> Result<Self, T::Error> {
        Ok(Self::from_op(
            self.value().conv2d(weight.value(), p)?,
            &[self, weight],
            Op::Conv2d(self.clone(), weight.clone(), *p),
        ))
    }
    fn reshape(&self, shape: &[usize]) -> Result<Self, T::Error> {
        self.unary_node(self.value().reshape(shape)?, Op::Reshape)
    }
    fn permute(&self, perm: &[usize]) -> Result<Self, T::Error> {
        let value = self.value().permute(perm)?;
        self.unary_node(value, |a| Op::Permute(a, perm.to_vec()))
    }
    fn sum_to(&self, shape: &[usize]) -> Result<Self, T::Error> {
        self.unary_node(self.value().sum_to(shape)?, Op::SumTo)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Result<Self, T::Error> {
        self.unary_node(self.value().broadcast_to(shape)?, Op::BroadcastTo)
    }
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self, T::Error> {
        let value = self.value().narrow(dim, start, len)?;
        self.unary_node(value, |a| Op::Narrow(a, dim, start))
    }
    fn pad(&self, pads: &[(usize, usize)]) -> Result<Self, T::Error> {
        let value = self.value().pad(pads)?;
        self.unary_node(value, |a| Op::Pad(a, pads.to_vec()))
    }
    fn flip(&self, dims: &[usize]) -> Result<Self, T::Error> {
        let value = self.value().flip(dims)?;
        self.unary_node(value, |a| Op::Flip(a, dims.to_vec()))
    }
    fn index_select(&self, dim: usize, indices: &[usize]) -> Result<Self, T::Error> {
        let value = self.value().index_select(dim, indices)?;
        self.unary_node(value, |a| Op::IndexSelect(a, dim, indices.to_vec()))
    }
    fn concat(parts: &[&Self], dim: usize) -> Result<Self, T::Error> {
        let values: Vec<&T> = parts.iter().map(|p| p.value()).collect();
        Ok(Self::from_op(
            T::concat(&values, dim)?,
            parts,
            Op::Concat(parts.iter().map(|&p| p.clone()).collect(), dim),
        ))
    }
    fn unfold2d(&self, p: &Pool2dParams, fill: WindowFill) -> Result<Self, T::Error> {
        let value = self.value().unfold2d(p, fill)?;
        self.unary_node(value, |a| Op::Unfold2d(a, *p, fill))
    }
    fn fold2d(
        &self,
        p: &Pool2dParams,
        hw: (usize, usize),
        fill: WindowFill,
    ) -> Result<Self, T::Error> {
        let value = self.value().fold2d(p, hw, fill)?;
        self.unary_node(value, |a| Op::Fold2d(a, *p, fill))
    }
    fn avg_pool2d(&self, p: &Pool2dParams) -> Result<Self, T::Error> {
        let value = self.value().avg_pool2d(p)?;
        self.unary_node(value, |a| Op::AvgPool2d(a, *p))
    }
    fn ones_like(&self) -> Result<Self, T::Error> {
        Ok(Self::constant(self.value().ones_like()?))
    }
    fn new_tensor(&self, shape: &[usize], values: &[f64]) -> Result<Self, T::Error> {
        Ok(Self::constant(self.value().new_tensor(shape, values)?))
    }
    fn new_int_tensor(&self, shape: &[usize], values: &[i64]) -> Result<Self, T::Error> {
        Ok(Self::constant(self.value().new_int_tensor(shape, values)?))
    }
    fn bernoulli_mask(&self, keep: f64, seed: u64) -> Result<Self, T::Error> {
        Ok(Self::constant(self.value().bernoulli_mask(keep, seed)?))
    }
    fn detach(&self) -> Self {
        Var::detach(self)
    }
}

/// A backend returned the wrong number of results from `unary_fused`.
fn fused_count(op: UnaryOp) -> tensor::Error {
    tensor::Error::InvalidArgument {
        op: "unary_fused",
        reason: format!("{} and its companion: expected two results", op.name()),
    }
}
