//! Demos run by `umbra demo NAME`.
//!
//! Each demo is library code that takes a [`Session`], so the same function runs with every
//! party a thread of one process (`umbra demo NAME --parties N`, through [`run_local`]) and as
//! one process per party (`examples/NAME.rs`, which joins through `umbra::init()` under
//! `umbra launch`). Only a secret's owner supplies its values: every process reads the same
//! built-in data file, but the other parties' copies never enter the computation.
//!
//! - [`matmul`]: two secret matrices from two owners, multiplied.
//! - [`logreg`]: private logistic regression on the breast-cancer data (features from one
//!   party, labels from another, the model from a third).
//! - [`digits`]: private training of an MLP on the digits, the rows split between parties.
//! - [`lenet`]: private inference of a LeNet-style CNN, the model from one party and the
//!   images from another.
//! - [`minilm`]: private sentence embeddings with an imported ONNX transformer
//!   (paraphrase-MiniLM-L3-v2, fetched by `scripts/fetch_minilm.sh`), the model from a server
//!   and the token ids from a client, several queries on one set of shared weights.

use std::fmt::Write as _;
use std::time::Instant;

use autograd::Var;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpc::{CommStats, CrypTensor, Session, SessionConfig, run_local};
use nn::{Module, Sgd};
use tensor::{RingTensor, TensorExt, TensorOps};

pub mod digits;
pub mod lenet;
pub mod logreg;
pub mod minilm;

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
        let revealed = y.reveal_f64()?.into_vec();
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

/// A progress bar on stderr, drawn only by party 0 and only when stderr is a terminal (so
/// tests, CI logs and the other parties' output stay clean).
pub fn progress(s: &Session, len: u64, show: bool) -> ProgressBar {
    use std::io::IsTerminal as _;
    let visible = show && s.party() == 0 && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// One epoch of mini-batch SGD: the same code trains plaintext (`T = RingTensor`) and private
/// (`T = CrypTensor`) models. Each batch is `[inputs, targets]`. Returns the sum of the batch
/// losses (still private for private tensors); `tick` runs after every step.
///
/// # Errors
/// Shape mismatches; for private tensors, network failures.
pub fn train_epoch<T, M>(
    model: &mut M,
    opt: &mut Sgd<T>,
    batches: &[Vec<T>],
    loss: impl Fn(&Var<T>, &Var<T>) -> Result<Var<T>, T::Error>,
    mut tick: impl FnMut(),
) -> Result<Option<T>, T::Error>
where
    T: TensorOps + 'static,
    M: Module<Var<T>>,
{
    let mut total: Option<T> = None;
    for b in batches {
        let (x, y) = (Var::constant(b[0].clone()), Var::constant(b[1].clone()));
        let l = loss(&model.forward(&x)?, &y)?;
        l.backward()?;
        opt.step(&mut model.parameters_mut())?;
        let v = l.value().clone();
        total = Some(match total {
            None => v,
            Some(t) => t.add(&v)?,
        });
        tick();
    }
    Ok(total)
}

/// [`train_epoch`] on shares, then the epoch's mean batch loss revealed (to every party) and
/// shown on `bar`, which ticks after every step.
///
/// # Errors
/// Shape mismatches; network failures.
///
/// # Panics
/// No batches.
///
/// # Security
/// Reveals the mean loss of the epoch.
pub fn private_epoch<M: Module<Var<CrypTensor>>>(
    model: &mut M,
    opt: &mut Sgd<CrypTensor>,
    batches: &[Vec<CrypTensor>],
    loss: impl Fn(&Var<CrypTensor>, &Var<CrypTensor>) -> mpc::Result<Var<CrypTensor>>,
    bar: &ProgressBar,
) -> mpc::Result<f64> {
    let total = train_epoch(model, opt, batches, loss, || bar.inc(1))?;
    let loss = total.expect("at least one batch").reveal_f64()?[0] / batches.len() as f64;
    bar.set_message(format!("loss {loss:.4}"));
    Ok(loss)
}

/// The per-epoch table of a training demo: the private loss next to the plaintext `f64` and
/// fixed-point (2^-16) losses of the same training.
pub fn loss_table(out: &mut String, private: &[f64], float: &[f64], fixed: &[f64]) {
    let _ = writeln!(
        out,
        "epoch   private loss   plaintext loss (f64)   plaintext loss (2^-16)"
    );
    for (e, ((p, q), r)) in private.iter().zip(float).zip(fixed).enumerate() {
        let _ = writeln!(out, "{:>5}   {p:>12.4}   {q:>20.4}   {r:>22.4}", e + 1);
    }
}

/// How a plaintext reference run trains ([`train_reference`]).
pub struct Reference<'a> {
    /// The learning rate of each epoch, one entry per pass over the training rows.
    pub lrs: Vec<f64>,
    /// Rows per SGD step.
    pub batch_size: usize,
    /// SGD momentum.
    pub momentum: f64,
    /// Seed of the (public) batch order.
    pub seed: u64,
    /// The shape of one input row as the model takes it (`[64]`, `[1, 28, 28]`).
    pub row_shape: &'a [usize],
}

