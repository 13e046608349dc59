//! Parties as separate processes on loopback, through `umbra launch`, `umbra party` and
//! `umbra dealer`: results equal the in-process ones, and faults end every process quickly
//! with a message that names the party at fault. Every child runs under a hard deadline.

use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::*;

fn launch(args: &[&str], program: &[&str]) -> Run {
    let mut cmd = umbra();
    cmd.arg("launch")
        .args(args)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_umbra"))
        .args(program);
    finish(spawn(cmd), Instant::now())
}

fn results(out: &str, parties: usize) -> Vec<Vec<f64>> {
    (0..parties)
        .map(|p| {
            let prefix = format!("[party {p}] RESULT ");
            let line = out
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no result from party {p} in:\n{out}"));
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

#[test]
fn launched_parties_compute_what_in_process_parties_compute() {
    for (parties, transport) in [(2, "quic"), (3, "quic"), (2, "tcp")] {
        let n = parties.to_string();
        let run = launch(
            &["--parties", &n, "--dealer", "--transport", transport],
            &["testprog", "matmul-relu"],
        );
        assert_eq!(
            run.code,
            Some(0),
            "{transport}, {parties} parties:\n{}\n{}",
            run.out,
            run.err
        );
        let want = umbra::mpc::run_parties(parties, |s| apps::testprog::matmul_relu(&s)).unwrap();
        for got in results(&run.out, parties) {
            assert_eq!(got.len(), want[0].len());
            for (g, w) in got.iter().zip(&want[0]) {
                // Both runs truncate the product once with fresh randomness: each result is
                // floor or floor + 1 ulp of the exact value, so they differ by at most 1 ulp.
                assert!(
                    (g - w).abs() <= 1.0 / 65536.0 + 1e-12,
                    "{transport}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn the_launcher_exits_with_a_failing_partys_status() {
    let run = launch(
        &["--parties", "3", "--dealer"],
        &["testprog", "exit", "--victim", "1", "--code", "3"],
    );
    assert_eq!(run.code, Some(3), "{}\n{}", run.out, run.err);
    assert!(
        run.err.contains("party 1 failed (exit status 3)"),
        "{}",
        run.err
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn a_stalled_party_trips_the_receive_timeout() {
    let run = launch(
        &["--parties", "3", "--dealer", "--recv-timeout-ms", "1500"],
        &["testprog", "stall", "--victim", "1", "--secs", "40"],
    );
    assert_ne!(run.code, Some(0));
    assert!(
        run.err
            .contains("timed out after 1500 ms waiting for party 1 at step `beaver open`"),
        "{}",
        run.err
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn a_killed_party_makes_the_others_exit_naming_it() {
    let dir = std::env::temp_dir().join(format!("umbra-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hosts: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port(false)))
        .collect();
    let keygen = umbra()
        .args(["keygen", "--parties", "3", "--dealer", "--out"])
        .arg(&dir)
        .arg("--hosts")
        .arg(hosts.join(","))
        .output()
        .unwrap();
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let cluster = dir.join("cluster.toml");
    let session = "00112233445566778899aabbccddeeff";
    let net = ["--idle-timeout-ms", "1500", "--recv-timeout-ms", "30000"];
    let started = Instant::now();
    let mut dealer = umbra();
    dealer
        .arg("dealer")
        .arg("--cluster")
        .arg(&cluster)
        .args(["--sessions", "1"])
        .args(net);
    let dealer = spawn(dealer);
    let parties: Vec<Child> = (0..3)
        .map(|i| {
            let mut p = umbra();
            p.arg("party")
                .arg("--cluster")
                .arg(&cluster)
                .args(["--id", &i.to_string(), "--session", session])
                .args(net)
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_umbra"))
                .args(["testprog", "crash", "--victim", "1"]);
            spawn(p)
        })
        .collect();
    let runs: Vec<Run> = parties.into_iter().map(|c| finish(c, started)).collect();
    let mut dealer = dealer;
    let _ = dealer.kill();
    let _ = dealer.wait();
    let _ = std::fs::remove_dir_all(&dir);
    // `umbra party` reports death by SIGABRT as 128 + 6, the shell's convention.
    assert_eq!(runs[1].code, Some(134), "{}", runs[1].err);
    for p in [0, 2] {
        assert_ne!(runs[p].code, Some(0), "party {p}: {}", runs[p].err);
        assert!(
            runs[p].err.contains("party 1"),
            "party {p}: {}",
            runs[p].err
        );
        // The idle timeout (1.5 s) bounds how long a dead peer goes unnoticed.
        assert!(
            runs[p].took < runs[1].took + Duration::from_secs(6),
            "party {p} took {:?}, the victim died at {:?}",
            runs[p].took,
            runs[1].took
        );
    }
}

#[test]
fn the_quic_benchmark_runs_across_processes() {
    let run = finish(
        spawn({
            let mut c = umbra();
            c.args([
                "bench",
                "ops",
                "--parties",
                "2",
                "--transport",
                "quic",
                "--only",
                "mul",
                "--scale",
                "0.001",
                "--reps",
                "1",
                "--json",
            ]);
            c
        }),
        Instant::now(),
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.out, run.err);
    let rows: Vec<serde_json::Value> = run
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rows.len(), 1, "{}", run.out);
    assert_eq!(rows[0]["transport"], "quic");
    // the Beaver round and the exact truncation's
    assert_eq!(rows[0]["rounds"], 2);
    assert!(rows[0]["max_abs_err"].as_f64().unwrap() < 1e-4);
}

#[test]
fn the_training_benchmark_runs_across_processes() {
    let run = finish(
        spawn({
            let mut c = umbra();
            c.args([
                "bench",
                "train",
                "--parties",
                "2",
                "--transport",
                "quic",
                "--only",
                "lenet_inference_b1",
                "--reps",
                "1",
                "--json",
            ]);
            c
        }),
        Instant::now(),
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.out, run.err);
    let rows: Vec<serde_json::Value> = run
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rows.len(), 1, "{}", run.out);
    assert_eq!(rows[0]["transport"], "quic");
    // the same protocol as in-process: the same rounds (LeNet inference, see cli_demo.rs)
    assert_eq!(rows[0]["rounds"], 53);
}

/// Runs `umbra bench ARGS --transport quic --json` and parses its rows.
fn bench_rows(args: &[&str]) -> Vec<serde_json::Value> {
    let run = finish(
        spawn({
            let mut c = umbra();
            c.arg("bench").args(args).args([
                "--parties",
                "2",
                "--transport",
                "quic",
                "--reps",
                "1",
                "--json",
            ]);
            c
        }),
        Instant::now(),
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.out, run.err);
    run.out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_fss_comparison_mode_runs_across_processes() {
    // the dealer, as its own process, hands both parties their DCF keys
    let rows = bench_rows(&[
        "ops",
        "--only",
        "relu",
        "--scale",
        "0.001",
        "--compare",
        "fss",
    ]);
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["compare"], "fss", "{r}");
        // one opening of the masked input; the keys are evaluated locally
        assert_eq!(r["rounds"], 1, "{r}");
        assert_eq!(r["max_abs_err"].as_f64(), Some(0.0), "{r}");
        // 8 bytes per element between the parties
        assert_eq!(
            r["bytes_sent_per_party"],
            8 * r["elements"].as_u64().unwrap(),
            "{r}"
        );
        assert!(r["dealer_bytes_per_party"].as_u64().unwrap() > 0, "{r}");
    }
    let rows = bench_rows(&["train", "--only", "lenet_inference_b1", "--compare", "fss"]);
    assert_eq!(rows.len(), 1);
    // the same rounds as in-process (the target is 16)
    assert_eq!(rows[0]["rounds"], 16, "{}", rows[0]);
}

#[test]
fn bad_party_settings_fail_with_the_reason() {
    let out = umbra()
        .args([
            "party",
            "--cluster",
            "/nonexistent/cluster.toml",
            "--id",
            "0",
            "--session",
            "xyz",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--session: expected 32 hex digits"), "{err}");
}
