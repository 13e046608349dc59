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
//! initial weights and for the same epochs, in plaintext: in `f64` ([`FloatTensor`], the
//! reference the "within 2 points" is measured against) and in fixed point at 16
//! fractional bits (the private run's arithmetic without the protocols). The plaintext runs
//! use one public batch order of their own.

use std::fmt::Write as _;

use mpc::{CrypTensor, Session};
use nn::init::Rng;
use nn::{Linear, MapParams, Module, ReLU, Sequential, Sgd, cross_entropy, detached};
use tensor::{FloatTensor, RingTensor};

use super::{Cost, Reference, fixed_point, loss_table, private_epoch, progress, train_reference};
use crate::data::{Dataset, digits};
use umbra::Encrypt;
use umbra::loader::{Block, Loader, Shuffle, horizontal};

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
    /// Mean batch loss per epoch, plaintext fixed point (16 fractional bits).
    pub plain_losses: Vec<f64>,
    /// Test accuracy of the plaintext fixed-point model.
    pub plain_accuracy: f64,
    /// Mean batch loss per epoch, plaintext `f64`.
    pub f64_losses: Vec<f64>,
    /// Test accuracy of the plaintext `f64` model: the reference.
    pub f64_accuracy: f64,
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
        loss_table(&mut s, &self.losses, &self.f64_losses, &self.plain_losses);
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    /// One line: the private and `f64` accuracies, their gap, the fixed-point reference and
    /// the cost.
    pub fn summary(&self) -> String {
        format!(
            "digits: test accuracy {:.2}% private vs {:.2}% plaintext f64 (same nn code, same \
             initial weights and epochs; {:+.2} points), plaintext fixed point 2^-16 {:.2}%; \
             {} steps took {} ({:.1} ms/step)",
            100.0 * self.test_accuracy,
            100.0 * self.f64_accuracy,
            100.0 * (self.test_accuracy - self.f64_accuracy),
            100.0 * self.plain_accuracy,
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
            losses.push(private_epoch(
                &mut model,
                &mut opt,
                &batches,
                cross_entropy,
                &bar,
            )?);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let model = detached::<CrypTensor, _>(&model);
    let n_test = test.rows();
    let xt = Block::new(TEST_OWNER, n_test, 64, Some(&test.features));
    let yt_values = test.one_hot();
    let yt = Block::new(TEST_OWNER, n_test, 10, Some(&yt_values));
    let xt = umbra::loader::share_block(s, &xt)?;
    let yt = umbra::loader::share_block(s, &yt)?;
    // the one-hot argmax of the logits against the one-hot labels: 1 per correct row
    let (_, pred) = model.forward(&xt)?.max_with_one_hot(1, false)?;
    let correct = pred.mul(&yt)?.sum(&[], false)?.reveal_f64()?[0];
    let (plain_losses, plain_accuracy) = plaintext(&train, &test, cfg)?;
    let (f64_losses, f64_accuracy) = plaintext_f64(&train, &test, cfg)?;
    Ok(Report {
        parties: s.n_parties(),
        train_rows: n,
        test_rows: n_test,
        losses,
        test_accuracy: correct / n_test as f64,
        plain_losses,
        plain_accuracy,
        f64_losses,
        f64_accuracy,
        train_cost,
        steps,
    })
}

/// The same training in plaintext fixed point at 16 fractional bits (the private run's
/// arithmetic without the protocols), with a public batch order: per-epoch mean batch loss
/// and test accuracy.
///
/// # Errors
/// Values that cannot be encoded.
pub fn plaintext(train: &Dataset, test: &Dataset, cfg: &Config) -> tensor::Result<(Vec<f64>, f64)> {
    train_reference(
        &initial_model(),
        train,
        test,
        &reference(cfg),
        fixed_point(16),
        RingTensor::to_f64,
    )
}

/// The same training in plaintext `f64` ([`FloatTensor`]): the same `nn` code, the same
/// initial weights (the owner's fixed-point weights, decoded exactly), the same epochs and
/// the same public batch order as [`plaintext`]; per-epoch mean batch loss and test accuracy.
///
/// # Errors
/// Never in practice (`f64` encodes every value); fallible as the other runs.
pub fn plaintext_f64(
    train: &Dataset,
    test: &Dataset,
    cfg: &Config,
) -> tensor::Result<(Vec<f64>, f64)> {
    let model = initial_model()
        .try_map(&mut |_, _, t: &RingTensor| Ok::<_, tensor::Error>(FloatTensor::from_ring(t)))?;
    train_reference(
        &model,
        train,
        test,
        &reference(cfg),
        FloatTensor::from_f64,
        FloatTensor::to_f64,
    )
}

/// The plaintext runs' schedule: `cfg`'s, with a public batch order from `cfg.seed`.
fn reference(cfg: &Config) -> Reference<'_> {
    Reference {
        lrs: vec![cfg.lr; cfg.epochs],
        batch_size: cfg.batch_size,
        momentum: cfg.momentum,
        seed: cfg.seed.unwrap_or(SPLIT_SEED),
        row_shape: &[64],
    }
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