/// The plaintext reference of a classification demo: `model` trained with the same `nn` code
/// on cross-entropy against one-hot labels, on tensors made by `encode` and read back by
/// `decode`; per-epoch mean batch loss and test accuracy.
///
/// # Errors
/// Values that `encode` refuses, rows that do not fit `row_shape`.
pub fn train_reference<T: TensorOps<Error = tensor::Error> + 'static>(
    model: &nn::Sequential<T>,
    train: &crate::data::Dataset,
    test: &crate::data::Dataset,
    how: &Reference<'_>,
    encode: impl Fn(&[usize], &[f64]) -> tensor::Result<T>,
    decode: impl Fn(&T) -> Vec<f64>,
) -> tensor::Result<(Vec<f64>, f64)> {
    let mut model = nn::trainable::<T, _>(model);
    let mut opt = Sgd::new(0.0).with_momentum(how.momentum);
    let mut rng = nn::init::Rng::new(how.seed);
    let y = train.one_hot();
    let shaped = |rows: usize| [&[rows][..], how.row_shape].concat();
    let mut losses = Vec::new();
    for &lr in &how.lrs {
        opt.lr = lr;
        let batches = plain_batches(
            &train.features,
            train.cols,
            &y,
            train.classes,
            how.batch_size,
            &encode,
            &mut rng,
        )?
        .into_iter()
        .map(|b| Ok(vec![b[0].reshape(&shaped(b[0].dims()[0]))?, b[1].clone()]))
        .collect::<tensor::Result<Vec<_>>>()?;
        let total = train_epoch(&mut model, &mut opt, &batches, nn::cross_entropy, || {})?;
        losses.push(decode(&total.expect("at least one batch"))[0] / batches.len() as f64);
    }
    let xt = encode(&shaped(test.rows()), &test.features)?;
    let logits = decode(model.forward(&Var::constant(xt))?.value());
    Ok((losses, digits::accuracy(&logits, &test.labels)))
}

/// Plaintext batches of `[inputs, targets]` rows, each made a tensor by `encode(shape,
/// values)` (fixed point at some scale, or `f64`), in a public order drawn from `rng` (the
/// plaintext reference runs; private runs use [`umbra::loader::Loader`]).
///
/// # Errors
/// Values that `encode` refuses.
pub fn plain_batches<T>(
    x: &[f64],
    x_cols: usize,
    y: &[f64],
    y_cols: usize,
    batch_size: usize,
    encode: impl Fn(&[usize], &[f64]) -> tensor::Result<T>,
    rng: &mut nn::init::Rng,
) -> tensor::Result<Vec<Vec<T>>> {
    let n = x.len() / x_cols;
    let order = umbra::loader::permutation(n, rng);
    let mut out = Vec::new();
    for chunk in order.chunks(batch_size) {
        let xs: Vec<f64> = chunk
            .iter()
            .flat_map(|&i| &x[i * x_cols..(i + 1) * x_cols])
            .copied()
            .collect();
        let ys: Vec<f64> = chunk
            .iter()
            .flat_map(|&i| &y[i * y_cols..(i + 1) * y_cols])
            .copied()
            .collect();
        out.push(vec![
            encode(&[chunk.len(), x_cols], &xs)?,
            encode(&[chunk.len(), y_cols], &ys)?,
        ]);
    }
    Ok(out)
}

/// An encoder for [`plain_batches`]: fixed point at `frac_bits` fractional bits.
pub fn fixed_point(frac_bits: u32) -> impl Fn(&[usize], &[f64]) -> tensor::Result<RingTensor> {
    move |shape, values| RingTensor::from_f64(shape, values, frac_bits)
}

/// Communication of one party over a timed span, for the summary lines.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Wall time, seconds.
    pub wall_s: f64,
    /// The measuring party's traffic.
    pub stats: CommStats,
}

impl Cost {
    /// Times `f` on `s` and records party `s`'s traffic over it.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn measure<R>(s: &Session, f: impl FnOnce() -> mpc::Result<R>) -> mpc::Result<(R, Cost)> {
        let before = s.stats();
        let t0 = Instant::now();
        let r = f()?;
        let wall_s = t0.elapsed().as_secs_f64();
        Ok((
            r,
            Cost {
                wall_s,
                stats: s.stats() - before,
            },
        ))
    }

    /// `12.3 s, 45.6 MB and 789 rounds per party`.
    pub fn describe(&self) -> String {
        format!(
            "{:.2} s, {:.1} MB and {} rounds per party",
            self.wall_s,
            self.stats.bytes_sent as f64 / 1e6,
            self.stats.rounds
        )
    }
}

/// Runs a demo's party program on `parties` in-process parties and returns party `report`'s
/// result.
///
/// # Errors
/// Fewer than two parties, or a protocol failure.
///
/// # Panics
/// If `report` is not a party.
pub fn in_process<R: Send>(
    parties: usize,
    report: usize,
    program: impl Fn(&Session) -> mpc::Result<R> + Sync,
) -> mpc::Result<R> {
    let mut out = run_local(parties, SessionConfig::default(), |s| program(&s))?;
    Ok(out.swap_remove(report))
}
