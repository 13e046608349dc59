//! A short private training run: the same `nn` code trains on plaintext and on secret shares
//! (model from party 0, data from party 1), and the losses stay together.

use umbra::autograd::Var;
use umbra::nn::{Linear, Module, ReLU, Sequential, Sgd, mse_loss};
use umbra::{CrypTensor, RingTensor, Session, SessionConfig, TensorOps, run_local};

fn t(shape: &[usize], v: &[f64]) -> RingTensor {
    RingTensor::from_f64(shape, v, 16).unwrap()
}

struct Setup {
    params: Vec<RingTensor>,
    x: RingTensor,
    y: RingTensor,
}

fn setup() -> Setup {
    let xs: Vec<f64> = (0..16).map(|i| -1.0 + 2.0 * i as f64 / 15.0).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x.abs()).collect();
    let w1: Vec<f64> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                0.3 + 0.1 * i as f64
            } else {
                -0.3 - 0.1 * i as f64
            }
        })
        .collect();
    let b1: Vec<f64> = (0..8).map(|i| 0.05 * (i as f64 - 3.5)).collect();
    let w2: Vec<f64> = (0..8).map(|i| 0.1 + 0.02 * i as f64).collect();
    Setup {
        params: vec![
            t(&[8, 1], &w1),
            t(&[8], &b1),
            t(&[1, 8], &w2),
            t(&[1], &[0.0]),
        ],
        x: t(&[16, 1], &xs),
        y: t(&[16, 1], &ys),
    }
}

fn model<T: TensorOps + 'static>(p: Vec<T>) -> Sequential<Var<T>> {
    let mut p = p.into_iter().map(Var::leaf);
    let mut next = || p.next().expect("four parameters");
    let l1 = Linear::new(next(), Some(next()));
    let l2 = Linear::new(next(), Some(next()));
    Sequential::new(vec![l1.into(), ReLU.into(), l2.into()])
}

/// Trains for `steps` and returns the loss before each step and after the last.
fn train<T: TensorOps + 'static>(
    params: Vec<T>,
    x: T,
    y: T,
    steps: usize,
    loss_value: impl Fn(&T) -> Result<f64, T::Error>,
) -> Result<Vec<f64>, T::Error> {
    let mut m = model(params);
    let (x, y) = (Var::constant(x), Var::constant(y));
    let mut opt = Sgd::new(0.1);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let loss = mse_loss(&m.forward(&x)?, &y)?;
        losses.push(loss_value(loss.value())?);
        loss.backward()?;
        opt.step(&mut m.parameters_mut())?;
    }
    losses.push(loss_value(mse_loss(&m.forward(&x)?, &y)?.value())?);
    Ok(losses)
}

#[test]
fn private_training_follows_plaintext_training() {
    let s = setup();
    let steps = 40;
    let plain = train(s.params.clone(), s.x.clone(), s.y.clone(), steps, |l| {
        Ok(l.to_f64()[0])
    })
    .unwrap();
    assert!(
        plain[steps] < plain[0] / 5.0,
        "plaintext training must learn: {plain:?}"
    );
    for n in [2, 3] {
        let config = SessionConfig {
            insecure_test_seed: Some(11),
            ..SessionConfig::default()
        };
        let out = run_local(n, config, |ctx: Session| {
            let params = s
                .params
                .iter()
                .map(|p| ctx.share(p, 0))
                .collect::<mpc::Result<Vec<CrypTensor>>>()?;
            let (x, y) = (ctx.share(&s.x, 1)?, ctx.share(&s.y, 1)?);
            train(params, x, y, steps, |l| Ok(l.reveal_f64()?[0]))
        })
        .unwrap();
        let private = &out[0];
        for (k, (p, q)) in private.iter().zip(&plain).enumerate() {
            assert!(
                (p - q).abs() < 2e-3,
                "n={n}, step {k}: private loss {p} vs plaintext {q}"
            );
        }
    }
}

