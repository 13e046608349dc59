//! `umbra demo logreg`: private logistic regression on the breast-cancer data.
//!
//! Who owns what (a vertical split):
//! - party 0, the **data owner** (a hospital), holds the 30 features of every patient; it
//!   standardises them with the training split's statistics before sharing;
//! - party 1, the **label owner** (a pathology lab), holds the diagnoses;
//! - the **model owner** (party 2 when there are three parties, else party 0) initialises the
//!   model and shares it.
//!
//! Training is mini-batch SGD on `BCEWithLogitsLoss` over secret shares, the batches in an
//! order no party knows ([`umbra::loader`]). The parties reveal the mean training loss of
//! each epoch and, at the end, only the number of correctly classified test patients: the
//! model, the predictions and every label stay secret. The same `nn` code then trains on
//! plaintext fixed point (`RingTensor`, the same 16 fractional bits) for comparison.

use std::fmt::Write as _;

use autograd::Var;
use mpc::{CrypTensor, Session};
use nn::init::Rng;
use nn::{Linear, Module, Sgd, bce_with_logits, detached, trainable};
use tensor::RingTensor;

use super::{Cost, fixed_point, plain_batches, private_epoch, progress, train_epoch};
use crate::data::{Dataset, breast_cancer};
use umbra::Encrypt;
use umbra::loader::{Block, Loader, Shuffle, share_block};

/// The party holding the features.
pub const DATA_OWNER: usize = 0;
/// The party holding the labels.
pub const LABEL_OWNER: usize = 1;
/// Seed of the train/test split (public: row indices are not secret).
pub const SPLIT_SEED: u64 = 20;
/// Seed of the model owner's initial weights.
const INIT_SEED: u64 = 21;

/// The party that supplies the model: a third party when there is one.
pub fn model_owner(parties: usize) -> usize {
    if parties >= 3 { 2 } else { DATA_OWNER }
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
    /// Train on only the first this many training rows (tests); `None`: all 455.
    pub train_rows: Option<usize>,
    /// Seed of each party's batch-order randomness (`seed + party`): reproducible runs for
    /// tests. `None`: operating-system randomness (the order is then secret).
    pub seed: Option<u64>,
    /// Draw a progress bar (party 0, on a terminal).
    pub progress: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            lr: 0.5,
            train_rows: None,
            seed: None,
            progress: true,
        }
    }
}

/// What a run produced, as party 0 sees it.
#[derive(Debug, Clone)]
pub struct Report {
    /// Number of parties.
    pub parties: usize,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Mean batch loss of each epoch (revealed).
    pub losses: Vec<f64>,
    /// Test accuracy of the private model (only the count of correct predictions is
    /// revealed).
    pub test_accuracy: f64,
    /// The same code on plaintext fixed point: mean batch loss per epoch.
    pub plain_losses: Vec<f64>,
    /// The plaintext model's test accuracy.
    pub plain_accuracy: f64,
    /// Training time and traffic (party 0).
    pub train_cost: Cost,
    /// Evaluation time and traffic (party 0).
    pub eval_cost: Cost,
}

impl Report {
    /// The per-epoch table and the summary line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "private logistic regression, breast cancer: {} parties (features: party {DATA_OWNER}, \
             labels: party {LABEL_OWNER}, model: party {}), {} training rows, {} test rows",
            self.parties,
            model_owner(self.parties),
            self.train_rows,
            self.test_rows
        );
        let _ = writeln!(s, "epoch   private loss   plaintext loss");
        for (e, (p, q)) in self.losses.iter().zip(&self.plain_losses).enumerate() {
            let _ = writeln!(s, "{:>5}   {p:>12.4}   {q:>14.4}", e + 1);
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    /// One line: accuracy, the plaintext comparison and the cost.
    pub fn summary(&self) -> String {
        format!(
            "logreg: test accuracy {:.2}% private vs {:.2}% plaintext fixed point (same nn code); \
             training took {}",
            100.0 * self.test_accuracy,
            100.0 * self.plain_accuracy,
            self.train_cost.describe()
        )
    }
}

/// The split, with features standardised by the training split's statistics (what the data
/// owner does locally before sharing).
pub fn prepare(train_rows: Option<usize>) -> (Dataset, Dataset) {
    let (train, test) = breast_cancer().split(0.2, SPLIT_SEED);
    let (mean, std) = train.feature_stats();
    let mut train = train.standardized(&mean, &std);
    if let Some(n) = train_rows {
        train = train.range(0, n.min(train.rows()));
    }
    (train, test.standardized(&mean, &std))
}

