//! Every nn module and loss, forward and backward, on secret shares against the same code on
//! plaintext, for 2 and 3 parties: the model is shared from party 0 (`encrypt_trainable`),
//! the input from the last party, and the revealed outputs and gradients (input and every
//! parameter) must match the plaintext `Var<RingTensor>` run.
//!
//! Tolerances, from the fixed-point precision and docs/accuracy.md:
//! - linear layers, pools and comparisons (`LINEAR = 1e-3`): a private product is the
//!   plaintext floor or one ULP (2^-16 ≈ 1.5e-5) more, and comparisons are exact; a forward
//!   and backward pass chains a handful of products over sums of a few dozen terms;
//! - sigmoid, tanh, GELU, softmax, log-softmax (`SMOOTH = 1e-3`): their measured maximum
//!   errors are 4e-5 to 9e-5 (GELU's derivative adds exp's, about 1e-4), and backward
//!   multiplies such errors by upstream gradients of order 1 and sums a few of them;
//! - normalisation and the BCE losses (`NORM = 3e-3`): `inv_sqrt` carries up to 2.2e-4
//!   relative error on `[0.01, 100]` and `log` up to 1.2e-3 absolute, multiplied by
//!   normalised values of a few units.
//!
//! Every case is small, so the whole file runs in seconds.

use umbra::autograd::Var;
use umbra::nn::init::Rng;
use umbra::nn::{
    AdaptiveAvgPool2d, AvgPool2d, BCELoss, BCEWithLogitsLoss, BatchNorm, Conv2d, CrossEntropyLoss,
    Dropout, Embedding, Flatten, GELU, L1Loss, LayerNorm, LeakyReLU, Linear, LogSoftmax, MSELoss,
    MapParams, MaxPool2d, Module, ModuleState, NLLLoss, ReLU, Residual, Sequential, SiLU, Sigmoid,
    Softmax, Softplus, Tanh, one_hot, trainable,
};
use umbra::{
    CrypTensor, Decrypt, Encrypt, Pool2dParams, RingTensor, Session, TensorOps, mpc::run_parties,
};

const LINEAR: f64 = 1e-3;
const SMOOTH: f64 = 1e-3;
const NORM: f64 = 3e-3;

fn rnd(seed: u64, shape: &[usize], scale: f64) -> RingTensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) * scale)
        .collect();
    RingTensor::from_f64(shape, &v, 16).unwrap()
}

/// Revealed (or plaintext) results of one forward and backward pass.
#[derive(Debug)]
struct Outcome {
    y: Vec<f64>,
    gx: Option<Vec<f64>>,
    grads: Vec<(String, Vec<f64>)>,
    buffers: Vec<(String, Vec<f64>)>,
}

/// Reads a tensor's values (revealing a private one).
type Read<'a, T> = &'a dyn Fn(&T) -> Result<Vec<f64>, <T as TensorOps>::Error>;

