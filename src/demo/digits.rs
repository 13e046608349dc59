//! `umbra demo digits`: private training of an MLP (64-128-10) on the digits.
//!
//! Who owns what (a horizontal split):
//! - party 0 and party 1 each hold half of the training images **with their labels** (two
//!   clinics, each with its own patients); the images are scaled to `[0, 1]` by the public
//!   constant 1/16, so no statistics need to be shared;
//! - party 0 holds the test images and their labels;
//! - the **model owner** (party 2 when there are three parties, else party 1) initialises the
//!   model and shares it.
//!
//! Training is mini-batch SGD with momentum on cross-entropy (labels one-hot) over secret
//! shares, in a batch order no party knows. The parties reveal the mean training loss of each
//! epoch and the number of correct test predictions (argmax of the private logits against the
//! private labels). For comparison the same `nn` code trains the same model, from the same
//! initial weights and for the same epochs, in plaintext: at 16 fractional bits (the private
//! run's arithmetic without the protocols) and at 24 (a near-`f64` reference: umbra has no
//! `f64` tensor type, and `RingTensor` at 2^-24 is the same code path with a 256 times finer
//! grid). The plaintext runs use a public batch order of their own.

use std::fmt::Write as _;

use autograd::Var;
use mpc::{CrypTensor, Session};
use nn::init::Rng;
use nn::{Linear, Module, ReLU, Sequential, Sgd, cross_entropy, detached, trainable};
use tensor::RingTensor;

use super::{Cost, at_precision, plain_batches, progress, train_epoch};
use crate::Encrypt;
use crate::data::{Dataset, digits};
use crate::loader::{Block, Loader, Shuffle, horizontal};

/// Seed of the train/test split (public).
pub const SPLIT_SEED: u64 = 30;
/// Seed of the model owner's initial weights.
const INIT_SEED: u64 = 31;
/// The party holding the test set.
pub const TEST_OWNER: usize = 0;

/// The party that supplies the model: a third party when there is one.
pub fn model_owner(parties: usize) -> usize {
    if parties >= 3 { 2 } else { 1 }
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per SGD step.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Train on only the first this many training rows (tests); `None`: all 1438.
    pub train_rows: Option<usize>,
    /// Evaluate on only the first this many test rows (tests); `None`: all 359.
    pub test_rows: Option<usize>,
    /// Seed of each party's batch-order randomness (`seed + party`); `None`: OS randomness.
    pub seed: Option<u64>,
    /// Draw a progress bar (party 0, on a terminal).
    pub progress: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            lr: 0.05,
            momentum: 0.9,
            train_rows: None,
            test_rows: None,
            seed: None,
            progress: true,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// Number of parties.
    pub parties: usize,
    /// Training rows (split between parties 0 and 1).
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Mean batch loss per epoch, private run (revealed).
    pub losses: Vec<f64>,
    /// Test accuracy of the private model.
    pub test_accuracy: f64,
    /// Mean batch loss per epoch, plaintext fixed point.
    pub plain_losses: Vec<f64>,
    /// Test accuracy of the plaintext model.
    pub plain_accuracy: f64,
    /// Mean batch loss per epoch, plaintext at [`FINE_FRAC_BITS`].
    pub fine_losses: Vec<f64>,
    /// Test accuracy of the plaintext model at [`FINE_FRAC_BITS`].
    pub fine_accuracy: f64,
    /// Training time and traffic (party 0).
    pub train_cost: Cost,
    /// SGD steps taken.
    pub steps: usize,
}

impl Report {
    /// The per-epoch table and the summary line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "private MLP 64-128-10, digits: {} parties (training rows: parties 0 and 1, test \
             rows: party {TEST_OWNER}, model: party {}), {} training rows, {} test rows",
            self.parties,
            model_owner(self.parties),
            self.train_rows,
            self.test_rows
        );
        let _ = writeln!(
            s,
            "epoch   private loss   plaintext loss (2^-16)   plaintext loss (2^-24)"
        );
        for (e, ((p, q), r)) in self
            .losses
            .iter()
            .zip(&self.plain_losses)
            .zip(&self.fine_losses)
            .enumerate()
        {
            let _ = writeln!(s, "{:>5}   {p:>12.4}   {q:>22.4}   {r:>22.4}", e + 1);
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    /// One line: both accuracies, their gap and the cost.
    pub fn summary(&self) -> String {
        format!(
            "digits: test accuracy {:.2}% private vs plaintext (same nn code, same epochs) \
             {:.2}% at 2^-16 and {:.2}% at 2^-24 ({:+.2} points); {} steps took {} \
             ({:.1} ms/step)",
            100.0 * self.test_accuracy,
            100.0 * self.plain_accuracy,
            100.0 * self.fine_accuracy,
            100.0 * (self.test_accuracy - self.fine_accuracy),
            self.steps,
            self.train_cost.describe(),
            1e3 * self.train_cost.wall_s / self.steps.max(1) as f64
        )
    }
}

/// The split, pixels scaled to `[0, 1]`.
pub fn prepare(train_rows: Option<usize>, test_rows: Option<usize>) -> (Dataset, Dataset) {
    let (train, test) = digits().split(0.2, SPLIT_SEED);
    let (mut train, mut test) = (train.scaled(1.0 / 16.0), test.scaled(1.0 / 16.0));
    if let Some(n) = train_rows {
        train = train.range(0, n.min(train.rows()));
    }
    if let Some(n) = test_rows {
        test = test.range(0, n.min(test.rows()));
    }
    (train, test)
}