/// The model owner's initial model (every party builds the same shapes).
fn initial_model() -> Linear<RingTensor> {
    Linear::init(30, 1, true, &mut Rng::new(INIT_SEED)).expect("valid sizes")
}

/// Integers (0/1 labels) shared from `owner` at scale 0.
fn share_ints(s: &Session, owner: usize, shape: &[usize], v: &[i64]) -> mpc::Result<CrypTensor> {
    if s.party() == owner {
        s.share(&RingTensor::from_i64(shape, v)?, owner)
    } else {
        s.share_from(shape, 0, owner)
    }
}

/// Runs the demo as one party of `s` (every party calls it with the same `cfg`).
///
/// # Errors
/// Fewer than two parties; a protocol or network failure.
///
/// # Security
/// Reveals to every party the mean training loss of each epoch and the number of correct
/// test predictions; nothing else.
pub fn run(s: &Session, cfg: &Config) -> mpc::Result<Report> {
    let (train, test) = prepare(cfg.train_rows);
    let (n, n_test) = (train.rows(), test.rows());
    let x = share_block(s, &Block::new(DATA_OWNER, n, 30, Some(&train.features)))?;
    let y = share_block(s, &Block::new(LABEL_OWNER, n, 1, Some(&train.labels_f64())))?;
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
    let bar = progress(
        s,
        (cfg.epochs * loader.batches_per_epoch()) as u64,
        cfg.progress,
    );
    bar.set_prefix("logreg");
    let mut opt = Sgd::new(cfg.lr);
    let mut losses = Vec::new();
    let ((), train_cost) = Cost::measure(s, || {
        for _ in 0..cfg.epochs {
            let batches = loader.epoch()?;
            losses.push(private_epoch(
                &mut model,
                &mut opt,
                &batches,
                bce_with_logits,
                &bar,
            )?);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let model = detached::<CrypTensor, _>(&model);
    let (correct, eval_cost) = Cost::measure(s, || {
        let xt = share_block(s, &Block::new(DATA_OWNER, n_test, 30, Some(&test.features)))?;
        let labels: Vec<i64> = test.labels.iter().map(|&l| l as i64).collect();
        let yt = share_ints(s, LABEL_OWNER, &[n_test, 1], &labels)?;
        // predicted class 0 exactly where the logit is negative, so a prediction is wrong
        // exactly where [logit < 0] equals the label
        let wrong = model.forward(&xt)?.ltz()?.eq(&yt)?.sum(&[], false)?;
        Ok(n_test as f64 - wrong.reveal()?.as_slice()[0] as i64 as f64)
    })?;
    let (plain_losses, plain_accuracy) = plaintext(&train, &test, cfg)?;
    Ok(Report {
        parties: s.n_parties(),
        train_rows: n,
        test_rows: n_test,
        losses,
        test_accuracy: correct / n_test as f64,
        plain_losses,
        plain_accuracy,
        train_cost,
        eval_cost,
    })
}

/// The same training on plaintext fixed point: per-epoch mean batch loss and test accuracy.
/// Its batch order is public (drawn from `cfg.seed`, or a fixed seed).
///
/// # Errors
/// Values that cannot be encoded.
pub fn plaintext(train: &Dataset, test: &Dataset, cfg: &Config) -> tensor::Result<(Vec<f64>, f64)> {
    let mut model = trainable::<RingTensor, _>(&initial_model());
    let mut opt = Sgd::new(cfg.lr);
    let mut rng = Rng::new(cfg.seed.unwrap_or(SPLIT_SEED));
    let y = train.labels_f64();
    let mut losses = Vec::new();
    for _ in 0..cfg.epochs {
        let batches = plain_batches(
            &train.features,
            30,
            &y,
            1,
            cfg.batch_size,
            fixed_point(16),
            &mut rng,
        )?;
        let total = train_epoch(&mut model, &mut opt, &batches, bce_with_logits, || {})?;
        losses.push(total.expect("at least one batch").to_f64()[0] / batches.len() as f64);
    }
    let xt = RingTensor::from_f64(&[test.rows(), 30], &test.features, 16)?;
    let logits = model.forward(&Var::constant(xt))?.value().to_f64();
    let correct = logits
        .iter()
        .zip(&test.labels)
        .filter(|(z, l)| usize::from(**z >= 0.0) == **l)
        .count();
    Ok((losses, correct as f64 / test.rows() as f64))
}
