//! The attested dealer end to end, as processes: `umbra launch --dealer --attest` with the
//! test-only evidence kind (these machines have no TEE) goes through the same RA-TLS
//! certificate, verifier and policy code as TDX, SNP and SGX; a dealer whose measurement
//! differs from the policy is refused by every party before any tuple; and the operator's
//! commands (`keygen --dealer-attest`, `dealer --print-evidence`, `attest verify`) work on
//! real evidence. Every child runs under a hard deadline.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use common::*;

const TDX_MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const TDX_RTMR1: &str = "1=0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378";
const TDX_RTMR2: &str = "2=d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132";
/// Inside the sample collateral's validity (party/tests/fixtures/attest/SOURCES.md).
const AT: &str = "1750400000";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../party/tests/fixtures/attest")
        .join(name)
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("umbra-attested-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn run(args: &[&str]) -> Run {
    let mut cmd = umbra();
    cmd.args(args);
    finish(spawn(cmd), Instant::now())
}

#[test]
fn launched_parties_verify_an_attested_dealer_and_compute() {
    for transport in ["quic", "tcp"] {
        let exe = env!("CARGO_BIN_EXE_umbra");
        let r = run(&[
            "launch",
            "--parties",
            "2",
            "--dealer",
            "--attest",
            "insecure-test-only",
            "--transport",
            transport,
            "--",
            exe,
            "testprog",
            "matmul-relu",
        ]);
        assert_eq!(r.code, Some(0), "{transport}:\n{}\n{}", r.out, r.err);
        for p in 0..2 {
            let line = format!(
                "[party {p}] umbra: party {p} verified the dealer: INSECURE test-only evidence"
            );
            assert_eq!(
                r.err.matches(&line).count(),
                1,
                "{transport}: once per party:\n{}",
                r.err
            );
        }
        let want = umbra::mpc::run_parties(2, |s| apps::testprog::matmul_relu(&s)).unwrap();
        for p in 0..2 {
            let prefix = format!("[party {p}] RESULT ");
            let got: Vec<f64> = r
                .out
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|l| serde_json::from_str(l).unwrap())
                .unwrap_or_else(|| panic!("no result from party {p}:\n{}", r.out));
            assert_eq!(got.len(), want[0].len());
            for (g, w) in got.iter().zip(&want[0]) {
                // As in multiprocess.rs: one truncation each, at most 1 ulp apart.
                assert!((g - w).abs() <= 1.0 / 65536.0 + 1e-12, "{g} vs {w}");
            }
        }
    }
}

#[test]
fn every_party_refuses_a_dealer_whose_measurement_differs_before_any_tuple() {
    let dir = temp("refuse");
    let d = dir.0.to_str().unwrap();
    let hosts: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port(false)))
        .collect();
    let wrong = "ab".repeat(32);
    let k = run(&[
        "keygen",
        "--parties",
        "2",
        "--dealer-attest",
        "insecure-test-only",
        "--measurement",
        &wrong,
        "--out",
        d,
        "--hosts",
        &hosts.join(","),
    ]);
    assert_eq!(k.code, Some(0), "{}\n{}", k.out, k.err);
    assert!(
        !dir.0.join("dealer.key").exists(),
        "an attested dealer's key is never written"
    );
    let cluster = dir.0.join("cluster.toml");
    let c = cluster.to_str().unwrap();
    let started = Instant::now();
    let mut dealer = umbra();
    dealer.args([
        "dealer",
        "--attest",
        "insecure-test-only",
        "--cluster",
        c,
        "--sessions",
        "1",
    ]);
    let dealer = spawn(dealer);
    let session = "0123456789abcdef0123456789abcdef";
    let parties: Vec<_> = (0..2)
        .map(|id| {
            let mut p = umbra();
            p.args([
                "party",
                "--cluster",
                c,
                "--id",
                &id.to_string(),
                "--session",
                session,
                "--connect-timeout-ms",
                "20000",
                "--",
                env!("CARGO_BIN_EXE_umbra"),
                "testprog",
                "matmul-relu",
            ]);
            spawn(p)
        })
        .collect();
    for (id, p) in parties.into_iter().enumerate() {
        let r = finish(p, started);
        assert_ne!(
            r.code,
            Some(0),
            "party {id} accepted:\n{}\n{}",
            r.out,
            r.err
        );
        assert!(
            r.err
                .contains("attestation refused: measurement: the dealer is"),
            "party {id}:\n{}",
            r.err
        );
        assert!(!r.out.contains("RESULT"), "party {id} computed:\n{}", r.out);
    }
    let mut dealer = dealer;
    let _ = dealer.kill();
    let r = finish(dealer, started);
    assert!(
        !r.err.contains("complete"),
        "the dealer served a session:\n{}",
        r.err
    );
}

