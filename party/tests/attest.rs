//! The attested dealer's checks on real evidence, offline: Intel's public sample TDX and SGX
//! quotes with their collateral (from dcap-qvl), and an AMD SEV-SNP report with its VCEK
//! (from the sev crate), verified at a pinned time; then every way the evidence can be wrong,
//! each refused with the check that failed. `fixtures/attest/SOURCES.md` says where the
//! files come from.

use std::path::{Path, PathBuf};

use party::attest::{
    Appraisal, Evidence, MAX_EVIDENCE_BYTES, Outcome, Policy, PolicyFile, TeeKind, appraise,
    appraise_certificate, certificate_carrying,
};

/// 2025-06-20T06:13:20Z: inside the sample collateral's validity (2025-06-19 to 07-19).
const AT: u64 = 1_750_400_000;
const TDX_MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const TDX_RTMR1: &str = "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378";
const TDX_RTMR2: &str = "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132";
const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
const SGX_MRSIGNER: &str = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";
const SNP_MEASUREMENT: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attest")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap()
}

fn policy(f: PolicyFile) -> Policy {
    Policy::from_file(f, &dir()).unwrap()
}

fn tdx_policy() -> PolicyFile {
    PolicyFile {
        tee: "tdx".into(),
        mrtd: Some(TDX_MRTD.into()),
        rtmr1: Some(TDX_RTMR1.into()),
        rtmr2: Some(TDX_RTMR2.into()),
        collateral: Some("tdx_quote_collateral.json".into()),
        ..PolicyFile::default()
    }
}

fn sgx_policy() -> PolicyFile {
    PolicyFile {
        tee: "sgx".into(),
        mrenclave: Some(SGX_MRENCLAVE.into()),
        mrsigner: Some(SGX_MRSIGNER.into()),
        isv_prod_id: Some(0),
        min_isv_svn: Some(0),
        tcb_statuses: Some(vec![
            "UpToDate".into(),
            "ConfigurationAndSWHardeningNeeded".into(),
        ]),
        collateral: Some("sgx_quote_collateral.json".into()),
        ..PolicyFile::default()
    }
}

fn snp_policy() -> PolicyFile {
    PolicyFile {
        tee: "snp".into(),
        measurement: Some(SNP_MEASUREMENT.into()),
        // The sample's reported TCB, exactly: bootloader 3, tee 0, snp 8, microcode 115.
        min_tcb: Some([3, 0, 8, 115]),
        vmpl: Some(0),
        ..PolicyFile::default()
    }
}

fn tdx() -> Evidence {
    Evidence::Tdx {
        quote: read("tdx_quote"),
    }
}

fn sgx() -> Evidence {
    Evidence::Sgx {
        quote: read("sgx_quote"),
    }
}

fn snp() -> Evidence {
    Evidence::Snp {
        report: read("snp_report_milan.bin"),
        vcek: read("snp_vcek_milan.der"),
    }
}

fn outcome<'a>(a: &'a Appraisal, name: &str) -> &'a Outcome {
    &a.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in\n{a}"))
        .outcome
}

/// Bare evidence passes every check that applies; the key binding is skipped (no
/// certificate), and every check that ran says what it found.
fn passes_bare(e: &Evidence, p: &Policy) -> Appraisal {
    let a = appraise(e, None, p, AT);
    assert!(a.passed(), "{a}");
    assert!(matches!(
        outcome(&a, "report data binds the TLS key"),
        Outcome::Skipped(_)
    ));
    for name in [
        "TEE kind",
        "evidence",
        "quote signature",
        "measurement",
        "debug",
    ] {
        assert!(
            matches!(outcome(&a, name), Outcome::Pass(_)),
            "{name}:\n{a}"
        );
    }
    a
}

/// The names of the checks that failed.
fn failed(a: &Appraisal) -> Vec<&'static str> {
    a.checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
        .map(|c| c.name)
        .collect()
}

