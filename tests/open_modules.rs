//! Open modules: a user's own module (not in the library) inside the library's containers,
//! built once from a parameter source, shared from its owner, trained privately for a few
//! steps, and matching the same code trained on plaintext.
//!
//! Tolerance: the private run differs from the plaintext fixed-point run by the private
//! functions' errors (SiLU 3e-4, sigmoid 4e-5, tanh 7e-5 absolute; products one ULP, 1.5e-5)
//! carried through three forward and backward passes of a 5-layer network whose weights are
//! of order 1. Measured: at most 1.4e-4 (2 parties) and 1.2e-4 (3 parties); `TOL = 1e-3`, the
//! tolerance of the smooth layers in `nn_private.rs`.

use umbra::autograd::Var;
use umbra::nn::{
    Branches, Init, InitSource, Join, Layer, Linear, Module, Params, Residual, Sequential, Sgd,
    SiLU, Tanh, mse_loss, state::state_dict,
};
use umbra::nn::{LoadSource, Trainable};
use umbra::{CrypTensor, RingTensor, Session, TensorExt, TensorOps, share_module_trainable};

const TOL: f64 = 1e-3;

/// A gated linear unit the library does not have: `y = (x·Wᵀ + b) ∘ σ(x·Gᵀ)`.
struct Gated<T> {
    w: T,
    b: T,
    g: T,
}

impl<T: TensorOps> Gated<T> {
    fn new(p: &mut Params<'_, T>, inputs: usize, outputs: usize) -> Result<Self, T::Error> {
        Ok(Self {
            w: p.param("w", &[outputs, inputs], Init::KaimingUniform)?,
            b: p.param("b", &[outputs], Init::Const(0.1))?,
            g: p.param("g", &[outputs, inputs], Init::Uniform { lo: -0.5, hi: 0.5 })?,
        })
    }
}

impl<T: TensorOps> Module<T> for Gated<T> {
    fn forward(&self, x: &T) -> Result<T, T::Error> {
        let value = x.matmul(&self.w.transpose(0, 1)?)?.add(&self.b)?;
        let gate = x.matmul(&self.g.transpose(0, 1)?)?.sigmoid()?;
        value.mul(&gate)
    }
    fn named_parameters(&self) -> Vec<(String, &T)> {
        vec![
            ("w".into(), &self.w),
            ("b".into(), &self.b),
            ("g".into(), &self.g),
        ]
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
        vec![
            ("w".into(), &mut self.w),
            ("b".into(), &mut self.b),
            ("g".into(), &mut self.g),
        ]
    }
}

/// One constructor for every tensor type: a chain holding the user's module, a residual
/// block and two branches (a library layer and the user's module) joined by concatenation.
fn net<T: TensorOps + 'static>(p: &mut Params<'_, T>) -> Result<Sequential<T>, T::Error> {
    let first = Linear::build(&mut p.pp(0), 3, 6, true)?;
    let gated = Gated::new(&mut p.pp(2), 6, 4)?;
    let residual = Residual::new(Sequential::new(vec![
        Linear::build(&mut p.pp("3.0"), 4, 4, true)?.into(),
        Tanh.into(),
    ]));
    let branches = Branches::new(
        vec![
            Box::new(Linear::build(&mut p.pp("4.0"), 4, 2, true)?),
            Box::new(Gated::new(&mut p.pp("4.1"), 4, 2)?),
        ],
        Join::Concat(1),
    );
    let last = Linear::build(&mut p.pp(5), 4, 1, true)?;
    Ok(Sequential::new(vec![
        first.into(),
        SiLU.into(),
        Layer::Custom(Box::new(gated)),
        Layer::Custom(Box::new(residual)),
        Layer::Custom(Box::new(branches)),
        last.into(),
    ]))
}

fn data() -> (RingTensor, RingTensor) {
    let xs: Vec<f64> = (0..24).map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0).collect();
    let ys: Vec<f64> = xs.chunks(3).map(|r| r[0] * r[1] - 0.5 * r[2]).collect();
    (
        RingTensor::from_f64(&[8, 3], &xs, 16).unwrap(),
        RingTensor::from_f64(&[8, 1], &ys, 16).unwrap(),
    )
}

/// Reads a tensor's values (revealing a private one).
type Read<'a, T> = &'a dyn Fn(&T) -> Result<Vec<f64>, <T as TensorOps>::Error>;
/// The losses of a run and its final parameters by name.
type Run = (Vec<f64>, Vec<(String, Vec<f64>)>);

