//! `umbra infer`: an ONNX model run privately on `.npy` inputs, in-process and as separate
//! processes under `umbra launch`, against the `onnx` package's reference evaluator
//! (fixtures of scripts/onnx_eval_fixtures.py); bad files and names are refused by name.

use std::path::PathBuf;
use std::time::Instant;

mod common;

use apps::infer::{read_npy, write_npy};
use common::*;
use tensor::FloatTensor;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../onnx/tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("umbra-infer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Private softmax outputs against the reference: softmax's documented error is 1.3e-3
/// relative (docs/accuracy.md), on logits carrying a few 2^-16 truncations.
fn assert_close(got: &FloatTensor, want: &FloatTensor) {
    assert_eq!(got.shape(), want.shape());
    for (g, w) in got.as_slice().iter().zip(want.as_slice()) {
        assert!((g - w).abs() <= 5e-3 * w.abs() + 1e-3, "{g} vs {w}");
    }
}

#[test]
fn infer_runs_a_model_in_process_and_writes_npy() {
    let dir = scratch("local");
    let out = dir.join("probs.npy");
    let run = finish(
        spawn({
            let mut c = umbra();
            c.args(["infer", "--model", &fixture("cnn.onnx")])
                .args(["--input", &fixture("cnn_input_0.npy")])
                .arg("--output")
                .arg(&out);
            c
        }),
        Instant::now(),
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.out, run.err);
    assert!(run.out.contains("rounds"), "{}", run.out);
    assert!(run.out.contains("output probs [3, 4]"), "{}", run.out);
    let got = read_npy(&out).unwrap();
    let want = read_npy(PathBuf::from(fixture("cnn_output_0.npy")).as_path()).unwrap();
    assert_close(&got, &want);
}

#[test]
fn infer_runs_across_processes_and_only_the_input_owner_sees_the_output() {
    let dir = scratch("launch");
    let out = dir.join("probs.npy");
    let mut cmd = umbra();
    cmd.args(["launch", "--parties", "2", "--dealer", "--"])
        .arg(env!("CARGO_BIN_EXE_umbra"))
        .args(["infer", "--party", "--model", &fixture("cnn.onnx")])
        .args(["--input", &fixture("cnn_input_0.npy")])
        .arg("--output")
        .arg(&out);
    let run = finish(spawn(cmd), Instant::now());
    assert_eq!(run.code, Some(0), "{}\n{}", run.out, run.err);
    assert!(
        run.out.contains("[party 1] output probs [3, 4]"),
        "{}",
        run.out
    );
    assert!(!run.out.contains("[party 0] output"), "{}", run.out);
    let want = read_npy(PathBuf::from(fixture("cnn_output_0.npy")).as_path()).unwrap();
    assert_close(&read_npy(&out).unwrap(), &want);
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let dir = scratch("bad");
    let junk = dir.join("junk.npy");
    std::fs::write(&junk, b"not numpy").unwrap();
    let infer = |input: &str| {
        let mut c = umbra();
        c.args(["infer", "--model", &fixture("cnn.onnx"), "--input", input]);
        finish(spawn(c), Instant::now())
    };
    let run = infer(junk.to_str().unwrap());
    assert_ne!(run.code, Some(0));
    assert!(run.err.contains("junk.npy: not a .npy file"), "{}", run.err);
    let run = infer(&format!("pixels={}", fixture("cnn_input_0.npy")));
    assert!(
        run.err.contains("the model has no input `pixels`"),
        "{}",
        run.err
    );
    // a wrong shape: the model declares [batch, 1, 6, 6]
    let flat = dir.join("flat.npy");
    write_npy(
        &flat,
        &FloatTensor::from_f64(&[3, 36], &[0.5; 108]).unwrap(),
    )
    .unwrap();
    let run = infer(flat.to_str().unwrap());
    assert!(run.err.contains("has shape [3, 36]"), "{}", run.err);
    let run = finish(
        spawn({
            let mut c = umbra();
            c.args(["infer", "--model", &fixture("tiny_ext.bin")]);
            c
        }),
        Instant::now(),
    );
    assert_ne!(run.code, Some(0));
    assert!(
        run.err.to_lowercase().contains("decode") || run.err.contains("model"),
        "{}",
        run.err
    );
}

#[test]
fn npy_files_round_trip_and_integer_files_read_as_reals() {
    let dir = scratch("npy");
    let t = FloatTensor::from_f64(&[2, 3], &[1.5, -2.0, 0.0, 3.25, 1e-3, -7.0]).unwrap();
    let p = dir.join("t.npy");
    write_npy(&p, &t).unwrap();
    let back = read_npy(&p).unwrap();
    assert_eq!(back.shape(), t.shape());
    assert_eq!(back.as_slice(), t.as_slice());
    // an int64 file as numpy writes it (np.save of np.arange(4).reshape(2, 2))
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in 0i64..4 {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let q = dir.join("ints.npy");
    std::fs::write(&q, bytes).unwrap();
    let ints = read_npy(&q).unwrap();
    assert_eq!(ints.shape(), &[2, 2]);
    assert_eq!(ints.as_slice(), &[0.0, 1.0, 2.0, 3.0]);
}
