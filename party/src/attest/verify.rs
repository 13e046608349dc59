//! Appraisal: every check of the evidence against a policy, each with its result.

use std::time::{Duration, Instant};

use super::TeeKind;
use super::evidence::{Evidence, report_data_for};
use super::policy::{Expect, Policy};
use crate::wire::hex;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; what was found.
    Pass(String),
    /// Failed; why.
    Fail(String),
    /// Not run; why (it does not apply, or an earlier check removed its basis).
    Skipped(String),
}

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `quote signature`, `measurement`, `report data binds the TLS key`…
    pub name: &'static str,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Every check made on one piece of evidence.
#[derive(Debug, Clone)]
pub struct Appraisal {
    /// The TEE kind the policy asks for.
    pub tee: TeeKind,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// The measurement found, as `MRTD 91eb…` (empty if none was read).
    pub measurement: String,
    /// The TCB status found (`UpToDate`, or SNP's reported TCB).
    pub tcb: String,
    /// How long the appraisal took.
    pub elapsed: Duration,
}

/// What a party verified about the dealer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The TEE.
    pub tee: TeeKind,
    /// The measurement, as `MRTD 91eb…`.
    pub measurement: String,
    /// The TCB status.
    pub tcb: String,
    /// How long the checks took.
    pub elapsed: Duration,
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, TCB {} (checked in {:.1} ms)",
            self.tee.label(),
            self.measurement,
            self.tcb,
            self.elapsed.as_secs_f64() * 1e3
        )
    }
}

/// Evidence refused: every failed check with its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attestation refused: {}", .failures.iter().map(|(n, r)| format!("{n}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct Rejected {
    /// `(check, reason)` for every failed check.
    pub failures: Vec<(&'static str, String)>,
}

impl Appraisal {
    /// Whether every check that ran passed.
    pub fn passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Fail(_)))
    }

    /// The verified summary, or the failures.
    ///
    /// # Errors
    /// A check failed.
    pub fn into_result(self) -> std::result::Result<Verified, Rejected> {
        let failures: Vec<_> = self
            .checks
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Fail(r) => Some((c.name, r.clone())),
                _ => None,
            })
            .collect();
        if failures.is_empty() {
            Ok(Verified {
                tee: self.tee,
                measurement: self.measurement,
                tcb: self.tcb,
                elapsed: self.elapsed,
            })
        } else {
            Err(Rejected { failures })
        }
    }
}

impl std::fmt::Display for Appraisal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            let (tag, text) = match &c.outcome {
                Outcome::Pass(t) => ("pass", t),
                Outcome::Fail(t) => ("FAIL", t),
                Outcome::Skipped(t) => ("skip", t),
            };
            writeln!(f, "  {tag}  {}: {text}", c.name)?;
        }
        Ok(())
    }
}

/// Check names, shared with the tests that look for them.
mod name {
    pub(super) const CERTIFICATE: &str = "certificate";
    pub(super) const EVIDENCE: &str = "evidence";
    pub(super) const KIND: &str = "TEE kind";
    pub(super) const SIGNATURE: &str = "quote signature";
    pub(super) const CHAIN: &str = "certificate chain";
    pub(super) const COLLATERAL: &str = "collateral";
    pub(super) const VERIFY: &str = "quote verification";
    pub(super) const TCB: &str = "TCB status";
    pub(super) const MEASUREMENT: &str = "measurement";
    pub(super) const DEBUG: &str = "debug";
    pub(super) const BINDING: &str = "report data binds the TLS key";
    pub(super) const MIGRATION: &str = "migration agent";
    pub(super) const VMPL: &str = "VMPL";
}

struct Checks(Vec<Check>);

