//! Loading: models built here with the same protobuf messages, good and malformed; every
//! refusal names what was wrong, and nothing panics.

use onnx::proto::{self, attribute_type, data_type};
use onnx::{Data, Model};
use prost::Message;

fn value(name: &str, dims: &[i64]) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            tensor_type: Some(proto::TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(proto::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| proto::Dimension {
                            dim_value: (d >= 0).then_some(d),
                            dim_param: (d < 0).then(|| "batch".to_string()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> proto::NodeProto {
    proto::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op.into(),
        ..Default::default()
    }
}

fn weight(name: &str, dims: &[i64], values: &[f32]) -> proto::TensorProto {
    proto::TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// `y = relu(x · W + b)`, with its nodes written in reverse order.
fn mlp() -> proto::ModelProto {
    proto::ModelProto {
        ir_version: 8,
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "umbra-test".into(),
        producer_version: "1".into(),
        graph: Some(proto::GraphProto {
            name: "mlp".into(),
            node: vec![
                node("relu", "Relu", &["h"], &["y"]),
                node("add", "Add", &["xw", "b"], &["h"]),
                node("matmul", "MatMul", &["x", "W"], &["xw"]),
            ],
            initializer: vec![
                weight("W", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                proto::TensorProto {
                    dims: vec![3],
                    data_type: data_type::FLOAT,
                    name: "b".into(),
                    float_data: vec![0.5, -0.5, 0.25],
                    ..Default::default()
                },
            ],
            input: vec![value("x", &[-1, 2])],
            output: vec![value("y", &[-1, 3])],
            ..Default::default()
        }),
    }
}

fn load(m: &proto::ModelProto) -> onnx::Result<Model> {
    Model::from_bytes(&m.encode_to_vec(), None)
}

fn err(m: &proto::ModelProto) -> String {
    load(m).unwrap_err().to_string()
}

fn graph(m: &mut proto::ModelProto) -> &mut proto::GraphProto {
    m.graph.as_mut().unwrap()
}

#[test]
fn a_good_model_loads_in_topological_order_with_its_weights() {
    let m = load(&mlp()).unwrap();
    assert_eq!(m.opset, 17);
    assert_eq!(m.producer, "umbra-test 1");
    let order: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(order, ["matmul", "add", "relu"]);
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(m.inputs[0].shape, Some(vec![None, Some(2)]));
    let (name, w) = &m.initializers[0];
    assert_eq!((name.as_str(), w.dims.as_slice()), ("W", &[2usize, 3][..]));
    assert_eq!(w.to_f64(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(m.initializers[1].1.to_f64(), [0.5, -0.5, 0.25]);
    assert_eq!(m.op_counts().get("MatMul"), Some(&1));
    // weights never reach Debug output
    assert!(!format!("{m:?}").contains("5.0"));
}

#[test]
fn integer_and_attribute_tensors_decode_with_their_signs() {
    let mut m = mlp();
    let mut n = node("c", "Constant", &[], &["k"]);
    n.attribute.push(proto::AttributeProto {
        name: "value".into(),
        r#type: attribute_type::TENSOR,
        t: Some(proto::TensorProto {
            dims: vec![3],
            data_type: data_type::INT8,
            raw_data: vec![0xff, 0x7f, 0x80],
            ..Default::default()
        }),
        ..Default::default()
    });
    n.attribute.push(proto::AttributeProto {
        name: "perm".into(),
        r#type: attribute_type::INTS,
        ints: vec![1, 0],
        ..Default::default()
    });
    graph(&mut m).node.push(n);
    let model = load(&m).unwrap();
    let c = model.nodes.iter().find(|n| n.op == "Constant").unwrap();
    match &c.attrs["value"] {
        onnx::Attr::Tensor(t) => assert!(t.data == Data::Int(vec![-1, 127, -128])),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.attrs["perm"], onnx::Attr::Ints(vec![1, 0]));
}

#[test]
fn external_data_is_read_from_beside_the_file_and_kept_inside_its_folder() {
    let dir = std::env::temp_dir().join(format!("umbra-onnx-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<u8> = [9.0f32, 8.0, 7.0, 6.0, 5.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut blob = vec![0u8; 16];
    blob.extend_from_slice(&values);
    std::fs::write(dir.join("w.bin"), &blob).unwrap();
    let ext = |loc: &str, offset: &str| proto::TensorProto {
        dims: vec![2, 3],
        data_type: data_type::FLOAT,
        name: "W".into(),
        data_location: 1,
        external_data: [("location", loc), ("offset", offset)]
            .iter()
            .map(|(k, v)| proto::StringStringEntryProto {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        ..Default::default()
    };
    let mut m = mlp();
    graph(&mut m).initializer[0] = ext("w.bin", "16");
    let path = dir.join("model.onnx");
    std::fs::write(&path, m.encode_to_vec()).unwrap();
    let model = Model::load(&path).unwrap();
    assert_eq!(
        model.initializers[0].1.to_f64(),
        [9.0, 8.0, 7.0, 6.0, 5.0, 4.0]
    );

    for (loc, off, want) in [
        ("../w.bin", "0", "leaves the model's folder"),
        ("missing.bin", "0", "cannot open"),
        ("w.bin", "20", "ends before offset 20"),
    ] {
        graph(&mut m).initializer[0] = ext(loc, off);
        std::fs::write(&path, m.encode_to_vec()).unwrap();
        let e = Model::load(&path).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("`W`"), "{loc}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_files_and_other_formats_are_not_models() {
    let bytes = mlp().encode_to_vec();
    // every strict prefix either fails to decode or fails a check; none panics
    for cut in 0..bytes.len() {
        if let Ok(m) = Model::from_bytes(&bytes[..cut], None) {
            panic!("a prefix of {cut} bytes loaded as {} nodes", m.nodes.len());
        }
    }
    let e = Model::from_bytes(&bytes[..bytes.len() / 2], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an ONNX model"), "{e}");
    for other in [
        &b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}"[..],
        b"PK\x03\x04zip",
        b"",
    ] {
        let e = Model::from_bytes(other, None).unwrap_err().to_string();
        assert!(e.contains("not an ONNX model"), "{e}");
    }
    let e = Model::load("/nonexistent/model.onnx")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/model.onnx"), "{e}");
}

#[test]
fn an_input_nothing_produces_is_refused_naming_the_node() {
    let mut m = mlp();
    graph(&mut m).node[1].input[1] = "bias".into();
    let e = err(&m);
    assert!(
        e.contains("`add`") && e.contains("Add") && e.contains("`bias`"),
        "{e}"
    );
}

#[test]
fn a_cycle_is_refused_naming_its_nodes() {
    let mut m = mlp();
    // matmul now waits on relu's output, which waits on add, which waits on matmul
    graph(&mut m).node[2].input[0] = "y".into();
    graph(&mut m).input.clear();
    let e = err(&m);
    assert!(
        e.contains("cycle") && e.contains("matmul") && e.contains("relu"),
        "{e}"
    );
}

#[test]
fn shape_and_type_mismatches_are_refused() {
    let mut m = mlp();
    graph(&mut m).initializer[0].raw_data.pop();
    let e = err(&m);
    assert!(e.contains("`W`") && e.contains("24 bytes"), "{e}");

    let mut m = mlp();
    graph(&mut m).initializer[1].float_data.push(1.0);
    let e = err(&m);
    assert!(e.contains("`b`") && e.contains("float_data holds 4"), "{e}");

    let mut m = mlp();
    graph(&mut m).input.push(value("W", &[3, 2]));
    let e = err(&m);
    assert!(
        e.contains("`W`") && e.contains("[2, 3]") && e.contains("declares"),
        "{e}"
    );

    let mut m = mlp();
    graph(&mut m).initializer[0].data_type = data_type::STRING;
    assert!(err(&m).contains("string is not supported"));

    let mut m = mlp();
    graph(&mut m).initializer[0].dims = vec![1 << 40, 1 << 40];
    assert!(err(&m).contains("too large"));
}

#[test]
fn opsets_domains_and_structure_outside_the_rules_are_refused() {
    let mut m = mlp();
    m.opset_import[0].version = 11;
    assert!(err(&m).contains("opset 11 is outside"));

    let mut m = mlp();
    m.opset_import[0].domain = "com.microsoft".into();
    assert!(err(&m).contains("no default-domain opset"));

    let mut m = mlp();
    graph(&mut m).node[0].domain = "com.microsoft".into();
    let e = err(&m);
    assert!(e.contains("`relu`") && e.contains("com.microsoft"), "{e}");

    let mut m = mlp();
    graph(&mut m)
        .node
        .push(node("again", "Relu", &["h"], &["y"]));
    let e = err(&m);
    assert!(e.contains("`y`") && e.contains("both"), "{e}");

    let mut m = mlp();
    graph(&mut m).output[0].name = "z".into();
    assert!(err(&m).contains("output `z` is never produced"));

    let mut m = mlp();
    graph(&mut m).node[0].attribute.push(proto::AttributeProto {
        name: "body".into(),
        r#type: attribute_type::GRAPH,
        g: Some(proto::GraphProto::default()),
        ..Default::default()
    });
    let e = err(&m);
    assert!(e.contains("`relu`") && e.contains("subgraph"), "{e}");

    let mut m = mlp();
    m.graph = None;
    assert!(err(&m).contains("no graph"));
}

/// Files written by the `onnx` package's own serializer (`scripts/onnx_loader_fixtures.py`).
#[test]
fn files_written_by_the_reference_serializer_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    for file in ["tiny.onnx", "tiny_ext.onnx"] {
        let m = Model::load(format!("{dir}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.opset, 17);
        assert_eq!(m.producer, "onnx-helper");
        assert_eq!(m.inputs.len(), 1);
        assert_eq!(m.inputs[0].shape, Some(vec![None, Some(2)]));
        assert_eq!(m.outputs.len(), 3);
        let init = |n: &str| &m.initializers.iter().find(|(k, _)| k == n).unwrap().1;
        let w: Vec<f64> = (0..6).map(|i| f64::from(i) / 4.0 - 0.5).collect();
        assert_eq!(init("W").dims, [2, 3]);
        assert_eq!(init("W").to_f64(), w, "{file}");
        assert_eq!(init("b").to_f64(), [0.5, -0.5, 0.25], "{file}");
        assert!(init("k").data == Data::Int(vec![1, -2, 3, -4]), "{file}");
        let node = |op: &str| m.nodes.iter().find(|n| n.op == op).unwrap();
        assert_eq!(node("LeakyRelu").attrs["alpha"], onnx::Attr::Float(0.125));
        assert_eq!(
            node("Transpose").attrs["perm"],
            onnx::Attr::Ints(vec![1, 0])
        );
        match &node("Constant").attrs["value"] {
            onnx::Attr::Tensor(t) => assert!(t.data == Data::Int(vec![7, -8])),
            other => panic!("{other:?}"),
        }
        assert_eq!(node("MatMul").inputs, ["x", "W"]);
    }
}