/// `loss = Σ model(x) ∘ w` for a fixed public `w`, so that the upstream gradient is not all
/// ones; then backward.
fn pass<T: TensorOps + 'static, M: Module<Var<T>>>(
    model: &M,
    x: Var<T>,
    w: Var<T>,
    read: Read<'_, T>,
) -> Result<Outcome, T::Error> {
    let y = model.forward(&x)?;
    y.mul(&w)?.sum(&[], false)?.backward()?;
    let gx = x.grad().map(|g| read(&g)).transpose()?;
    let mut grads = Vec::new();
    for (name, p) in model.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name} got no gradient"));
        grads.push((name, read(&g)?));
    }
    let mut buffers = Vec::new();
    for (name, b) in model.named_buffers() {
        buffers.push((name, read(b.value())?));
    }
    Ok(Outcome {
        y: read(y.value())?,
        gx,
        grads,
        buffers,
    })
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Runs `build()`'s model on plaintext and privately (2 and 3 parties) and compares.
/// Returns the largest difference seen.
fn case<M, B>(name: &str, build: B, x: &RingTensor, x_grad: bool, tol: f64) -> f64
where
    M: MapParams<RingTensor>,
    B: Fn() -> M + Sync,
{
    let w = rnd(
        7,
        &trainable(&build())
            .forward(&Var::constant(x.clone()))
            .unwrap()
            .dims(),
        1.0,
    );
    let plain = {
        let model = trainable(&build());
        let xv = if x_grad {
            Var::leaf(x.clone())
        } else {
            Var::constant(x.clone())
        };
        pass(&model, xv, Var::constant(w.clone()), &|t: &RingTensor| {
            Ok::<_, tensor::Error>(t.to_f64())
        })
        .unwrap()
    };
    let mut worst: f64 = 0.0;
    for n in [2, 3] {
        let out = run_parties(n, |s: Session| {
            let model = build().encrypt_trainable(&s, 0)?;
            let shared = s.share(x, n - 1)?;
            let xv = if x_grad {
                Var::leaf(shared)
            } else {
                Var::constant(shared)
            };
            pass(
                &model,
                xv,
                Var::constant(CrypTensor::Public(w.clone())),
                &|t: &CrypTensor| Ok(t.reveal_f64()?.into_vec()),
            )
        })
        .unwrap_or_else(|e| panic!("{name}, n={n}: {e}"));
        let private = &out[0];
        let mut check = |what: &str, a: &[f64], b: &[f64]| {
            let e = max_err(a, b);
            worst = worst.max(e);
            assert!(
                e <= tol,
                "{name}, n={n}, {what}: error {e:.2e} over {tol:.0e}"
            );
        };
        check("output", &private.y, &plain.y);
        if let (Some(a), Some(b)) = (&private.gx, &plain.gx) {
            check("input gradient", a, b);
        }
        assert_eq!(private.grads.len(), plain.grads.len());
        for ((na, a), (_, b)) in private.grads.iter().zip(&plain.grads) {
            check(&format!("gradient of {na}"), a, b);
        }
        for ((na, a), (_, b)) in private.buffers.iter().zip(&plain.buffers) {
            check(&format!("buffer {na}"), a, b);
        }
    }
    eprintln!("{name}: max |private - plaintext| = {worst:.2e}");
    worst
}

#[test]
fn linear_layers_and_comparisons_match_plaintext() {
    let x = rnd(1, &[2, 2, 5, 4], 1.5);
    case(
        "conv2d + relu + max pool + flatten + linear",
        || {
            let mut rng = Rng::new(2);
            let p = tensor::Conv2dParams {
                padding: (1, 0),
                ..Default::default()
            };
            Sequential::new(vec![
                Conv2d::init(2, 3, (2, 2), p, true, &mut rng)
                    .unwrap()
                    .into(),
                ReLU.into(),
                MaxPool2d::new(2).into(),
                Flatten::default().into(),
                Linear::init(9, 2, true, &mut rng).unwrap().into(),
            ])
        },
        &x,
        true,
        LINEAR,
    );
    case(
        "leaky relu + avg pools",
        || {
            Sequential::new(vec![
                LeakyReLU::default().into(),
                AvgPool2d {
                    params: Pool2dParams {
                        kernel: (3, 3),
                        stride: (2, 2),
                        padding: (1, 1),
                    },
                }
                .into(),
                AdaptiveAvgPool2d { output: (2, 1) }.into(),
                AdaptiveAvgPool2d { output: (1, 1) }.into(),
            ])
        },
        &x,
        true,
        LINEAR,
    );
    let ids = one_hot(&RingTensor::zeros(&[1], 16), &[3, 0, 3, 1], 4).unwrap();
    case(
        "embedding of a private one-hot",
        || {
            Sequential::new(vec![
                Embedding::init(4, 3, &mut Rng::new(3)).unwrap().into(),
            ])
        },
        &ids,
        false,
        LINEAR,
    );
}

