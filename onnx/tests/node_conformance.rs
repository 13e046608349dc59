//! The ONNX backend node cases (written by scripts/fetch_onnx_node_tests.sh from the `onnx`
//! wheel): every case whose operators umbra imports runs on the f64 reference and privately
//! at 2 parties against the expected outputs, and the counts passed per operator are printed.
//!
//! The data folder comes from `UMBRA_ONNX_NODE_TESTS`; `.ci/run` sets it. Without it the test
//! says so and passes (a newcomer's `cargo test` needs no network); with it set, a missing
//! folder is a failure.
//!
//! Tolerances. Integer and boolean results must be exact (privately: after rounding to the
//! nearest integer). Reals on the f64 reference: 1e-4 relative + 1e-5 absolute (the expected
//! values were computed in float32). Reals privately: 1e-2 relative + 5e-3 absolute: the
//! 16-bit fraction resolves 1.5e-5, one truncated product adds about as much, and the
//! documented errors of the nonlinear functions reach 5e-3 absolute (reciprocal) and 1e-2
//! relative (silu) on their domains (docs/accuracy.md).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{mismatch, read_pb, run_f64, run_private};
use onnx::{Model, SUPPORTED, Tensor};

/// Target of the ONNX import issue: this share of the in-scope cases passes privately
/// (counted over the cases whose values are all finite: no fixed-point format holds a NaN
/// or an infinity, and umbra refuses them by name).
const PRIVATE_PASS_TARGET: f64 = 0.95;
/// What passed privately when this test was last tightened, over all in-scope cases: fewer
/// is a regression.
const PRIVATE_PASS_FLOOR: usize = 576;

/// Whether any input or expected output of a case holds a NaN or an infinity.
fn holds_non_finite(dir: &Path) -> bool {
    let mut k = 0;
    while let Ok(entries) = std::fs::read_dir(dir.join(format!("test_data_set_{k}"))) {
        for e in entries.flatten() {
            if let Ok((_, t)) = read_pb(&e.path())
                && t.to_f64().iter().any(|v| !v.is_finite())
            {
                return true;
            }
        }
        k += 1;
    }
    false
}

#[derive(Default)]
struct Count {
    cases: usize,
    f64_pass: usize,
    private_pass: usize,
}

enum Outcome {
    /// An operator umbra does not import, another domain, an opset before 13.
    OutOfScope,
    /// A tensor of an element type umbra does not read (float8, 4- and 2-bit, string).
    OtherDType(String),
    /// Refused at load or at run, with the error.
    Refused(String),
    Ran {
        f64_ok: Result<(), String>,
        private_ok: Result<(), String>,
    },
}

fn compare(got: &[tensor::FloatTensor], want: &[Tensor], private: bool) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs, expected {}", got.len(), want.len()));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let bad = if w.dtype.is_float() {
            if private {
                mismatch(g, w, 1e-2, 5e-3)
            } else {
                mismatch(g, w, 1e-4, 1e-5)
            }
        } else {
            let rounded = g.map(f64::round);
            mismatch(&rounded, w, 0.0, 0.0)
        };
        if let Some(b) = bad {
            return Err(format!("output {k}: {b}"));
        }
    }
    Ok(())
}