impl Checks {
    fn pass(&mut self, name: &'static str, t: impl Into<String>) {
        self.0.push(Check {
            name,
            outcome: Outcome::Pass(t.into()),
        });
    }
    fn fail(&mut self, name: &'static str, t: impl Into<String>) {
        self.0.push(Check {
            name,
            outcome: Outcome::Fail(t.into()),
        });
    }
    fn skip(&mut self, name: &'static str, t: impl Into<String>) {
        self.0.push(Check {
            name,
            outcome: Outcome::Skipped(t.into()),
        });
    }
    fn expect(&mut self, name: &'static str, ok: bool, pass: String, fail: String) {
        if ok {
            self.pass(name, pass)
        } else {
            self.fail(name, fail)
        }
    }
}

fn short(b: &[u8]) -> String {
    let h = hex(b);
    format!("{}…", &h[..h.len().min(16)])
}

/// Appraises the evidence in a certificate: every check of [`appraise`], with the report
/// data required to bind this certificate's key. `now_secs` is the time (Unix seconds) the
/// collateral must be valid at.
pub fn appraise_certificate(cert_der: &[u8], policy: &Policy, now_secs: u64) -> Appraisal {
    let start = Instant::now();
    match Evidence::from_certificate(cert_der) {
        Ok((evidence, spki)) => {
            let mut a = appraise(&evidence, Some(&spki), policy, now_secs);
            a.elapsed = start.elapsed();
            a
        }
        Err(reason) => {
            let mut c = Checks(Vec::new());
            let name = if reason.starts_with("the certificate") && !reason.contains("extension") {
                name::CERTIFICATE
            } else {
                name::EVIDENCE
            };
            c.fail(name, reason);
            Appraisal {
                tee: policy.tee,
                checks: c.0,
                measurement: String::new(),
                tcb: String::new(),
                elapsed: start.elapsed(),
            }
        }
    }
}

/// Appraises evidence against `policy` at `now_secs` (Unix seconds). With `spki` (a
/// certificate's SubjectPublicKeyInfo, DER) the report data must bind that key; without,
/// that check is skipped (bare evidence, as `umbra attest verify` takes a quote file).
pub fn appraise(
    evidence: &Evidence,
    spki: Option<&[u8]>,
    policy: &Policy,
    now_secs: u64,
) -> Appraisal {
    let start = Instant::now();
    let mut c = Checks(Vec::new());
    let mut a = Appraisal {
        tee: policy.tee,
        checks: Vec::new(),
        measurement: String::new(),
        tcb: String::new(),
        elapsed: Duration::ZERO,
    };
    let kind = evidence.kind();
    if kind != policy.tee {
        c.fail(
            name::KIND,
            format!("the policy asks for {}; the evidence is {kind}", policy.tee),
        );
    } else {
        c.pass(name::KIND, kind.label());
        let report_data = match evidence {
            Evidence::Tdx { quote } | Evidence::Sgx { quote } => {
                intel(quote, policy, now_secs, &mut c, &mut a)
            }
            Evidence::Snp { report, vcek } => snp(report, vcek, policy, &mut c, &mut a),
            Evidence::InsecureTestOnly {
                measurement,
                report_data,
            } => {
                c.skip(
                    name::SIGNATURE,
                    "test-only evidence is not signed: anyone can forge it",
                );
                if let Expect::Test { measurement: want } = &policy.expect {
                    a.measurement = format!("executable SHA-256 {}", short(measurement));
                    c.expect(
                        name::MEASUREMENT,
                        measurement == want,
                        format!("{} as pinned", short(measurement)),
                        format!(
                            "the dealer is {}, the policy pins {}",
                            short(measurement),
                            short(want)
                        ),
                    );
                }
                a.tcb = "n/a (no TEE)".into();
                Some(*report_data)
            }
        };
        match (report_data, spki) {
            (None, _) => c.skip(name::BINDING, "no report data was read"),
            (Some(_), None) => c.skip(name::BINDING, "bare evidence: no certificate to bind to"),
            (Some(rd), Some(spki)) => {
                let want = report_data_for(spki);
                c.expect(
                    name::BINDING,
                    rd == want,
                    format!("SHA-256 of the certificate's key, {}", short(&want[..32])),
                    format!(
                        "the report data is {}, but the certificate's key hashes to {}: this evidence was made for another key",
                        short(&rd),
                        short(&want[..32])
                    ),
                );
            }
        }
    }
    a.checks = c.0;
    a.elapsed = start.elapsed();
    a
}

