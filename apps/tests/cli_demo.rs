//! The `umbra` binary end to end: the README's main job and the benchmarks' JSON contracts.

use std::process::Command;

fn umbra(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_umbra"))
        .args(args)
        .output()
        .expect("run umbra");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn matmul_demo_reveals_the_plaintext_product() {
    let (ok, out, err) = umbra(&["demo", "matmul", "--parties", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("3 in-process parties"), "{out}");
    // Each printed row holds the private result and then the plaintext one; they must agree
    // to the printed precision.
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .map(|w| w.parse::<f64>().ok())
                .collect::<Option<Vec<_>>>()
        })
        .filter(|r| r.len() == 4)
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for r in rows {
        assert!(
            (r[0] - r[2]).abs() < 1e-3 && (r[1] - r[3]).abs() < 1e-3,
            "{r:?}"
        );
    }
    let err_line = out
        .lines()
        .find(|l| l.starts_with("max |error|"))
        .expect("error line");
    let e: f64 = err_line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(e < 1e-4, "{err_line}");
}

#[test]
fn logreg_demo_ends_with_its_summary_line() {
    // the README's main job, shortened to two epochs
    let (ok, out, err) = umbra(&["demo", "logreg", "--epochs", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("3 parties (features: party 0, labels: party 1, model: party 2)"));
    let last = out.lines().last().expect("a summary line");
    assert!(last.starts_with("logreg: test accuracy "), "{out}");
    let acc: f64 = last["logreg: test accuracy ".len()..]
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(acc >= 90.0, "{last}");
    // no progress bar when stderr is not a terminal
    assert!(err.is_empty(), "{err}");
}

#[test]
fn bench_ops_prints_one_json_object_per_benchmark() {
    // 3 parties use the dealer truncation, which has no probabilistic failure, so the error
    // bound below cannot flake.
    let (ok, out, err) = umbra(&[
        "bench",
        "ops",
        "--parties",
        "3",
        "--json",
        "--scale",
        "0.01",
        "--reps",
        "1",
    ]);
    assert!(ok, "{err}");
    let names: Vec<String> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            for key in [
                "name",
                "parties",
                "transport",
                "elements",
                "wall_s",
                "bytes_sent_per_party",
                "rounds",
                "max_abs_err",
            ] {
                assert!(v.get(key).is_some(), "missing {key} in {l}");
            }
            let name = v["name"].as_str().unwrap();
            // 3 parties: a product is the Beaver round plus the dealer truncation round; a
            // comparison is one carry-save round plus the 8 of the 2-party circuit.
            let expected_rounds = match name.split('_').next().unwrap() {
                "reveal" => Some(1),
                "mul" | "square" | "matmul" | "conv2d" => Some(2),
                "relu" | "lt" => Some(9),
                _ => None,
            };
            if let Some(r) = expected_rounds {
                assert_eq!(v["rounds"], r, "{l}");
            }
            assert_eq!(v["gross_errors"], 0, "{l}");
            // absolute error scales with the output (exp reaches e^8 ≈ 2981)
            assert!(v["max_abs_err"].as_f64().unwrap() < 0.5, "{l}");
            v["name"].as_str().unwrap().to_string()
        })
        .collect();
    for prefix in [
        "exp_",
        "log_",
        "reciprocal_",
        "sqrt_",
        "inv_sqrt_",
        "sigmoid_",
        "tanh_",
        "softmax_",
        "mul_",
        "square_",
        "matmul_",
        "conv2d_",
        "reveal_",
        "relu_",
        "lt_",
        "eq_",
        "max_",
        "max_pool2d_",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix} row in {names:?}"
        );
    }
}