/// The MLP, initialised by its owner as PyTorch would.
pub fn initial_model() -> Sequential<RingTensor> {
    let mut rng = Rng::new(INIT_SEED);
    Sequential::new(vec![
        Linear::init(64, 128, true, &mut rng)
            .expect("valid sizes")
            .into(),
        ReLU.into(),
        Linear::init(128, 10, true, &mut rng)
            .expect("valid sizes")
            .into(),
    ])
}

/// Runs the demo as one party of `s`.
///
/// # Errors
/// Fewer than two parties; a protocol or network failure.
///
/// # Security
/// Reveals to every party the mean training loss of each epoch and the number of correct
/// test predictions; nothing else.
pub fn run(s: &Session, cfg: &Config) -> mpc::Result<Report> {
    let (train, test) = prepare(cfg.train_rows, cfg.test_rows);
    let n = train.rows();
    let half = n / 2;
    let (a, b) = (train.range(0, half), train.range(half, n - half));
    let (ya, yb) = (a.one_hot(), b.one_hot());
    // rows from two owners, stacked: features and one-hot labels alike
    let x = horizontal(
        s,
        &[
            Block::new(0, a.rows(), 64, Some(&a.features)),
            Block::new(1, b.rows(), 64, Some(&b.features)),
        ],
    )?;
    let y = horizontal(
        s,
        &[
            Block::new(0, a.rows(), 10, Some(&ya)),
            Block::new(1, b.rows(), 10, Some(&yb)),
        ],
    )?;
    let mut model = initial_model().encrypt_trainable(s, model_owner(s.n_parties()))?;
    let mut loader = match cfg.seed {
        Some(seed) => Loader::with_seed(
            s,
            &[&x, &y],
            cfg.batch_size,
            Shuffle::Private,
            seed + s.party() as u64,
        )?,
        None => Loader::new(s, &[&x, &y], cfg.batch_size, Shuffle::Private)?,
    };
    let steps = cfg.epochs * loader.batches_per_epoch();
    let bar = progress(s, steps as u64, cfg.progress);
    bar.set_prefix("digits");
    let mut opt = Sgd::new(cfg.lr).with_momentum(cfg.momentum);
    let mut losses = Vec::new();
    let ((), train_cost) = Cost::measure(s, || {
        for _ in 0..cfg.epochs {
            let batches = loader.epoch()?;
            let total = train_epoch(&mut model, &mut opt, &batches, cross_entropy, || bar.inc(1))?;
            let loss = total.expect("at least one batch").reveal_f64()?[0] / batches.len() as f64;
            bar.set_message(format!("loss {loss:.4}"));
            losses.push(loss);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let model = detached::<CrypTensor, _>(&model);
    let n_test = test.rows();
    let xt = Block::new(TEST_OWNER, n_test, 64, Some(&test.features));
    let yt_values = test.one_hot();
    let yt = Block::new(TEST_OWNER, n_test, 10, Some(&yt_values));
    let xt = crate::loader::share_block(s, &xt)?;
    let yt = crate::loader::share_block(s, &yt)?;
    // the one-hot argmax of the logits against the one-hot labels: 1 per correct row
    let (_, pred) = model.forward(&xt)?.max_dim_with_mask(1, false)?;
    let correct = pred.mul(&yt)?.sum(&[], false)?.reveal_f64()?[0];
    let (plain_losses, plain_accuracy) = plaintext(&train, &test, cfg, 16)?;
    let (fine_losses, fine_accuracy) = plaintext(&train, &test, cfg, FINE_FRAC_BITS)?;
    Ok(Report {
        parties: s.n_parties(),
        train_rows: n,
        test_rows: n_test,
        losses,
        test_accuracy: correct / n_test as f64,
        plain_losses,
        plain_accuracy,
        fine_losses,
        fine_accuracy,
        train_cost,
        steps,
    })
}

/// Fractional bits of the high-precision plaintext reference: products then keep 2^-24
/// (6e-8), against 2^-16 (1.5e-5) in the private run.
pub const FINE_FRAC_BITS: u32 = 24;

/// The same training on plaintext fixed point at `frac_bits` fractional bits (16: the
/// private run's arithmetic without the protocols; [`FINE_FRAC_BITS`]: near-`f64`), with a
/// public batch order: per-epoch mean batch loss and test accuracy.
///
/// # Errors
/// Values that cannot be encoded.
pub fn plaintext(
    train: &Dataset,
    test: &Dataset,
    cfg: &Config,
    frac_bits: u32,
) -> tensor::Result<(Vec<f64>, f64)> {
    let mut model = trainable::<RingTensor, _>(&at_precision(&initial_model(), frac_bits)?);
    let mut opt = Sgd::new(cfg.lr).with_momentum(cfg.momentum);
    let mut rng = Rng::new(cfg.seed.unwrap_or(SPLIT_SEED));
    let y = train.one_hot();
    let mut losses = Vec::new();
    for _ in 0..cfg.epochs {
        let batches = plain_batches(
            &train.features,
            64,
            &y,
            10,
            cfg.batch_size,
            frac_bits,
            &mut rng,
        )?;
        let total = train_epoch(&mut model, &mut opt, &batches, cross_entropy, || {})?;
        losses.push(total.expect("at least one batch").to_f64()[0] / batches.len() as f64);
    }
    let xt = RingTensor::from_f64(&[test.rows(), 64], &test.features, frac_bits)?;
    let logits = model.forward(&Var::constant(xt))?.value().to_f64();
    Ok((losses, accuracy(&logits, &test.labels)))
}

/// Fraction of rows whose largest logit (first on ties) is the label.
pub fn accuracy(logits: &[f64], labels: &[usize]) -> f64 {
    let classes = logits.len() / labels.len().max(1);
    let correct = logits
        .chunks(classes)
        .zip(labels)
        .filter(|(row, l)| {
            let best = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            best == **l
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}