/// Which check a dcap-qvl error belongs to.
fn intel_check(msg: &str) -> &'static str {
    let m = msg.to_ascii_lowercase();
    if m.contains("certificate chain") || m.contains("pck") || m.contains("revoked") {
        name::CHAIN
    } else if m.contains("expired")
        || m.contains("future")
        || m.contains("crl")
        || m.contains("tcbinfo")
        || m.contains("tcb info")
        || m.contains("qe identity")
        || m.contains("collateral")
    {
        name::COLLATERAL
    } else if m.contains("signature") {
        name::SIGNATURE
    } else if m.contains("decode") {
        name::EVIDENCE
    } else {
        name::VERIFY
    }
}

fn intel(
    quote: &[u8],
    policy: &Policy,
    now_secs: u64,
    c: &mut Checks,
    a: &mut Appraisal,
) -> Option<[u8; 64]> {
    let parsed = match dcap_qvl::quote::Quote::parse(quote) {
        Ok(q) => q,
        Err(e) => {
            c.fail(name::EVIDENCE, format!("the quote does not parse: {e:#}"));
            return None;
        }
    };
    let report = &parsed.report;
    if report.is_sgx() != (policy.tee == TeeKind::Sgx) {
        c.fail(
            name::KIND,
            format!(
                "the quote inside is of the other Intel kind ({})",
                if report.is_sgx() { "sgx" } else { "tdx" }
            ),
        );
        return None;
    }
    c.pass(
        name::EVIDENCE,
        format!(
            "quote version {}, {} bytes",
            parsed.header.version,
            quote.len()
        ),
    );
    let collateral = policy
        .collateral
        .as_ref()
        .expect("intel policies carry collateral");
    match dcap_qvl::verify::QuoteVerifier::new_prod().verify(quote, collateral, now_secs) {
        Ok(v) => {
            c.pass(
                name::SIGNATURE,
                "signed by the quoting enclave, whose PCK certificate chains to Intel's root; collateral valid and signed",
            );
            let advisories = if v.advisory_ids.is_empty() {
                String::new()
            } else {
                format!(" (advisories {})", v.advisory_ids.join(", "))
            };
            a.tcb = v.status.clone();
            c.expect(
                name::TCB,
                policy.tcb_statuses.contains(&v.status),
                format!("{}{advisories}, accepted", v.status),
                format!(
                    "{}{advisories}; the policy accepts {}",
                    v.status,
                    policy.tcb_statuses.join(", ")
                ),
            );
        }
        Err(e) => {
            let msg = format!("{e:#}");
            c.fail(intel_check(&msg), msg);
            c.skip(name::TCB, "the quote did not verify");
        }
    }
    match (&policy.expect, report) {
        (
            Expect::Sgx {
                mrenclave,
                mrsigner,
                isv_prod_id,
                min_isv_svn,
            },
            dcap_qvl::quote::Report::SgxEnclave(r),
        ) => {
            a.measurement = format!("MRENCLAVE {}", short(&r.mr_enclave));
            let mut wrong = Vec::new();
            if let Some(m) = mrenclave
                && *m != r.mr_enclave
            {
                wrong.push(format!(
                    "MRENCLAVE is {}, the policy pins {}",
                    short(&r.mr_enclave),
                    short(m)
                ));
            }
            if let Some(m) = mrsigner
                && *m != r.mr_signer
            {
                wrong.push(format!(
                    "MRSIGNER is {}, the policy pins {}",
                    short(&r.mr_signer),
                    short(m)
                ));
            }
            if let Some(p) = isv_prod_id
                && *p != r.isv_prod_id
            {
                wrong.push(format!(
                    "ISV product id is {}, the policy pins {p}",
                    r.isv_prod_id
                ));
            }
            if r.isv_svn < *min_isv_svn {
                wrong.push(format!(
                    "ISV SVN is {}, the policy needs at least {min_isv_svn}",
                    r.isv_svn
                ));
            }
            c.expect(
                name::MEASUREMENT,
                wrong.is_empty(),
                format!(
                    "MRENCLAVE {}, MRSIGNER {}, product {}, SVN {}",
                    short(&r.mr_enclave),
                    short(&r.mr_signer),
                    r.isv_prod_id,
                    r.isv_svn
                ),
                wrong.join("; "),
            );
            // SGX ATTRIBUTES.DEBUG is bit 1 of the first byte.
            c.expect(
                name::DEBUG,
                r.attributes[0] & 0x02 == 0,
                "not a debug enclave".into(),
                "the enclave runs in debug mode: its memory is readable by the host".into(),
            );
            Some(r.report_data)
        }
        (Expect::Tdx { mrtd, rtmr }, r) => {
            let r = r.as_td10().expect("kind checked");
            a.measurement = format!("MRTD {}", short(&r.mr_td));
            let got = [&r.rt_mr0, &r.rt_mr1, &r.rt_mr2, &r.rt_mr3];
            let mut wrong = Vec::new();
            if r.mr_td != *mrtd {
                wrong.push(format!(
                    "MRTD is {}, the policy pins {}",
                    short(&r.mr_td),
                    short(mrtd)
                ));
            }
            for (i, (want, got)) in rtmr.iter().zip(got).enumerate() {
                if let Some(w) = want
                    && w != got
                {
                    wrong.push(format!(
                        "RTMR{i} is {}, the policy pins {}",
                        short(got),
                        short(w)
                    ));
                }
            }
            let pinned = rtmr.iter().filter(|r| r.is_some()).count();
            c.expect(
                name::MEASUREMENT,
                wrong.is_empty(),
                format!("MRTD {} and {pinned} RTMRs as pinned", short(&r.mr_td)),
                wrong.join("; "),
            );
            // TD_ATTRIBUTES.TUD.DEBUG is bit 0.
            c.expect(
                name::DEBUG,
                r.td_attributes[0] & 0x01 == 0,
                "not a debug TD".into(),
                "the trust domain runs in debug mode: its memory is readable by the host".into(),
            );
            Some(r.report_data)
        }
        _ => unreachable!("the kind was checked against the policy"),
    }
}