/// A classifier with private labels: the labels' owner (the last party) shares their one-hot
/// encoding; the model comes from party 0 by `encrypt_trainable`; cross-entropy and Adam.
#[test]
fn private_classifier_training_with_private_labels_follows_plaintext() {
    use umbra::Encrypt;
    use umbra::nn::init::Rng;
    use umbra::nn::{Adam, CrossEntropyLoss, GELU, LayerNorm, one_hot, trainable};

    let mut rng = Rng::new(31);
    let xs: Vec<f64> = (0..24).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
    let x = t(&[8, 3], &xs);
    // a class per sample from a fixed linear rule
    let labels: Vec<usize> = xs
        .chunks(3)
        .map(|r| {
            let s = [r[0] + r[1], r[1] - r[2], r[2] - r[0]];
            (0..3)
                .max_by(|&a, &b| s[a].total_cmp(&s[b]))
                .expect("three scores")
        })
        .collect();
    let y = one_hot(&x, &labels, 3).unwrap();
    let build = || {
        let mut rng = Rng::new(32);
        Sequential::new(vec![
            Linear::init(3, 6, true, &mut rng).unwrap().into(),
            LayerNorm::init(&[6]).unwrap().into(),
            GELU.into(),
            Linear::init(6, 3, true, &mut rng).unwrap().into(),
        ])
    };
    let steps = 6;
    fn run<T: TensorOps + 'static>(
        mut m: Sequential<Var<T>>,
        x: Var<T>,
        y: Var<T>,
        steps: usize,
        read: impl Fn(&T) -> Result<f64, T::Error>,
    ) -> Result<Vec<f64>, T::Error> {
        let mut opt = Adam::new(0.05);
        let ce = CrossEntropyLoss::default();
        let mut losses = Vec::new();
        for _ in 0..steps {
            let loss = ce.forward(&m.forward(&x)?, &y)?;
            losses.push(read(loss.value())?);
            loss.backward()?;
            opt.step(&mut m.parameters_mut())?;
        }
        losses.push(read(ce.forward(&m.forward(&x)?, &y)?.value())?);
        Ok(losses)
    }
    let plain = run(
        trainable(&build()),
        Var::constant(x.clone()),
        Var::constant(y.clone()),
        steps,
        |l| Ok(l.to_f64()[0]),
    )
    .unwrap();
    assert!(
        plain[steps] < plain[0] * 0.8,
        "plaintext must learn: {plain:?}"
    );
    for n in [2, 3] {
        let out = umbra::mpc::run_parties(n, |s| {
            let m = build().encrypt_trainable(&s, 0)?;
            let xv = Var::constant(s.share(&x, n - 1)?);
            let yv = Var::constant(s.share(&y, n - 1)?); // private labels, one-hot
            run(m, xv, yv, steps, |l| Ok(l.reveal_f64()?[0]))
        })
        .unwrap();
        for (k, (p, q)) in out[0].iter().zip(&plain).enumerate() {
            // log-softmax, inv_sqrt and GELU approximations (errors of 1e-4 to 2e-4 per step)
            // drift the parameters slightly apart over the steps (measured: at most 3.7e-4)
            assert!(
                (p - q).abs() < 2e-3,
                "n={n}, step {k}: private loss {p} vs plaintext {q}"
            );
        }
    }
}

/// An SGD step scales every parameter's gradient in one product with the public learning
/// rate, so it truncates once for all parameters (one round) instead of once per parameter;
/// momentum adds one more product (`momentum·b`), again for all at once. The private step
/// matches the plaintext one within the fixed-point grid.
#[test]
fn an_sgd_step_is_one_round_for_all_parameters() {
    let s0 = setup();
    for momentum in [0.0, 0.9] {
        // plaintext reference: two steps with the same gradients
        let mut plain: Vec<Var<RingTensor>> = s0.params.iter().cloned().map(Var::leaf).collect();
        let mut opt = Sgd::new(0.1).with_momentum(momentum);
        for _ in 0..2 {
            let loss = plain.iter().fold(None, |acc: Option<Var<RingTensor>>, p| {
                let sq = p.mul(p).unwrap().sum_all().unwrap();
                Some(match acc {
                    None => sq,
                    Some(a) => a.add(&sq).unwrap(),
                })
            });
            loss.unwrap().backward().unwrap();
            opt.step(&mut plain.iter_mut().collect::<Vec<_>>()).unwrap();
        }
        let params = s0.params.clone();
        let out = run_local(2, SessionConfig::default(), move |s| {
            let mut ps: Vec<Var<CrypTensor>> = params
                .iter()
                .map(|p| Ok(Var::leaf(s.share(p, 0)?)))
                .collect::<umbra::mpc::Result<_>>()?;
            let mut opt = Sgd::new(0.1).with_momentum(momentum);
            let mut rounds = Vec::new();
            for _ in 0..2 {
                let mut loss: Option<Var<CrypTensor>> = None;
                for p in &ps {
                    let sq = p.mul(p)?.sum_all()?;
                    loss = Some(match loss {
                        None => sq,
                        Some(a) => a.add(&sq)?,
                    });
                }
                loss.expect("parameters").backward()?;
                let before = s.stats().rounds;
                opt.step(&mut ps.iter_mut().collect::<Vec<_>>())?;
                rounds.push(s.stats().rounds - before);
            }
            let values = ps
                .iter()
                .map(|p| p.value().reveal_f64())
                .collect::<umbra::mpc::Result<Vec<_>>>()?;
            Ok((rounds, values))
        })
        .unwrap()
        .remove(0);
        let (rounds, values) = out;
        // first step: lr·g (momentum's buffer starts as g); second: momentum·b, then lr·b
        let want = if momentum == 0.0 { [1, 1] } else { [1, 2] };
        assert_eq!(rounds, want, "momentum {momentum}: rounds per step");
        for (i, (got, p)) in values.iter().zip(&plain).enumerate() {
            for (g, w) in got.iter().zip(p.value().to_f64()) {
                assert!(
                    (g - w).abs() < 1e-3,
                    "momentum {momentum}, parameter {i}: {g} vs {w}"
                );
            }
        }
    }
}