fn run_case(dir: &Path) -> Outcome {
    use prost::Message;
    let bytes = std::fs::read(dir.join("model.onnx")).expect("a case has its model");
    let proto = onnx::proto::decode_model(&bytes).expect("the onnx package wrote it");
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let graph = proto.graph.as_ref().expect("a graph");
    let in_scope = opset >= onnx::MIN_OPSET
        && graph
            .node
            .iter()
            .all(|n| n.domain.is_empty() && SUPPORTED.contains(&n.op_type.as_str()));
    if !in_scope {
        return Outcome::OutOfScope;
    }
    // Inputs that umbra requires public (shapes, axes, indices, bounds): in an exported model
    // they are constants, so they become initializers of the model here.
    let mut sets = Vec::new();
    let mut k = 0;
    while dir.join(format!("test_data_set_{k}")).exists() {
        let d = dir.join(format!("test_data_set_{k}"));
        let read = |kind: &str, n: usize| -> Result<Vec<Tensor>, String> {
            (0..n)
                .map(|j| read_pb(&d.join(format!("{kind}_{j}.pb"))).map(|(_, t)| t))
                .collect()
        };
        let classify = |e: String| {
            if e.contains("element type") {
                Outcome::OtherDType(e)
            } else {
                Outcome::Refused(e)
            }
        };
        let inputs = match read("input", graph.input.len()) {
            Ok(v) => v,
            Err(e) => return classify(e),
        };
        let outputs = match read("output", graph.output.len()) {
            Ok(v) => v,
            Err(e) => return classify(e),
        };
        sets.push((inputs, outputs));
        k += 1;
    }
    // A value is shape-like when everything that reads it takes it as a shape, an axis list,
    // indices or a bound, or computes only shape-like values from it (transitively).
    let mut shape_like: BTreeSet<&str> = BTreeSet::new();
    loop {
        let before = shape_like.len();
        let names = graph.input.iter().map(|i| i.name.as_str()).chain(
            graph
                .node
                .iter()
                .flat_map(|n| n.output.iter().map(String::as_str)),
        );
        for v in names.collect::<Vec<_>>() {
            if graph.output.iter().any(|o| o.name == v) {
                continue;
            }
            let mut uses = graph.node.iter().flat_map(|n| {
                n.input
                    .iter()
                    .enumerate()
                    .filter(move |(_, x)| x.as_str() == v)
                    .map(move |(k, _)| (n, k))
            });
            let mut any = false;
            let all = uses.all(|(n, k)| {
                any = true;
                onnx::eval::is_public_input(&n.op_type, k)
                    || (!n.output.is_empty()
                        && n.output.iter().all(|o| shape_like.contains(o.as_str())))
            });
            if any && all {
                shape_like.insert(v);
            }
        }
        if shape_like.len() == before {
            break;
        }
    }
    let public: Vec<bool> = graph
        .input
        .iter()
        .map(|i| shape_like.contains(i.name.as_str()))
        .collect();
    let mut f64_ok = Ok(());
    let mut private_ok = Ok(());
    for (si, (inputs, outputs)) in sets.iter().enumerate() {
        let mut m = proto.clone();
        let g = m.graph.as_mut().expect("a graph");
        let mut data = Vec::new();
        for (j, info) in graph.input.iter().enumerate() {
            if public[j] {
                let path = dir.join(format!("test_data_set_{si}/input_{j}.pb"));
                let mut t = onnx::proto::TensorProto::decode(
                    std::fs::read(path).expect("read above").as_slice(),
                )
                .expect("read above");
                t.name = info.name.clone();
                g.initializer.push(t);
            } else {
                data.push((info.name.clone(), inputs[j].clone()));
            }
        }
        g.input.retain(|i| {
            let j = graph.input.iter().position(|x| x.name == i.name).unwrap();
            !public[j]
        });
        let model = match Model::from_bytes(&m.encode_to_vec(), Some(dir)) {
            Ok(m) => m,
            Err(e) if e.to_string().contains("element type") => {
                return Outcome::OtherDType(e.to_string());
            }
            Err(e) => return Outcome::Refused(format!("load: {e}")),
        };
        if data.is_empty() {
            // no private input: all public, folded by every party alike
            let r = model
                .run_public()
                .map_err(|e| e.to_string())
                .and_then(|o| compare(&o, outputs, false));
            if f64_ok.is_ok() {
                f64_ok = r.clone();
            }
            if private_ok.is_ok() {
                private_ok = r;
            }
            continue;
        }
        let f = run_f64(&model, &data);
        if let Err(e) = &f
            && (e.contains("not supported") || e.contains("must be public"))
        {
            return Outcome::Refused(e.clone());
        }
        if f64_ok.is_ok() {
            f64_ok = f.and_then(|o| compare(&o, outputs, false));
        }
        if private_ok.is_ok() {
            private_ok = run_private(&model, &data)
                .map_err(|e| format!("private run: {e}"))
                .and_then(|(o, _)| compare(&o, outputs, true));
        }
    }
    Outcome::Ran { f64_ok, private_ok }
}