fn snp(
    report: &[u8],
    vcek: &[u8],
    policy: &Policy,
    c: &mut Checks,
    a: &mut Appraisal,
) -> Option<[u8; 64]> {
    use sev::certs::snp::{Certificate, Chain, Verifiable, builtin, ca};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;
    let r = match AttestationReport::from_bytes(report) {
        Ok(r) => r,
        Err(e) => {
            c.fail(
                name::EVIDENCE,
                format!("the SNP report does not parse: {e}"),
            );
            return None;
        }
    };
    c.pass(
        name::EVIDENCE,
        format!("SNP report version {}, {} bytes", r.version, report.len()),
    );
    match Certificate::from_der(vcek) {
        Err(e) => {
            c.fail(
                name::CHAIN,
                format!("the VCEK certificate does not parse: {e}"),
            );
            c.skip(name::SIGNATURE, "no VCEK to check it with");
        }
        Ok(vek) => {
            let roots = [
                ("Milan", builtin::milan::ark(), builtin::milan::ask()),
                ("Genoa", builtin::genoa::ark(), builtin::genoa::ask()),
                ("Turin", builtin::turin::ark(), builtin::turin::ask()),
            ];
            let chain = roots.into_iter().find_map(|(name, ark, ask)| {
                let chain = Chain {
                    ca: ca::Chain {
                        ark: ark.ok()?,
                        ask: ask.ok()?,
                    },
                    vek: vek.clone(),
                };
                chain.verify().ok()?;
                Some((name, chain))
            });
            match chain {
                None => {
                    c.fail(name::CHAIN, "the VCEK does not chain to AMD's Milan, Genoa or Turin root (ARK → ASK → VCEK)");
                    c.skip(name::SIGNATURE, "no trusted VCEK to check it with");
                }
                Some((family, chain)) => {
                    c.pass(
                        name::CHAIN,
                        format!("VCEK chains to AMD's {family} ARK through its ASK"),
                    );
                    match (&chain, &r).verify() {
                        Ok(()) => c.pass(name::SIGNATURE, "the report is signed by that VCEK"),
                        Err(e) => c.fail(
                            name::SIGNATURE,
                            format!("the report's signature does not verify with the VCEK: {e}"),
                        ),
                    }
                }
            }
        }
    }
    let t = &r.reported_tcb;
    a.tcb = format!(
        "reported TCB bootloader {} tee {} snp {} microcode {}",
        t.bootloader, t.tee, t.snp, t.microcode
    );
    if let Expect::Snp {
        measurement,
        min_tcb,
        vmpl,
    } = &policy.expect
    {
        let got = [t.bootloader, t.tee, t.snp, t.microcode];
        match min_tcb {
            None => c.skip(name::TCB, format!("{}; the policy pins no minimum", a.tcb)),
            Some(min) => {
                const PARTS: [&str; 4] = ["bootloader", "tee", "snp", "microcode"];
                let low: Vec<_> = (0..4)
                    .filter(|&i| got[i] < min[i])
                    .map(|i| format!("{} {} < {}", PARTS[i], got[i], min[i]))
                    .collect();
                c.expect(
                    name::TCB,
                    low.is_empty(),
                    format!("{}, at least the policy's {min:?}", a.tcb),
                    format!(
                        "the reported TCB is below the policy's minimum: {}",
                        low.join(", ")
                    ),
                );
            }
        }
        a.measurement = format!("measurement {}", short(&r.measurement));
        c.expect(
            name::MEASUREMENT,
            r.measurement == *measurement,
            format!("{} as pinned", short(&r.measurement)),
            format!(
                "the launch measurement is {}, the policy pins {}",
                short(&r.measurement),
                short(measurement)
            ),
        );
        c.expect(
            name::VMPL,
            r.vmpl == *vmpl,
            format!("requested from VMPL {}", r.vmpl),
            format!(
                "the report was requested from VMPL {}, the policy requires VMPL {vmpl}",
                r.vmpl
            ),
        );
    }
    c.expect(
        name::DEBUG,
        !r.policy.debug_allowed(),
        format!("guest policy {:#x}: debugging not allowed", r.policy.0),
        format!(
            "guest policy {:#x} allows debugging (bit 19): the host can read the VM's memory",
            r.policy.0
        ),
    );
    c.expect(
        name::MIGRATION,
        !r.policy.migrate_ma_allowed(),
        "guest policy allows no migration agent".into(),
        format!(
            "guest policy {:#x} allows a migration agent (bit 18): the VM's state can leave the chip",
            r.policy.0
        ),
    );
    Some(r.report_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcap_errors_are_named_by_the_check_they_fail() {
        assert_eq!(
            intel_check("Failed to verify certificate chain: UnknownIssuer"),
            name::CHAIN
        );
        assert_eq!(intel_check("TCBInfo expired"), name::COLLATERAL);
        assert_eq!(
            intel_check("TCBInfo issue date is in the future"),
            name::COLLATERAL
        );
        assert_eq!(
            intel_check("ISV enclave report signature is invalid"),
            name::SIGNATURE
        );
        assert_eq!(intel_check("Failed to decode quote"), name::EVIDENCE);
        assert_eq!(intel_check("something new"), name::VERIFY);
    }
}