fn refused_for(a: &Appraisal, check: &str) -> String {
    assert!(!a.passed(), "passed:\n{a}");
    assert!(
        failed(a).contains(&check),
        "wanted `{check}` among the failures:\n{a}"
    );
    let msg = a.clone().into_result().unwrap_err().to_string();
    assert!(msg.contains(check), "{msg}");
    msg
}

#[test]
fn real_tdx_sgx_and_snp_evidence_verifies_at_a_pinned_time() {
    let a = passes_bare(&tdx(), &policy(tdx_policy()));
    assert_eq!(a.tcb, "UpToDate");
    assert!(
        a.measurement.starts_with("MRTD 91eb2b44"),
        "{}",
        a.measurement
    );
    let a = passes_bare(&sgx(), &policy(sgx_policy()));
    assert_eq!(a.tcb, "ConfigurationAndSWHardeningNeeded");
    assert!(matches!(outcome(&a, "TCB status"), Outcome::Pass(t) if t.contains("INTEL-SA-00289")));
    let a = passes_bare(&snp(), &policy(snp_policy()));
    assert!(matches!(outcome(&a, "certificate chain"), Outcome::Pass(t) if t.contains("Milan")));
    assert!(a.measurement.starts_with("measurement 7a1e5c26"));
}

#[test]
fn rtmrs_are_checked_when_pinned() {
    let mut f = tdx_policy();
    f.rtmr2 = Some("00".repeat(48));
    let a = appraise(&tdx(), None, &policy(f), AT);
    let msg = refused_for(&a, "measurement");
    assert!(msg.contains("RTMR2"), "{msg}");
}

fn flipped(e: &Evidence, at: impl Fn(&[u8]) -> usize) -> Evidence {
    let mut e = e.clone();
    let (Evidence::Tdx { quote: q } | Evidence::Sgx { quote: q }) = &mut e else {
        unreachable!()
    };
    let i = at(q);
    q[i] ^= if q[i].is_ascii_alphanumeric() {
        0x01
    } else {
        0x80
    };
    e
}

#[test]
fn a_flipped_byte_in_the_body_the_signature_or_the_chain_is_refused() {
    // Body sizes: TDX 1.0 584 bytes, SGX 384, after the 48-byte header; then the 4-byte
    // signature length and the 64-byte ECDSA signature.
    for (e, p, body) in [
        (tdx(), policy(tdx_policy()), 584),
        (sgx(), policy(sgx_policy()), 384),
    ] {
        let a = appraise(&flipped(&e, |_| 48 + 200), None, &p, AT);
        refused_for(&a, "quote signature");
        let a = appraise(&flipped(&e, |_| 48 + body + 4 + 10), None, &p, AT);
        refused_for(&a, "quote signature");
        let chain = |q: &[u8]| {
            q.windows(27)
                .position(|w| w == b"-----BEGIN CERTIFICATE-----")
                .unwrap()
                + 28
                + 300
        };
        let a = appraise(&flipped(&e, chain), None, &p, AT);
        refused_for(&a, "certificate chain");
    }
    let Evidence::Snp { report, vcek } = snp() else {
        unreachable!()
    };
    let mut body = report.clone();
    body[0x90] ^= 1; // inside the launch measurement
    let a = appraise(
        &Evidence::Snp {
            report: body,
            vcek: vcek.clone(),
        },
        None,
        &policy(snp_policy()),
        AT,
    );
    refused_for(&a, "quote signature");
    let mut sig = report.clone();
    sig[0x2a0 + 5] ^= 1; // the signature's R component
    let a = appraise(
        &Evidence::Snp {
            report: sig,
            vcek: vcek.clone(),
        },
        None,
        &policy(snp_policy()),
        AT,
    );
    refused_for(&a, "quote signature");
    let mut chain = vcek.clone();
    chain[40] ^= 0xff;
    let a = appraise(
        &Evidence::Snp {
            report,
            vcek: chain,
        },
        None,
        &policy(snp_policy()),
        AT,
    );
    refused_for(&a, "certificate chain");
}

