//! Shared by the evaluation and conformance tests: reading TensorProto files, and running a
//! model privately at 2 parties (inputs shared from party 1, the model owner's weights from
//! party 0, every output revealed).

#![allow(dead_code)]

use std::path::Path;

use mpc::{CommStats, SessionConfig};
use onnx::{Model, Tensor};
use prost::Message;
use tensor::FloatTensor;

/// A `TensorProto` file (as the `onnx` package's `numpy_helper` writes them).
pub(crate) fn read_pb(path: &Path) -> Result<(String, Tensor), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = onnx::proto::TensorProto::decode(bytes.as_slice())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let name = t.name.clone();
    let t = Tensor::from_proto(&t, None).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((name, t))
}

/// The model on the f64 reference.
pub(crate) fn run_f64(
    model: &Model,
    inputs: &[(String, Tensor)],
) -> Result<Vec<FloatTensor>, String> {
    let xs = inputs
        .iter()
        .map(|(n, t)| Ok((n.as_str(), t.to_float_tensor()?)))
        .collect::<onnx::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    model
        .run(&xs, |_, w| FloatTensor::from_f64(&w.dims, &w.to_f64()))
        .map_err(|e| e.to_string())
}

/// The model privately at 2 parties; the outputs revealed, and party 0's traffic.
pub(crate) fn run_private(
    model: &Model,
    inputs: &[(String, Tensor)],
) -> Result<(Vec<FloatTensor>, CommStats), String> {
    let runs = mpc::run_local(2, SessionConfig::default(), |s| {
        let mut xs = Vec::new();
        for (n, t) in inputs {
            xs.push((n.as_str(), s.share_f64(&t.dims, &t.to_f64(), 1)?));
        }
        let before = s.stats();
        let outs = match model.run(&xs, |_, w| s.share_f64(&w.dims, &w.to_f64(), 0)) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let revealed = outs
            .iter()
            .map(|o| o.reveal_f64())
            .collect::<mpc::Result<Vec<_>>>()?;
        let after = s.stats();
        let stats = CommStats {
            bytes_sent: after.bytes_sent - before.bytes_sent,
            bytes_received: after.bytes_received - before.bytes_received,
            messages_sent: after.messages_sent - before.messages_sent,
            rounds: after.rounds - before.rounds,
        };
        Ok(Ok((revealed, stats)))
    })
    .map_err(|e| e.to_string())?;
    runs.into_iter().next().expect("two parties ran")
}

/// The largest violation of `|got - want| <= rtol * |want| + atol`, as a message, or `None`.
pub(crate) fn mismatch(got: &FloatTensor, want: &Tensor, rtol: f64, atol: f64) -> Option<String> {
    if got.shape() != want.dims.as_slice() {
        return Some(format!("shape {:?}, expected {:?}", got.shape(), want.dims));
    }
    let want = want.to_f64();
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &w)) in got.as_slice().iter().zip(&want).enumerate() {
        let bad = if w.is_finite() {
            (g - w).abs() - (rtol * w.abs() + atol)
        } else if (w.is_nan() && g.is_nan()) || g == w {
            0.0
        } else {
            f64::INFINITY
        };
        if bad > 0.0 && worst.is_none_or(|(_, b)| bad > b) {
            worst = Some((i, bad));
        }
    }
    worst.map(|(i, _)| {
        format!(
            "element {i}: got {}, expected {} (of {} elements)",
            got.as_slice()[i],
            want[i],
            want.len()
        )
    })
}
