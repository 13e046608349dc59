//! Weights in and out: PyTorch names, state dict and safetensors round trips, and clear
//! errors naming the tensor when a file does not fit the model.

use autograd::Var;
use nn::init::Rng;
use nn::state::StateDict;
use nn::{
    BatchNorm, Conv2d, Error, Flatten, Layer, Linear, MapParams, Module, ModuleState, ReLU,
    Sequential, TensorData, detached, trainable,
};
use safetensors::tensor::Dtype;
use tensor::{Conv2dParams, RingTensor};

fn model(seed: u64) -> Sequential<RingTensor> {
    let mut rng = Rng::new(seed);
    Sequential::new(vec![
        Conv2d::init(1, 2, (3, 3), Conv2dParams::default(), true, &mut rng)
            .unwrap()
            .into(),
        BatchNorm::init_2d(2).unwrap().into(),
        ReLU.into(),
        Flatten::default().into(),
        Linear::init(8, 3, true, &mut rng).unwrap().into(),
    ])
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("umbra-nn-{}-{name}", std::process::id()))
}

#[test]
fn names_follow_pytorch() {
    let m = model(1);
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        params,
        [
            "0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"
        ]
    );
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(buffers, ["1.running_mean", "1.running_var"]);
    let nested: Sequential<RingTensor> = Sequential::new(vec![ReLU.into(), model(2).into()]);
    assert_eq!(nested.named_parameters()[0].0, "1.0.weight");
    assert_eq!(nested.state_dict().len(), 8);
}

#[test]
fn state_dict_round_trips_into_another_model() {
    let a = model(1);
    let mut b = model(2);
    assert_ne!(a.state_dict(), b.state_dict());
    b.load_state_dict(&a.state_dict(), true).unwrap();
    assert_eq!(a.state_dict(), b.state_dict());
    let x = RingTensor::from_f64(&[1, 1, 4, 4], &[0.5; 16], 16).unwrap();
    assert_eq!(a.forward(&x).unwrap(), b.forward(&x).unwrap());
}

#[test]
fn safetensors_files_round_trip_in_f32_and_f64() {
    let a = model(3);
    for dtype in [Dtype::F32, Dtype::F64] {
        let path = temp_path(&format!("{dtype:?}.safetensors"));
        a.save_safetensors(&path, dtype).unwrap();
        let mut b = model(4);
        b.load_safetensors(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // 16-bit fixed-point values are exact in f32 (|v| < 2^8 needs 24 bits)
        assert_eq!(a.state_dict(), b.state_dict(), "{dtype:?}");
    }
}

#[test]
fn a_pytorch_style_file_loads_with_its_batch_count() {
    // what safetensors.torch.save_file(model.state_dict()) writes: f32 weights, and an int64
    // num_batches_tracked for every batch norm
    let mut dict = model(5).state_dict();
    dict.insert(
        "1.num_batches_tracked",
        TensorData {
            shape: vec![],
            values: vec![7.0],
        },
    );
    let mut bytes = dict.to_safetensors(Dtype::F32).unwrap();
    // re-encode the batch count as I64, as PyTorch does
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut views: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    for v in &mut views {
        if v.0.ends_with("num_batches_tracked") {
            v.1 = Dtype::I64;
            v.3 = 7i64.to_le_bytes().to_vec();
        }
    }
    let tv: Vec<(String, safetensors::tensor::TensorView<'_>)> = views
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    bytes = safetensors::serialize(tv, None).unwrap();
    let loaded = StateDict::from_safetensors(&bytes).unwrap();
    assert_eq!(
        loaded.get("1.num_batches_tracked").unwrap().values,
        vec![7.0]
    );
    let mut m = model(6);
    m.load_state_dict(&loaded, true).unwrap();
    assert_eq!(m.state_dict(), model(5).state_dict());
}

#[test]
fn a_missing_or_misshapen_tensor_is_an_error_naming_it_and_changes_nothing() {
    let mut dict = model(7).state_dict();
    let mut m = model(8);
    let before = m.state_dict();

    let w = dict.remove("4.weight").unwrap();
    let err = m.load_state_dict(&dict, true).unwrap_err();
    assert!(matches!(&err, Error::MissingTensor { name } if name == "4.weight"));
    assert!(err.to_string().contains("\"4.weight\""), "{err}");

    dict.insert(
        "4.weight",
        TensorData {
            shape: vec![8, 3],
            values: w.values.clone(),
        },
    );
    let err = m.load_state_dict(&dict, true).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { name, expected, got }
            if name == "4.weight" && expected == &[3, 8] && got == &[8, 3]),
        "{err}"
    );
    assert!(err.to_string().contains("[8, 3]"), "{err}");

    dict.insert("4.weight", w);
    dict.insert(
        "5.weight",
        TensorData {
            shape: vec![1],
            values: vec![0.0],
        },
    );
    let err = m.load_state_dict(&dict, true).unwrap_err();
    assert!(matches!(&err, Error::UnexpectedTensor { name } if name == "5.weight"));
    assert_eq!(m.state_dict(), before, "a failed load changes nothing");
    m.load_state_dict(&dict, false).unwrap();
    assert_eq!(m.state_dict(), model(7).state_dict());

    let err = m.load_safetensors(temp_path("does-not-exist")).unwrap_err();
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let err = StateDict::from_safetensors(b"not a file").unwrap_err();
    assert!(err.to_string().starts_with("safetensors:"), "{err}");
    let bad = StateDict::new().to_safetensors(Dtype::I8);
    assert!(bad.is_ok(), "nothing to encode");
    let err = model(1).state_dict().to_safetensors(Dtype::I8).unwrap_err();
    assert!(err.to_string().contains("unsupported dtype"), "{err}");
}

#[test]
fn trainable_and_var_models_load_and_save_like_plaintext_ones() {
    let a = model(9);
    let mut v: Sequential<Var<RingTensor>> = trainable(&model(10));
    v.load_state_dict(&a.state_dict(), true).unwrap();
    assert_eq!(v.state_dict(), a.state_dict());
    assert!(v.parameters().iter().all(|p| p.requires_grad()));
    let buffers = v.named_buffers();
    assert!(buffers.iter().all(|(_, b)| !b.requires_grad()));
    let back: Sequential<RingTensor> = detached(&v);
    assert_eq!(back.state_dict(), a.state_dict());
}

#[test]
fn map_params_visits_every_tensor_once_in_order_with_its_role() {
    let m = model(11);
    let mut seen = Vec::new();
    let mapped: Result<Sequential<RingTensor>, tensor::Error> = m.try_map(&mut |name, role, t| {
        seen.push((name.to_string(), role));
        Ok(t.clone())
    });
    mapped.unwrap();
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "4.weight",
            "4.bias"
        ]
    );
    assert_eq!(seen[4].1, nn::Role::Buffer);
    assert_eq!(seen[0].1, nn::Role::Parameter);
    // a custom layer runs but cannot change tensor type generically
    let custom: Sequential<RingTensor> =
        Sequential::new(vec![Layer::Custom(Box::new(ReLU)), ReLU.into()]);
    let err = custom
        .try_map::<RingTensor, tensor::Error>(&mut |_, _, t| Ok(t.clone()))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("layer 0 is a custom module"),
        "{err}"
    );
}