#[test]
fn a_measurement_other_than_the_policys_is_refused() {
    let mut f = tdx_policy();
    f.mrtd = Some("11".repeat(48));
    refused_for(&appraise(&tdx(), None, &policy(f), AT), "measurement");
    let mut f = sgx_policy();
    f.mrenclave = Some("22".repeat(32));
    refused_for(&appraise(&sgx(), None, &policy(f), AT), "measurement");
    let mut f = sgx_policy();
    f.min_isv_svn = Some(1);
    let msg = refused_for(&appraise(&sgx(), None, &policy(f), AT), "measurement");
    assert!(msg.contains("SVN"), "{msg}");
    let mut f = snp_policy();
    f.measurement = Some("33".repeat(48));
    refused_for(&appraise(&snp(), None, &policy(f), AT), "measurement");
}

#[test]
fn a_real_quote_inside_another_keys_certificate_is_refused() {
    for (e, p) in [
        (tdx(), policy(tdx_policy())),
        (sgx(), policy(sgx_policy())),
        (snp(), policy(snp_policy())),
    ] {
        let cert = certificate_carrying(e.encode()).unwrap();
        let a = appraise_certificate(cert.cert_der(), &p, AT);
        let msg = refused_for(&a, "report data binds the TLS key");
        assert!(msg.contains("made for another key"), "{msg}");
        // Everything else about the quote is fine: only the binding fails.
        assert_eq!(failed(&a), ["report data binds the TLS key"], "{a}");
    }
}

#[test]
fn collateral_expired_at_the_check_time_is_refused() {
    let later = AT + 60 * 86_400;
    let msg = refused_for(
        &appraise(&tdx(), None, &policy(tdx_policy()), later),
        "collateral",
    );
    assert!(msg.contains("expired"), "{msg}");
    refused_for(
        &appraise(&sgx(), None, &policy(sgx_policy()), later),
        "collateral",
    );
    let before = AT - 365 * 86_400;
    refused_for(
        &appraise(&tdx(), None, &policy(tdx_policy()), before),
        "collateral",
    );
}

#[test]
fn a_tcb_status_the_policy_does_not_accept_is_refused() {
    let mut f = sgx_policy();
    f.tcb_statuses = None; // the default: UpToDate only
    let msg = refused_for(&appraise(&sgx(), None, &policy(f), AT), "TCB status");
    assert!(msg.contains("ConfigurationAndSWHardeningNeeded"), "{msg}");
}

#[test]
fn an_snp_report_with_the_debug_bit_set_is_refused() {
    let Evidence::Snp { mut report, vcek } = snp() else {
        unreachable!()
    };
    report[10] |= 0x08; // guest policy bit 19: DEBUG
    let a = appraise(
        &Evidence::Snp { report, vcek },
        None,
        &policy(snp_policy()),
        AT,
    );
    let msg = refused_for(&a, "debug");
    assert!(msg.contains("allows debugging"), "{msg}");
}

#[test]
fn an_snp_report_allowing_a_migration_agent_is_refused() {
    let Evidence::Snp { mut report, vcek } = snp() else {
        unreachable!()
    };
    report[10] |= 0x04; // guest policy bit 18: MIGRATE_MA
    let a = appraise(
        &Evidence::Snp { report, vcek },
        None,
        &policy(snp_policy()),
        AT,
    );
    let msg = refused_for(&a, "migration agent");
    assert!(msg.contains("bit 18"), "{msg}");
}