#[test]
fn onnx_backend_node_cases() {
    let Some(root) = std::env::var_os("UMBRA_ONNX_NODE_TESTS").map(PathBuf::from) else {
        eprintln!(
            "skipped: set UMBRA_ONNX_NODE_TESTS=$(scripts/fetch_onnx_node_tests.sh) to run the \
             ONNX backend node cases"
        );
        return;
    };
    assert!(
        root.join("VERSION").exists(),
        "{} holds no node cases: run scripts/fetch_onnx_node_tests.sh",
        root.display()
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    dirs.sort();
    let filter = std::env::var("UMBRA_ONNX_NODE_FILTER").unwrap_or_default();
    let mut per_op: BTreeMap<String, Count> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut total, mut out_of_scope) = (0usize, 0usize);
    let mut other_dtype: BTreeMap<String, usize> = BTreeMap::new();
    let (mut finite_cases, mut finite_pass) = (0usize, 0usize);
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains(&filter) {
            continue;
        }
        total += 1;
        let outcome = run_case(dir);
        let op = {
            let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
            let g = onnx::proto::decode_model(&bytes).unwrap().graph.unwrap();
            if g.node.len() == 1 {
                g.node[0].op_type.clone()
            } else {
                "(function expansions)".to_string()
            }
        };
        match outcome {
            Outcome::OutOfScope => out_of_scope += 1,
            Outcome::OtherDType(e) => {
                *other_dtype.entry(op).or_default() += 1;
                failures.push(format!("{name}: element type not read: {e}"));
            }
            Outcome::Refused(e) => {
                let c = per_op.entry(op).or_default();
                c.cases += 1;
                finite_cases += usize::from(!holds_non_finite(dir));
                failures.push(format!("{name}: refused: {e}"));
            }
            Outcome::Ran { f64_ok, private_ok } => {
                let c = per_op.entry(op).or_default();
                c.cases += 1;
                let finite = !holds_non_finite(dir);
                finite_cases += usize::from(finite);
                finite_pass += usize::from(finite && private_ok.is_ok());
                match f64_ok {
                    Ok(()) => c.f64_pass += 1,
                    Err(e) => failures.push(format!("{name}: f64: {e}")),
                }
                match private_ok {
                    Ok(()) => c.private_pass += 1,
                    Err(e) => failures.push(format!("{name}: private: {e}")),
                }
            }
        }
    }
    let cases: usize = per_op.values().map(|c| c.cases).sum();
    let f64_pass: usize = per_op.values().map(|c| c.f64_pass).sum();
    let private_pass: usize = per_op.values().map(|c| c.private_pass).sum();
    println!("| operator | cases | f64 passed | private passed |");
    println!("|---|---|---|---|");
    for (op, c) in &per_op {
        println!(
            "| {op} | {} | {} | {} |",
            c.cases, c.f64_pass, c.private_pass
        );
    }
    let dtype_cases: usize = other_dtype.values().sum();
    println!(
        "| all | {cases} | {f64_pass} | {private_pass} |\n\n{total} cases read, {out_of_scope} out \
         of scope (operators umbra does not import, or opsets before 13); {dtype_cases} more of \
         the imported operators hold element types umbra does not read, refused at load: {:?}",
        other_dtype
    );
    println!(
        "private: {private_pass} of {cases} cases ({:.1}%) with the element types umbra reads; \
         {private_pass} of {} ({:.1}%) counting those it refuses",
        100.0 * private_pass as f64 / cases.max(1) as f64,
        cases + dtype_cases,
        100.0 * private_pass as f64 / (cases + dtype_cases).max(1) as f64
    );
    for f in &failures {
        println!("{f}");
    }
    println!(
        "private, over the {finite_cases} cases whose values are all finite: {finite_pass} \
         ({:.1}%)",
        100.0 * finite_pass as f64 / finite_cases.max(1) as f64
    );
    assert!(cases > 0, "no case in scope");
    if !filter.is_empty() {
        return;
    }
    assert!(
        private_pass >= PRIVATE_PASS_FLOOR,
        "{private_pass} of {cases} in-scope cases pass privately, {PRIVATE_PASS_FLOOR} did before"
    );
    let share = finite_pass as f64 / finite_cases as f64;
    assert!(
        share >= PRIVATE_PASS_TARGET,
        "{finite_pass} of {finite_cases} in-scope cases with finite values pass privately \
         ({:.1}%), the target is {:.0}%",
        100.0 * share,
        100.0 * PRIVATE_PASS_TARGET
    );
}
