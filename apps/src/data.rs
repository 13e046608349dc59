//! The demos' data sets, shipped in `data/` and compiled into the binary (so a fresh clone runs
//! every demo offline, from any directory), and the plaintext preparation each data owner does
//! before sharing: a deterministic train/test split and standardisation.
//!
//! - [`breast_cancer`]: Breast Cancer Wisconsin (Diagnostic), 569 rows of 30 real features,
//!   label 0 = malignant, 1 = benign (`data/breast_cancer.README.rst`).
//! - [`digits`]: the UCI optical digits test set, 1797 8x8 images with pixels 0..=16, label
//!   0..=9 (`data/digits.README.rst`).
//!
//! ```
//! let d = apps::data::breast_cancer();
//! assert_eq!((d.rows(), d.cols, d.classes), (569, 30, 2));
//! let (train, test) = d.split(0.2, 7);
//! assert_eq!((train.rows(), test.rows()), (455, 114));
//! ```

use nn::init::Rng;
use umbra::loader::permutation;

const BREAST_CANCER: &str = include_str!("../data/breast_cancer.csv");
const DIGITS: &str = include_str!("../data/digits.csv");

/// A plaintext table: `rows × cols` real features (row-major) and a class label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Features, row-major, `rows() * cols` values.
    pub features: Vec<f64>,
    /// Number of features per row.
    pub cols: usize,
    /// Class of each row, below `classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.features[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            features: indices.iter().flat_map(|&i| self.row(i)).copied().collect(),
            cols: self.cols,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// The rows `start..start + len`.
    pub fn range(&self, start: usize, len: usize) -> Dataset {
        self.select(&(start..start + len).collect::<Vec<_>>())
    }

    /// A deterministic train/test split: the rows are shuffled with `seed` (Fisher-Yates) and
    /// the last `round(test_fraction · rows)` become the test set. The row indices of both
    /// sets are public; only the values are private once shared.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let order = permutation(self.rows(), &mut Rng::new(seed));
        let n_test = (self.rows() as f64 * test_fraction).round() as usize;
        let (train, test) = order.split_at(self.rows() - n_test);
        (self.select(train), self.select(test))
    }

    /// Per-feature mean and standard deviation (population; a constant feature gets 1).
    pub fn feature_stats(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.rows().max(1) as f64;
        let mut mean = vec![0.0; self.cols];
        for i in 0..self.rows() {
            for (m, v) in mean.iter_mut().zip(self.row(i)) {
                *m += v / n;
            }
        }
        let mut std = vec![0.0; self.cols];
        for i in 0..self.rows() {
            for ((s, v), m) in std.iter_mut().zip(self.row(i)).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        for s in &mut std {
            *s = if *s > 0.0 { s.sqrt() } else { 1.0 };
        }
        (mean, std)
    }

    /// The same rows with every feature standardised by `(x - mean) / std` (statistics from
    /// [`Dataset::feature_stats`] of the training split, so the test split leaks nothing into
    /// training).
    pub fn standardized(&self, mean: &[f64], std: &[f64]) -> Dataset {
        let mut out = self.clone();
        for row in out.features.chunks_mut(self.cols) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / s;
            }
        }
        out
    }

    /// The same rows with every feature multiplied by `c`.
    pub fn scaled(&self, c: f64) -> Dataset {
        let mut out = self.clone();
        out.features.iter_mut().for_each(|v| *v *= c);
        out
    }

    /// The labels one-hot, row-major `rows × classes` (what a label owner shares for
    /// cross-entropy).
    pub fn one_hot(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.rows() * self.classes];
        for (i, &l) in self.labels.iter().enumerate() {
            v[i * self.classes + l] = 1.0;
        }
        v
    }

    /// The labels as reals, one column (what a label owner shares for a binary loss).
    pub fn labels_f64(&self) -> Vec<f64> {
        self.labels.iter().map(|&l| l as f64).collect()
    }
}