#[test]
fn an_snp_tcb_below_the_minimum_or_another_vmpl_is_refused() {
    let mut f = snp_policy();
    f.min_tcb = Some([3, 0, 9, 115]);
    let msg = refused_for(&appraise(&snp(), None, &policy(f), AT), "TCB status");
    assert!(msg.contains("snp 8 < 9"), "{msg}");
    let mut f = snp_policy();
    f.vmpl = Some(1);
    let a = appraise(&snp(), None, &policy(f), AT);
    assert_eq!(failed(&a), ["VMPL"], "{a}");
    let mut f = snp_policy();
    f.min_tcb = None;
    let a = appraise(&snp(), None, &policy(f), AT);
    assert!(a.passed(), "{a}");
    assert!(
        matches!(outcome(&a, "TCB status"), Outcome::Skipped(t) if t.contains("microcode 115"))
    );
}

#[test]
fn a_truncated_or_oversized_extension_is_refused() {
    let p = policy(tdx_policy());
    let good = tdx().encode();
    for (value, want) in [
        (good[..good.len() - 7].to_vec(), "truncated"),
        (good[..5].to_vec(), "UMBRAEV1"),
        ([good.clone(), vec![0; 3]].concat(), "after its last blob"),
        (
            Evidence::Tdx {
                quote: vec![0; MAX_EVIDENCE_BYTES],
            }
            .encode(),
            "at most",
        ),
    ] {
        let cert = certificate_carrying(value).unwrap();
        let a = appraise_certificate(cert.cert_der(), &p, AT);
        let msg = refused_for(&a, "evidence");
        assert!(msg.contains(want), "{msg}");
    }
    // A certificate without the extension (a pinned-mode dealer) and one that is not DER.
    let plain = party::Identity::generate("dealer", &[]).unwrap();
    let msg = refused_for(&appraise_certificate(plain.cert_der(), &p, AT), "evidence");
    assert!(msg.contains("--attest"), "{msg}");
    refused_for(
        &appraise_certificate(b"not a certificate", &p, AT),
        "certificate",
    );
}

#[test]
fn the_wrong_tee_kind_is_refused() {
    let msg = refused_for(
        &appraise(&sgx(), None, &policy(tdx_policy()), AT),
        "TEE kind",
    );
    assert!(msg.contains("asks for tdx"), "{msg}");
    refused_for(
        &appraise(&tdx(), None, &policy(snp_policy()), AT),
        "TEE kind",
    );
    // A TDX quote relabelled as SGX evidence: the quote inside says otherwise.
    let relabelled = Evidence::Sgx {
        quote: read("tdx_quote"),
    };
    refused_for(
        &appraise(&relabelled, None, &policy(sgx_policy()), AT),
        "TEE kind",
    );
    // Test-only evidence is never accepted by a real policy.
    let fake = Evidence::InsecureTestOnly {
        measurement: [0; 32],
        report_data: [0; 64],
    };
    refused_for(
        &appraise(&fake, None, &policy(tdx_policy()), AT),
        "TEE kind",
    );
}