#[test]
fn a_dealer_outside_its_tee_fails_at_start_naming_the_interface() {
    let dir = temp("notee");
    let d = dir.0.to_str().unwrap();
    let k = run(&[
        "keygen",
        "--parties",
        "2",
        "--dealer-attest",
        "tdx",
        "--measurement",
        TDX_MRTD,
        "--rtmr",
        TDX_RTMR1,
        "--rtmr",
        TDX_RTMR2,
        "--collateral",
        fixture("tdx_quote_collateral.json").to_str().unwrap(),
        "--out",
        d,
    ]);
    assert_eq!(k.code, Some(0), "{}\n{}", k.out, k.err);
    let c = dir.0.join("cluster.toml");
    for kind in ["tdx", "snp"] {
        let r = run(&["dealer", "--attest", kind, "--cluster", c.to_str().unwrap()]);
        assert_ne!(r.code, Some(0));
        assert!(
            r.err.contains("configfs-tsm") && r.err.contains("/sys/kernel/config/tsm/report"),
            "{}",
            r.err
        );
    }
    let r = run(&[
        "dealer",
        "--attest",
        "sgx",
        "--cluster",
        c.to_str().unwrap(),
    ]);
    assert!(
        r.err.contains("Gramine") && r.err.contains("/dev/attestation"),
        "{}",
        r.err
    );
    // The cluster names an attested dealer: a dealer started without --attest says so.
    let r = run(&["dealer", "--cluster", c.to_str().unwrap()]);
    assert!(r.err.contains("--attest tdx"), "{}", r.err);
    // And a pinned cluster refuses a dealer started with --attest.
    let pinned = temp("pinned");
    let k = run(&[
        "keygen",
        "--parties",
        "2",
        "--dealer",
        "--out",
        pinned.0.to_str().unwrap(),
    ]);
    assert_eq!(k.code, Some(0));
    let pc = pinned.0.join("cluster.toml");
    let r = run(&[
        "dealer",
        "--attest",
        "insecure-test-only",
        "--cluster",
        pc.to_str().unwrap(),
    ]);
    assert!(r.err.contains("pins the dealer's certificate"), "{}", r.err);
    // A TDX policy without the RTMRs that measure the kernel is refused, as are flags of
    // another kind and a malformed --rtmr.
    let loose = temp("loose");
    let base = [
        "keygen",
        "--parties",
        "2",
        "--out",
        loose.0.to_str().unwrap(),
        "--dealer-attest",
        "tdx",
        "--measurement",
        TDX_MRTD,
    ];
    for (extra, want) in [
        (&["--rtmr", TDX_RTMR1][..], "needs `rtmr1` and `rtmr2`"),
        (&["--rtmr", "4=00"][..], "INDEX 0 to 3"),
        (
            &["--rtmr", TDX_RTMR1, "--rtmr", TDX_RTMR1][..],
            "already given",
        ),
        (&["--vmpl", "0"][..], "--vmpl applies to a snp dealer"),
    ] {
        let r = run(&[&base[..], extra].concat());
        assert_ne!(r.code, Some(0));
        assert!(r.err.contains(want), "{extra:?}: {}", r.err);
    }
}

#[test]
fn attest_verify_prints_every_check_on_real_and_tampered_evidence() {
    let dir = temp("verify");
    let d = dir.0.to_str().unwrap();
    let k = run(&[
        "keygen",
        "--parties",
        "2",
        "--dealer-attest",
        "tdx",
        "--measurement",
        TDX_MRTD,
        "--rtmr",
        TDX_RTMR1,
        "--rtmr",
        TDX_RTMR2,
        "--collateral",
        fixture("tdx_quote_collateral.json").to_str().unwrap(),
        "--out",
        d,
    ]);
    assert_eq!(k.code, Some(0), "{}\n{}", k.out, k.err);
    let c = dir.0.join("cluster.toml");
    let c = c.to_str().unwrap();
    let quote = fixture("tdx_quote");
    let r = run(&[
        "attest",
        "verify",
        "--cluster",
        c,
        "--at",
        AT,
        quote.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.out, r.err);
    for line in [
        "pass  TEE kind: Intel TDX",
        "pass  quote signature:",
        "pass  TCB status: UpToDate",
        "pass  measurement: MRTD 91eb2b44",
        "pass  debug:",
        "skip  report data binds the TLS key: bare evidence",
        "accepted: Intel TDX, MRTD 91eb2b44",
    ] {
        assert!(r.out.contains(line), "missing `{line}`:\n{}", r.out);
    }
    let mut bad = std::fs::read(&quote).unwrap();
    bad[48 + 584 + 4 + 10] ^= 1;
    let tampered = dir.0.join("tampered_quote");
    std::fs::write(&tampered, bad).unwrap();
    let r = run(&[
        "attest",
        "verify",
        "--cluster",
        c,
        "--at",
        AT,
        tampered.to_str().unwrap(),
    ]);
    assert_ne!(r.code, Some(0));
    assert!(r.out.contains("FAIL  quote signature"), "{}", r.out);
    assert!(
        r.err.contains("attestation refused: quote signature"),
        "{}",
        r.err
    );
    // Now, without --at: the sample collateral expired in July 2025.
    let r = run(&["attest", "verify", "--cluster", c, quote.to_str().unwrap()]);
    assert!(r.out.contains("FAIL  collateral"), "{}", r.out);
    assert!(r.out.to_lowercase().contains("expired"), "{}", r.out);
}

#[test]
fn printed_evidence_pins_a_policy_that_its_certificate_passes() {
    let dir = temp("print");
    let cert = dir.0.join("dealer-evidence.pem");
    let r = run(&[
        "dealer",
        "--attest",
        "insecure-test-only",
        "--print-evidence",
        "--evidence-out",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.out, r.err);
    let m = r
        .out
        .lines()
        .find_map(|l| l.strip_prefix("measurement = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no measurement in:\n{}", r.out))
        .to_owned();
    let k = run(&[
        "keygen",
        "--parties",
        "2",
        "--dealer-attest",
        "insecure-test-only",
        "--measurement",
        &m,
        "--out",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(k.code, Some(0), "{}\n{}", k.out, k.err);
    let c = dir.0.join("cluster.toml");
    let r = run(&[
        "attest",
        "verify",
        "--cluster",
        c.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.out, r.err);
    assert!(
        r.out.contains("pass  report data binds the TLS key"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("skip  quote signature: test-only evidence is not signed"),
        "{}",
        r.out
    );
}
