//! Models as PyTorch users export them (scripts/pytorch_fixtures.py: `torch.onnx.export` with
//! the default dynamo exporter, and the legacy TorchScript one for a batch-norm block and a
//! BERT layer), against onnxruntime's outputs, on the f64 reference and privately at 2
//! parties.

mod common;

use std::path::PathBuf;

use common::{mismatch, read_pb, run_f64, run_private};
use onnx::{Model, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `torch_{name}.onnx` with its recorded inputs and onnxruntime's output.
fn case(name: &str) -> (Model, Vec<(String, Tensor)>, Tensor) {
    let model = Model::load(fixture(&format!("torch_{name}.onnx"))).unwrap();
    let inputs = (0..model.inputs.len())
        .map(|k| read_pb(&fixture(&format!("torch_{name}_input_{k}.pb"))).unwrap())
        .collect();
    let output = read_pb(&fixture(&format!("torch_{name}_output_0.pb")))
        .unwrap()
        .1;
    (model, inputs, output)
}

/// Runs one exported model both ways and prints the private run's largest error and cost.
///
/// The f64 reference differs from onnxruntime only by onnxruntime's float32 arithmetic
/// (relative 2^-24 per operation, over at most a few hundred accumulated terms): 1e-4
/// relative plus 1e-5 absolute. The private tolerance is the caller's, from the fixed-point
/// error of the functions on the model's path.
fn check(name: &str, rtol: f64, atol: f64) {
    let (model, inputs, want) = case(name);
    let f = run_f64(&model, &inputs).unwrap();
    assert_eq!(f.len(), 1, "{name}");
    assert_eq!(mismatch(&f[0], &want, 1e-4, 1e-5), None, "{name} on f64");
    let (p, stats) = run_private(&model, &inputs).unwrap();
    assert_eq!(mismatch(&p[0], &want, rtol, atol), None, "{name} privately");
    let want = want.to_f64();
    let worst = p[0]
        .as_slice()
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    println!(
        "{name}: {} nodes, private max |error| {worst:.2e}, {} rounds, {} bytes sent by party 0",
        model.nodes.len(),
        stats.rounds,
        stats.bytes_sent
    );
}

// Tolerances from docs/accuracy.md's worst cases at 2 parties: softmax 1.3e-3 relative,
// tanh 1.7e-3 and GELU 2.4e-3 absolute, inv_sqrt (layer norm) 1.2e-4 relative; linear layers,
// convolutions, ReLU and pooling add only 2^-16 truncations (1e-3 is 65 of those).

#[test]
fn an_mlp_with_tanh_and_softmax() {
    check("mlp", 5e-3, 1e-3);
}

#[test]
fn lenet_from_the_dynamo_exporter() {
    check("lenet", 1e-3, 1e-3);
}

#[test]
fn a_resnet_basic_block_with_batch_norm_nodes() {
    check("resblock", 1e-3, 1e-3);
}

#[test]
fn a_transformer_encoder_layer_from_the_dynamo_exporter() {
    check("encoder", 5e-3, 3e-3);
}

#[test]
fn a_bert_layer_with_an_attention_mask_from_the_legacy_exporter() {
    // the masked keys get -10000 added: softmax must send them to 0 (exp clamps at -16)
    check("bert", 5e-3, 3e-3);
}

/// `torch_embedding`'s ids as the model runs on them privately: one-hot encoded by their
/// owner ([`onnx::one_hot`]).
fn one_hot_case() -> (Model, Vec<(String, Tensor)>, Tensor) {
    let (model, inputs, want) = case("embedding");
    assert_eq!(model.one_hot_inputs(), vec![("ids".to_string(), 50)]);
    let (name, ids) = &inputs[0];
    let hot = onnx::one_hot(&ids.to_f64(), &ids.dims, 50).unwrap();
    let hot = Tensor {
        dims: hot.shape().to_vec(),
        dtype: onnx::DType::F32,
        data: onnx::Data::Float(hot.as_slice().to_vec()),
    };
    (model, vec![(name.clone(), hot)], want)
}

#[test]
fn an_embedding_lookup_on_private_token_ids_is_a_product_with_a_one_hot() {
    let (model, inputs, want) = one_hot_case();
    let f = run_f64(&model, &inputs).unwrap();
    assert_eq!(mismatch(&f[0], &want, 1e-4, 1e-5), None);
    let (p, stats) = run_private(&model, &inputs).unwrap();
    // a lookup and a mean: a few 2^-16 truncations
    assert_eq!(mismatch(&p[0], &want, 1e-3, 1e-3), None);
    // the lookup is one Beaver product (one round) with the one-hot [10, 50] and the table
    // [50, 8] opened: 900 words each way, plus the linear layer
    assert!(stats.bytes_sent >= 900 * 8, "{stats:?}");
    // given as plain ids, the private lookup is refused by node, not computed wrongly
    let (model, plain, _) = case("embedding");
    let e = run_private(&model, &plain).unwrap_err();
    assert!(e.contains("private indices"), "{e}");
}

#[test]
fn token_ids_outside_the_vocabulary_are_refused_by_position() {
    let e = onnx::one_hot(&[3.0, 50.0], &[1, 2], 50)
        .unwrap_err()
        .to_string();
    assert!(e.contains("token id 50 (position 1)"), "{e}");
    let e = onnx::one_hot(&[1.5], &[1], 50).unwrap_err().to_string();
    assert!(e.contains("token id 1.5"), "{e}");
    let e = onnx::one_hot(&[-1.0], &[1], 50).unwrap_err().to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
    assert!(onnx::one_hot(&[1.0, 2.0], &[3], 50).is_err());
}