#[test]
fn smooth_activations_match_plaintext() {
    let x = rnd(4, &[3, 4], 3.0);
    for (name, layer) in [
        ("sigmoid", 0),
        ("tanh", 1),
        ("gelu", 2),
        ("softmax", 3),
        ("log softmax", 4),
        ("silu", 5),
        ("softplus", 6),
    ] {
        case(
            name,
            move || -> Sequential<RingTensor> {
                let l = Linear::init(4, 4, true, &mut Rng::new(5)).unwrap().into();
                let act = match layer {
                    0 => Sigmoid.into(),
                    1 => Tanh.into(),
                    2 => GELU.into(),
                    3 => Softmax { dim: 1 }.into(),
                    4 => LogSoftmax { dim: 1 }.into(),
                    5 => SiLU.into(),
                    _ => Softplus.into(),
                };
                Sequential::new(vec![l, act])
            },
            &x,
            true,
            SMOOTH,
        );
    }
}

/// `y = x + f(x)` around a small MLP (a ResNet-style block), forward and backward: the input
/// gradient is the identity's plus the branch's.
#[test]
fn a_residual_block_matches_plaintext_forward_and_backward() {
    let x = rnd(31, &[3, 4], 2.0);
    case(
        "residual",
        || {
            Residual::new(Sequential::<RingTensor>::new(vec![
                Linear::init(4, 5, true, &mut Rng::new(32)).unwrap().into(),
                ReLU.into(),
                Linear::init(5, 4, true, &mut Rng::new(33)).unwrap().into(),
            ]))
        },
        &x,
        true,
        LINEAR,
    );
}

#[test]
fn normalisation_matches_plaintext_in_training_and_evaluation() {
    let x = rnd(6, &[4, 2, 3, 3], 2.0);
    for training in [true, false] {
        case(
            if training {
                "batch norm 2d, training"
            } else {
                "batch norm 2d, evaluation"
            },
            move || {
                let mut bn = BatchNorm::init_2d(2).unwrap();
                bn.weight = Some(rnd(8, &[2], 1.0).add_f64(1.5).unwrap());
                let mut m = Sequential::new(vec![bn.into()]);
                if !training {
                    m.eval();
                }
                m
            },
            &x,
            true,
            NORM,
        );
    }
    case(
        "batch norm 1d",
        || Sequential::new(vec![BatchNorm::init_1d(3).unwrap().into()]),
        &rnd(9, &[5, 3], 2.0),
        true,
        NORM,
    );
    case(
        "layer norm",
        || Sequential::new(vec![LayerNorm::init(&[3, 3]).unwrap().into()]),
        &x,
        true,
        NORM,
    );
}

/// A loss as a module, so that `case` can run it: the target is fixed inside.
struct WithTarget<L> {
    loss: L,
    target: RingTensor,
}

macro_rules! loss_module {
    ($($ty:ty),*) => {$(
        impl<T: TensorOps + 'static> Module<T> for WithTarget<$ty> {
            fn forward(&self, x: &T) -> Result<T, T::Error> {
                // the target enters as a public tensor of the same kind
                let t = x.new_tensor(self.target.shape(), &self.target.to_f64())?;
                self.loss.forward(x, &t)
            }
            fn named_parameters(&self) -> Vec<(String, &T)> {
                Vec::new()
            }
            fn named_parameters_mut(&mut self) -> Vec<(String, &mut T)> {
                Vec::new()
            }
        }
        impl MapParams<RingTensor> for WithTarget<$ty> {
            type Mapped<U: TensorOps + 'static> = WithTarget<$ty>;
            fn try_map<U, E>(
                &self,
                _: &mut dyn FnMut(&str, umbra::nn::Role, &RingTensor) -> Result<U, E>,
            ) -> Result<WithTarget<$ty>, E>
            where
                U: TensorOps + 'static,
                E: From<tensor::Error>,
            {
                Ok(WithTarget { loss: self.loss, target: self.target.clone() })
            }
        }
    )*};
}

loss_module!(
    MSELoss,
    L1Loss,
    CrossEntropyLoss,
    NLLLoss,
    BCELoss,
    BCEWithLogitsLoss
);