/// Parses `features..., label` lines; `header` skips the first line.
fn parse(text: &str, header: bool, cols: usize, classes: usize, name: &str) -> Dataset {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().skip(usize::from(header)) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(
            fields.len(),
            cols + 1,
            "{name} line {}: expected {} fields",
            i + 1,
            cols + 1
        );
        for f in &fields[..cols] {
            features.push(
                f.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1)),
            );
        }
        let label: usize = fields[cols]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
        assert!(label < classes, "{name} line {}: label {label}", i + 1);
        labels.push(label);
    }
    Dataset {
        features,
        cols,
        labels,
        classes,
    }
}

/// Breast Cancer Wisconsin (Diagnostic): 569 rows, 30 features, label 0 = malignant,
/// 1 = benign. The file's header line is `569,30,malignant,benign`.
///
/// # Panics
/// Never for the shipped file (it is parsed by a test).
pub fn breast_cancer() -> Dataset {
    let d = parse(BREAST_CANCER, true, 30, 2, "breast_cancer.csv");
    assert_eq!(d.rows(), 569, "breast_cancer.csv: row count");
    d
}

/// The optical digits: 1797 images of 8x8 pixels in `0..=16` (row-major), label 0..=9.
///
/// # Panics
/// Never for the shipped file (it is parsed by a test).
pub fn digits() -> Dataset {
    let d = parse(DIGITS, false, 64, 10, "digits.csv");
    assert_eq!(d.rows(), 1797, "digits.csv: row count");
    d
}

/// Digit images (8x8, any scale) as 28x28 LeNet inputs: each pixel becomes a 3x3 block
/// (nearest neighbour, 24x24) inside a zero border of 2, as MNIST centres its digits in 28x28.
pub fn upsample_28(images: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(images.len() / 64 * 784);
    for img in images.chunks(64) {
        let mut big = vec![0.0; 784];
        for y in 0..24 {
            for x in 0..24 {
                big[(y + 2) * 28 + x + 2] = img[(y / 3) * 8 + x / 3];
            }
        }
        out.extend(big);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_parse_with_the_documented_shapes_and_classes() {
        let b = breast_cancer();
        assert_eq!(b.features.len(), 569 * 30);
        // 212 malignant and 357 benign, as the README says
        assert_eq!(b.labels.iter().filter(|&&l| l == 0).count(), 212);
        let d = digits();
        assert_eq!(d.features.len(), 1797 * 64);
        assert!(d.features.iter().all(|&v| (0.0..=16.0).contains(&v)));
        for c in 0..10 {
            assert!(d.labels.iter().filter(|&&l| l == c).count() > 170);
        }
    }

    #[test]
    fn split_is_deterministic_and_a_partition() {
        let d = breast_cancer();
        let (a, b) = d.split(0.2, 3);
        assert_eq!(d.split(0.2, 3), (a.clone(), b.clone()));
        assert_ne!(d.split(0.2, 4).0, a);
        let mut all: Vec<Vec<u64>> = a
            .features
            .chunks(30)
            .chain(b.features.chunks(30))
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        let mut orig: Vec<Vec<u64>> = d
            .features
            .chunks(30)
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        all.sort();
        orig.sort();
        assert_eq!(all, orig);
    }

    #[test]
    fn standardisation_uses_the_given_statistics() {
        let (train, test) = breast_cancer().split(0.2, 1);
        let (m, s) = train.feature_stats();
        let z = train.standardized(&m, &s);
        let (zm, zs) = z.feature_stats();
        assert!(zm.iter().all(|v| v.abs() < 1e-9) && zs.iter().all(|v| (v - 1.0).abs() < 1e-9));
        // the test split is shifted by the training statistics, so its mean is not exactly 0
        let (tm, _) = test.standardized(&m, &s).feature_stats();
        assert!(tm.iter().any(|v| v.abs() > 1e-3));
    }

    #[test]
    fn upsampling_keeps_the_digit_centred() {
        let img: Vec<f64> = (0..64).map(|i| i as f64).collect();
        let big = upsample_28(&img);
        assert_eq!(big.len(), 784);
        assert_eq!(big[0], 0.0);
        assert_eq!(big[2 * 28 + 2], 0.0);
        assert_eq!(big[2 * 28 + 5], 1.0);
        assert_eq!(big[25 * 28 + 25], 63.0);
        assert_eq!(big[26 * 28 + 26], 0.0);
    }
}