#[test]
fn test_only_evidence_passes_only_a_policy_that_names_it() {
    let (id, e) = party::attest::attested_identity(
        TeeKind::InsecureTestOnly,
        &party::attest::ProduceOptions {
            test_measurement: Some([5; 32]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(e.kind(), TeeKind::InsecureTestOnly);
    let named = policy(PolicyFile {
        tee: "insecure-test-only".into(),
        measurement: Some("05".repeat(32)),
        ..PolicyFile::default()
    });
    let a = appraise_certificate(id.cert_der(), &named, AT);
    assert!(a.passed(), "{a}");
    assert!(matches!(
        outcome(&a, "report data binds the TLS key"),
        Outcome::Pass(_)
    ));
    assert!(matches!(outcome(&a, "quote signature"), Outcome::Skipped(t) if t.contains("forge")));
    let other = policy(PolicyFile {
        tee: "insecure-test-only".into(),
        measurement: Some("06".repeat(32)),
        ..PolicyFile::default()
    });
    refused_for(
        &appraise_certificate(id.cert_der(), &other, AT),
        "measurement",
    );
}

#[test]
fn verification_cost_is_reported() {
    // Not a timing assertion (CI machines vary): the appraisal measures itself, and the
    // closing note quotes release-mode numbers from `umbra bench attest`.
    let a = appraise(&tdx(), None, &policy(tdx_policy()), AT);
    assert!(a.elapsed.as_nanos() > 0);
    let v = a.into_result().unwrap();
    assert!(v.to_string().contains("Intel TDX, MRTD 91eb2b44"), "{v}");
}

/// Keys and a cluster file in a fresh directory: 2 parties and a dealer, pinned by
/// fingerprint or attested under `policy`.
fn cluster(tag: &str, policy: Option<PolicyFile>) -> (PathBuf, party::Cluster) {
    let out = std::env::temp_dir().join(format!("umbra-attest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(
        dir().join("tdx_quote_collateral.json"),
        out.join("tdx_quote_collateral.json"),
    )
    .unwrap();
    let path = party::keygen::keygen(&party::keygen::KeygenOptions {
        parties: 2,
        dealer: policy.is_none(),
        dealer_attest: policy,
        hosts: vec![],
        base_port: 7400,
        out: out.clone(),
        force: false,
    })
    .unwrap();
    let c = party::Cluster::load(&path).unwrap();
    (out, c)
}

fn party0(out: &Path) -> party::Identity {
    party::Identity::load(&out.join("party-0.crt"), &out.join("party-0.key")).unwrap()
}

#[test]
fn the_tls_verifier_applies_the_policy_and_the_pinned_mode_is_unchanged() {
    // Pinned: the dealer's own key passes, any other is refused by fingerprint.
    let (out, c) = cluster("pinned", None);
    let dealer = party::Identity::load(&out.join("dealer.crt"), &out.join("dealer.key")).unwrap();
    party::dealer_handshake_time(&c, (0, &party0(&out)), &dealer, 1).unwrap();
    let other = party::Identity::generate("dealer", &[]).unwrap();
    let e = party::dealer_handshake_time(&c, (0, &party0(&out)), &other, 1).unwrap_err();
    assert!(e.to_string().contains("the cluster file pins"), "{e}");
    std::fs::remove_dir_all(&out).unwrap();

    // Attested: evidence made for the dealer's key with the pinned measurement passes; the
    // same kind with another measurement, and a pinned-mode certificate, are refused.
    let test_policy = PolicyFile {
        tee: "insecure-test-only".into(),
        measurement: Some("05".repeat(32)),
        ..PolicyFile::default()
    };
    let (out, c) = cluster("attested", Some(test_policy));
    let make = |m: u8| {
        party::attest::attested_identity(
            TeeKind::InsecureTestOnly,
            &party::attest::ProduceOptions {
                test_measurement: Some([m; 32]),
                ..Default::default()
            },
        )
        .unwrap()
        .0
    };
    party::dealer_handshake_time(&c, (0, &party0(&out)), &make(5), 1).unwrap();
    let e = party::dealer_handshake_time(&c, (0, &party0(&out)), &make(6), 1).unwrap_err();
    assert!(
        e.to_string().contains("attestation refused: measurement"),
        "{e}"
    );
    let plain = party::Identity::generate("dealer", &[]).unwrap();
    let e = party::dealer_handshake_time(&c, (1, &party0(&out)), &plain, 1).unwrap_err();
    assert!(e.to_string().contains("no umbra evidence extension"), "{e}");
    std::fs::remove_dir_all(&out).unwrap();

    // A real TDX quote in the dealer's certificate: its report data binds another key, and
    // (checked at the wall clock) its sample collateral has expired; both are named.
    let (out, c) = cluster("tdx", Some(tdx_policy()));
    let cert = certificate_carrying(tdx().encode()).unwrap();
    let e = party::dealer_handshake_time(&c, (0, &party0(&out)), &cert, 1).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("report data binds the TLS key") && e.contains("collateral"),
        "{e}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