#[test]
fn losses_match_plaintext() {
    let logits = rnd(10, &[3, 4], 3.0);
    let target = one_hot(&logits, &[2, 0, 3], 4).unwrap().with_frac_bits(0);
    let target = RingTensor::from_f64(target.shape(), &target.to_f64(), 16).unwrap();
    let reals = rnd(11, &[3, 4], 1.0);
    let probs = rnd(12, &[3, 4], 0.45).add_f64(0.5).unwrap();
    let labels = rnd(13, &[3, 4], 0.5).add_f64(0.5).unwrap();
    let m = |t: &RingTensor| t.clone();
    case(
        "mse",
        || WithTarget {
            loss: MSELoss::default(),
            target: m(&reals),
        },
        &logits,
        true,
        LINEAR,
    );
    case(
        "l1",
        || WithTarget {
            loss: L1Loss::default(),
            target: m(&reals),
        },
        &logits,
        true,
        LINEAR,
    );
    case(
        "cross entropy",
        || WithTarget {
            loss: CrossEntropyLoss::default(),
            target: m(&target),
        },
        &logits,
        true,
        SMOOTH,
    );
    case(
        "nll",
        || WithTarget {
            loss: NLLLoss::default(),
            target: m(&target),
        },
        &logits,
        true,
        LINEAR,
    );
    case(
        "bce",
        || WithTarget {
            loss: BCELoss::default(),
            target: m(&labels),
        },
        &probs,
        true,
        NORM,
    );
    case(
        "bce with logits",
        || WithTarget {
            loss: BCEWithLogitsLoss::default(),
            target: m(&labels),
        },
        &logits,
        true,
        NORM,
    );
}

#[test]
fn private_dropout_scales_by_a_private_mask_and_routes_gradients_through_it() {
    let x = rnd(14, &[40, 25], 2.0);
    for n in [2, 3] {
        let out = run_parties(n, |s| {
            let d = Dropout::new(0.5);
            let xv = Var::leaf(s.share(&x, 1)?);
            let y = Module::<Var<CrypTensor>>::forward(&d, &xv)?;
            y.sum(&[], false)?.backward()?;
            Ok((
                y.value().is_private(),
                y.value().reveal_f64()?,
                xv.grad().expect("a gradient").reveal_f64()?,
            ))
        })
        .unwrap();
        let (private, y, g) = &out[0];
        assert!(private, "the dropped output stays secret");
        let mut kept = 0;
        for ((yi, xi), gi) in y.iter().zip(x.to_f64()).zip(g) {
            if *gi == 0.0 {
                assert_eq!(*yi, 0.0, "a dropped element is zero");
            } else {
                kept += 1;
                assert!((gi - 2.0).abs() < 1e-4, "kept gradient is 1/(1-p): {gi}");
                assert!((yi - 2.0 * xi).abs() < 1e-3, "kept value is x/(1-p)");
            }
        }
        assert!((400..=600).contains(&kept), "n={n}: {kept} of 1000 kept");
    }
}

#[test]
fn encrypt_shares_the_owners_model_and_decrypt_reveals_it() {
    let owner = || {
        Sequential::new(vec![
            Linear::init(3, 2, true, &mut Rng::new(20)).unwrap().into(),
            BatchNorm::init_1d(2).unwrap().into(),
        ])
    };
    for n in [2, 3] {
        let out = run_parties(n, |s| {
            // only party 1 holds the real weights; the others pass zeros of the same shapes
            let mine: Sequential<RingTensor> = if s.party() == 1 {
                owner()
            } else {
                let zero: Result<Sequential<RingTensor>, tensor::Error> =
                    owner().try_map(&mut |_, _, t: &RingTensor| {
                        Ok(RingTensor::zeros(t.shape(), t.frac_bits()))
                    });
                zero?
            };
            let private = mine.encrypt(&s, 1)?;
            assert!(private.parameters().iter().all(|p| p.is_private()));
            let trainable = mine.encrypt_trainable(&s, 1)?;
            Ok((
                private.decrypt()?.state_dict(),
                trainable.decrypt()?.state_dict(),
            ))
        })
        .unwrap();
        let want = owner().state_dict();
        assert_eq!(
            want.len(),
            6,
            "weight, bias, weight, bias, running mean and var"
        );
        for (a, b) in out {
            assert_eq!(a, want, "n={n}");
            assert_eq!(b, want, "n={n}");
        }
    }
}