#[test]
fn bench_train_prints_one_json_object_per_workload() {
    let (ok, out, err) = umbra(&["bench", "train", "--parties", "2", "--json", "--reps", "1"]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "mlp_784_128_10_sgd_step_b64",
            "lenet_inference_b64",
            "lenet_inference_b1"
        ]
    );
    for r in &rows {
        for key in [
            "parties",
            "transport",
            "batch",
            "wall_s",
            "online_wall_s",
            "bytes_sent_per_party",
            "messages_per_party",
            "rounds",
        ] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert_eq!(r["transport"], "inproc");
        assert!(r["wall_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The costs are a function of the architecture alone; pinned so that a change shows.
    // LeNet: 4 products of 2 rounds (Beaver, then the exact truncation), 3 ReLUs of 8 rounds,
    // 2 max-pools of one all-pairs circuit over the 2x2 window (7 + 2 AND rounds + 1), the
    // reveal: 8 + 24 + 20 + 1 = 53 rounds at any batch size. (65 with the tree's 2 levels of
    // 8 rounds per pool, MaxReduction::Tree; 64 before nn::ReLU stopped computing its
    // derivative mask in inference.)
    assert_eq!(rows[1]["rounds"], 53);
    assert_eq!(rows[2]["rounds"], 53);
    assert_eq!(rows[1]["batch"], 64);
    assert_eq!(rows[2]["batch"], 1);
    // 164 before the full-domain log in the loss, 145 after it with local truncation; the
    // exact default adds the truncation rounds that no opening absorbs yet (196 before exp's
    // squarings fused each truncation into the next square, 182 before SGD scaled all its
    // gradients in one product, 179 before log_softmax's backward took exp of its output
    // instead of a second softmax, 128 before the row maximum of the loss's log-softmax
    // became one all-pairs circuit)
    assert_eq!(rows[0]["rounds"], 108);
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let (ok, _, err) = umbra(&["demo", "matmul", "--parties", "1"]);
    assert!(!ok);
    assert!(err.contains("at least 2 parties"), "{err}");
    let (ok, _, err) = umbra(&["bench", "ops", "--transport", "carrier-pigeon"]);
    assert!(!ok);
    assert!(err.contains("unknown transport"), "{err}");
    let (ok, _, err) = umbra(&["bench", "train", "--transport", "carrier-pigeon"]);
    assert!(!ok);
    assert!(err.contains("unknown transport"), "{err}");
    let (ok, _, err) = umbra(&["demo", "lenet", "--batch", "0"]);
    assert!(!ok);
    assert!(err.contains("batch 0"), "{err}");
}

#[test]
fn the_accuracy_table_in_the_docs_is_what_the_command_prints() {
    // The table is measured with fixed seeds, so it reproduces exactly: a change to an
    // approximation that is not followed by regenerating docs/accuracy.md fails here.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/accuracy.md"))
        .expect("docs/accuracy.md");
    for parties in ["2", "3"] {
        let (ok, out, err) = umbra(&["bench", "accuracy", "--markdown", "--parties", parties]);
        assert!(ok, "{err}");
        assert!(out.lines().count() > 20, "{out}");
        assert!(
            doc.contains(&out),
            "docs/accuracy.md is stale for {parties} parties; regenerate it with `umbra bench accuracy --markdown --parties {parties}`"
        );
    }
}

#[test]
fn an_emulated_wan_costs_at_least_its_rounds_of_one_way_delay() {
    // relu over 10^4 elements: 8 rounds between the parties, 8 trips to the dealer
    let (ok, out, err) = umbra(&[
        "bench",
        "ops",
        "--only",
        "relu_10000",
        "--reps",
        "1",
        "--json",
        "--link",
        "40,100",
    ]);
    assert!(ok, "{err}");
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(row["link"], "40ms,100Mbit/s");
    let rounds = row["rounds"].as_f64().unwrap();
    let trips = row["dealer_round_trips"].as_f64().unwrap();
    assert_eq!((rounds, trips), (8.0, 8.0), "{row}");
    assert!(row["dealer_bytes_per_party"].as_u64().unwrap() > 0, "{row}");
    // online: each round waits at least half the 40 ms round trip
    let online = row["online_wall_s"].as_f64().unwrap();
    assert!(online >= rounds * 0.020, "{row}");
    // with the dealer: party 0 also waits a round trip per trip (overlapping with the
    // other party's frames in flight, so the two do not simply add)
    let wall = row["wall_s"].as_f64().unwrap();
    assert!(wall >= trips * 0.040 && wall > online, "{row}");
    let (ok, _, err) = umbra(&["bench", "ops", "--link", "wan", "--transport", "tcp"]);
    assert!(!ok);
    assert!(
        err.contains("--link emulates links between in-process parties"),
        "{err}"
    );
}