/// Three SGD steps; the loss before each step and after the last, and the final parameters.
fn train<T: TensorOps + 'static>(
    model: &mut Sequential<Var<T>>,
    x: T,
    y: T,
    read: Read<'_, T>,
) -> Result<Run, T::Error> {
    let (x, y) = (Var::constant(x), Var::constant(y));
    let mut opt = Sgd::new(0.1);
    let mut losses = Vec::new();
    for _ in 0..3 {
        let loss = mse_loss(&model.forward(&x)?, &y)?;
        losses.push(read(loss.value())?[0]);
        loss.backward()?;
        opt.step(&mut model.parameters_mut())?;
    }
    losses.push(read(mse_loss(&model.forward(&x)?, &y)?.value())?[0]);
    let params = model
        .named_parameters()
        .into_iter()
        .map(|(n, p)| Ok((n, read(p.value())?)))
        .collect::<Result<_, T::Error>>()?;
    Ok((losses, params))
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_user_module_in_containers_trains_privately_like_plaintext() {
    // the owner's plaintext model, freshly initialised, and its weights
    let plain: Sequential<RingTensor> = net(&mut Params::new(&mut InitSource::new(11))).unwrap();
    let state = state_dict(&plain);
    let names: Vec<String> = plain
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(names.contains(&"2.g".to_string()) && names.contains(&"4.1.w".to_string()));

    // the plaintext reference: the same constructor over Var<RingTensor>, loaded from `state`
    let (x, y) = data();
    let mut load = LoadSource::new(&state);
    let mut reference: Sequential<Var<RingTensor>> =
        net(&mut Params::new(&mut Trainable(&mut load))).unwrap();
    load.finish(true).unwrap();
    let (plain_losses, plain_params) = train(&mut reference, x.clone(), y.clone(), &|t| {
        Ok::<_, tensor::Error>(t.to_f64())
    })
    .unwrap();
    assert!(
        plain_losses[3] < plain_losses[0],
        "training lowers the loss: {plain_losses:?}"
    );

    for n in [2, 3] {
        let out = umbra::mpc::run_parties(n, |s: Session| {
            // only party 0 holds the weights; the others know the architecture alone
            let mine = (s.party() == 0).then_some(&state);
            let mut model = share_module_trainable(&s, 0, mine, true, net)?;
            let xs = s.share(&x, n - 1)?;
            let ys = s.share(&y, n - 1)?;
            train(&mut model, xs, ys, &|t: &CrypTensor| {
                Ok(t.reveal_f64()?.into_vec())
            })
        })
        .unwrap_or_else(|e| panic!("{n} parties: {e}"));
        let (losses, params) = &out[0];
        let mut worst = max_err(losses, &plain_losses);
        assert!(
            worst < TOL,
            "{n} parties: losses {losses:?} vs {plain_losses:?}"
        );
        for ((name, got), (_, want)) in params.iter().zip(&plain_params) {
            let e = max_err(got, want);
            assert!(e < TOL, "{n} parties: parameter {name} differs by {e:.2e}");
            worst = worst.max(e);
        }
        eprintln!("{n} parties: max |private - plaintext| = {worst:.2e}");
    }
}

#[test]
fn the_owner_must_bring_the_weights_and_they_must_fit() {
    let plain: Sequential<RingTensor> = net(&mut Params::new(&mut InitSource::new(3))).unwrap();
    let state = state_dict(&plain);
    let errs = umbra::mpc::run_parties(2, |s: Session| {
        let missing = umbra::share_module(&s, 0, None, true, net).err();
        // a state with one tensor too many is refused when strict
        let mut extra = state.clone();
        extra.insert(
            "head.weight",
            umbra::nn::TensorData {
                shape: vec![1],
                values: vec![0.0],
            },
        );
        let mine = (s.party() == 0).then_some(&extra);
        let strict = umbra::share_module(&s, 0, mine, true, net).err();
        let bad_owner = umbra::share_module(&s, 5, None, true, net).err();
        Ok((
            missing.map(|e| e.to_string()),
            strict.map(|e| e.to_string()),
            bad_owner.map(|e| e.to_string()),
        ))
    })
    .unwrap();
    let (missing, strict, bad_owner) = &errs[0];
    assert!(
        missing
            .as_deref()
            .unwrap()
            .contains("must pass the source of \"0.weight\""),
        "{missing:?}"
    );
    assert!(
        strict
            .as_deref()
            .unwrap()
            .contains("unexpected tensor \"head.weight\""),
        "{strict:?}"
    );
    assert!(
        bad_owner
            .as_deref()
            .unwrap()
            .contains("owner 5 is not a party"),
        "{bad_owner:?}"
    );
    // the plaintext model built by the constructor runs
    let x = RingTensor::from_f64(&[2, 3], &[0.5; 6], 16).unwrap();
    assert_eq!(plain.forward(&x).unwrap().dims(), [2, 1]);
}