/// Runs `f` on party 0's `x` shared among `n` parties and returns every party's traffic for
/// `f` alone.
fn traffic(
    n: usize,
    x: &RingTensor,
    f: &(dyn Fn(&CrypTensor) -> umbra::mpc::Result<CrypTensor> + Sync),
) -> Vec<(u64, u64, u64)> {
    run_parties(n, |s: Session| {
        let shared = s.share(x, 0)?;
        s.reset_stats();
        f(&shared)?;
        let st = s.stats();
        Ok((st.bytes_sent, st.messages_sent, st.rounds))
    })
    .unwrap()
}

/// In inference an activation module sends exactly what the `CrypTensor` function sends:
/// the module asks for the function alone (no derivative mask), for 2 and 3 parties.
#[test]
fn activation_modules_cost_exactly_their_functions_in_inference() {
    let x = rnd(21, &[10, 100], 3.0);
    type Private = dyn Fn(&CrypTensor) -> umbra::mpc::Result<CrypTensor> + Sync;
    let leaky = LeakyReLU::default();
    let cases: Vec<(&str, Box<Private>, Box<Private>)> = vec![
        (
            "relu",
            Box::new(|x| ReLU.forward(x)),
            Box::new(|x| x.relu()),
        ),
        (
            "leaky relu",
            Box::new(move |x| leaky.forward(x)),
            Box::new(|x| x.mul_f64(0.01)?.add(&x.relu()?.mul_f64(0.99)?)),
        ),
        (
            "sigmoid",
            Box::new(|x| Sigmoid.forward(x)),
            Box::new(|x| x.sigmoid()),
        ),
        (
            "tanh",
            Box::new(|x| Tanh.forward(x)),
            Box::new(|x| x.tanh()),
        ),
        (
            "gelu",
            Box::new(|x| GELU.forward(x)),
            Box::new(|x| x.gelu()),
        ),
        (
            "silu",
            Box::new(|x| SiLU.forward(x)),
            Box::new(|x| x.silu()),
        ),
        (
            "softplus",
            Box::new(|x| Softplus.forward(x)),
            Box::new(|x| x.softplus()),
        ),
        (
            "softmax",
            Box::new(|x| Softmax { dim: 1 }.forward(x)),
            Box::new(|x| x.softmax(1)),
        ),
        (
            "log softmax",
            Box::new(|x| LogSoftmax { dim: 1 }.forward(x)),
            Box::new(|x| x.log_softmax(1)),
        ),
    ];
    for n in [2, 3] {
        for (name, module, function) in &cases {
            let (m, f) = (traffic(n, &x, module), traffic(n, &x, function));
            assert_eq!(m, f, "{name}, {n} parties: module vs function");
            assert!(
                m.iter().all(|&(bytes, ..)| bytes > 0),
                "{name}: nothing sent"
            );
        }
    }
    // the pin from the issue: one ReLU over 1,000 elements, 2 parties
    for (p, &(bytes, _, rounds)) in traffic(2, &x, &|x| ReLU.forward(x)).iter().enumerate() {
        assert_eq!((rounds, bytes), (8, 55_424), "relu, party {p}");
    }
}

/// While training, the ReLU module records its derivative from the same sign circuit: one
/// round (the step's B2A) more than inference, nothing computed twice.
#[test]
fn a_recording_relu_costs_one_round_more_than_inference() {
    let x = rnd(22, &[10, 100], 3.0);
    let rounds = run_parties(2, |s: Session| {
        let leaf = Var::leaf(s.share(&x, 0)?);
        s.reset_stats();
        let y = ReLU.forward(&leaf)?;
        let forward = s.stats().rounds;
        y.sum(&[], false)?.backward()?;
        Ok((forward, s.stats().rounds))
    })
    .unwrap();
    // forward 9 rounds (8 + the step's conversion); backward multiplies the public upstream
    // gradient (ones) by the private step: local, so no further round
    assert_eq!(rounds[0].0, 9);
    assert_eq!(rounds[0].1, 9);
}
