//! The attested dealer: evidence a dealer in a TEE makes about itself, carried in its TLS
//! certificate (RA-TLS), and the checks every party makes on it before any tuple.
//!
//! Inside the TEE the dealer generates its TLS key (it never touches disk), asks the
//! platform for evidence whose report data is `SHA-256(SubjectPublicKeyInfo) ‖ 0^32`
//! ([`report_data_for`]), and puts the evidence in an extension of its self-signed
//! certificate ([`EVIDENCE_OID`]). A party's TLS verifier finds the dealer's entry in the
//! cluster file holding a [`Policy`] instead of a fingerprint, and [`appraise_certificate`]
//! checks, in order:
//! - the evidence: the extension is present and well formed, of the TEE kind the policy names;
//! - the platform's signature: TDX and SGX quotes with `dcap-qvl` (Intel's root, the
//!   collateral file named in the policy, the wall clock); SEV-SNP reports with `sev` (the
//!   VCEK carried in the evidence, chained to AMD's built-in ARK/ASK);
//! - the TCB status (TDX/SGX) against the statuses the policy accepts;
//! - the measurement against the policy (MRTD and RTMRs; the SNP launch measurement;
//!   MRENCLAVE or MRSIGNER with product id and minimum SVN);
//! - debug mode, refused on every kind;
//! - the report data: it must bind the key of the certificate being presented, so a real
//!   quote copied into another key's certificate is refused. TLS then proves possession of
//!   that key.
//!
//! Every check runs and is reported ([`Appraisal`]), so `umbra attest verify` prints each
//! one and a refusal names every check that failed. Evidence kind
//! [`TeeKind::InsecureTestOnly`] goes through the same certificate, verifier and policy code
//! with no hardware signature; it is accepted only where a policy names it, for tests on
//! machines without a TEE.

mod evidence;
mod policy;
mod produce;
mod verify;

pub use evidence::{EVIDENCE_OID, Evidence, MAX_EVIDENCE_BYTES, report_data_for};
pub use policy::{KNOWN_TCB_STATUSES, Policy, PolicyFile};
pub use produce::{
    ProduceOptions, attested_identity, certificate_carrying, collect_evidence, test_measurement,
};
pub use verify::{Appraisal, Check, Outcome, Rejected, Verified, appraise, appraise_certificate};

/// A trusted execution environment the dealer can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeeKind {
    /// An Intel TDX trust domain (a confidential VM): a TDX quote via configfs-tsm.
    Tdx,
    /// An AMD SEV-SNP confidential VM: an attestation report and its VCEK via configfs-tsm.
    Snp,
    /// An Intel SGX enclave under Gramine: a DCAP quote via `/dev/attestation`.
    Sgx,
    /// **Not a TEE.** Unsigned evidence (the SHA-256 of the dealer's executable as its
    /// "measurement") for tests on machines without a TEE. Anyone can forge it; a party
    /// accepts it only when the cluster file's policy names this kind.
    InsecureTestOnly,
}

impl TeeKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [TeeKind; 4] = [
        TeeKind::Tdx,
        TeeKind::Snp,
        TeeKind::Sgx,
        TeeKind::InsecureTestOnly,
    ];

    /// The name in cluster files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TeeKind::Tdx => "tdx",
            TeeKind::Snp => "snp",
            TeeKind::Sgx => "sgx",
            TeeKind::InsecureTestOnly => "insecure-test-only",
        }
    }

    /// The kind named `s`.
    ///
    /// # Errors
    /// `s` names no kind; the message lists them.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown TEE kind `{s}` (known: {})", names.join(", "))
            })
    }

    /// How a report of this kind reads in messages.
    pub fn label(self) -> &'static str {
        match self {
            TeeKind::Tdx => "Intel TDX",
            TeeKind::Snp => "AMD SEV-SNP",
            TeeKind::Sgx => "Intel SGX",
            TeeKind::InsecureTestOnly => "INSECURE test-only evidence (no TEE)",
        }
    }

    fn code(self) -> u8 {
        match self {
            TeeKind::Tdx => 1,
            TeeKind::Snp => 2,
            TeeKind::Sgx => 3,
            TeeKind::InsecureTestOnly => 0xf0,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == c)
    }
}

impl std::fmt::Display for TeeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TeeKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s)
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    crate::identity::fingerprint(bytes)
}
