//! Making evidence inside the TEE, and the dealer's attested identity.
//!
//! - TDX and SEV-SNP: the Linux configfs-tsm report interface (kernel 6.7+):
//!   make a directory under `/sys/kernel/config/tsm/report`, write the 64 report-data bytes
//!   to its `inblob`, read the quote or report from `outblob` (and, for SNP, the certificate
//!   table with the VCEK from `auxblob`), checking `generation` so that a concurrent writer
//!   cannot swap the request.
//! - SGX under Gramine: write `/dev/attestation/user_report_data`, read
//!   `/dev/attestation/quote`.
//! - Test-only: no platform; the measurement is the SHA-256 of this executable.

use std::path::{Path, PathBuf};

use super::evidence::{EVIDENCE_OID, Evidence, report_data_for};
use super::{TeeKind, sha256};
use crate::error::{Error, Result};
use crate::identity::Identity;

/// Where the platform interfaces are (the defaults are the real ones; tests point them
/// elsewhere) and what to add to them.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// The configfs-tsm report directory.
    pub tsm_report: PathBuf,
    /// Gramine's attestation pseudo-files.
    pub gramine: PathBuf,
    /// SEV-SNP: the VCEK certificate (DER or PEM) when the host gives no certificate table.
    pub vcek: Option<PathBuf>,
    /// Test-only evidence: the measurement to claim (default: SHA-256 of this executable).
    pub test_measurement: Option<[u8; 32]>,
}

impl Default for ProduceOptions {
    fn default() -> Self {
        Self {
            tsm_report: PathBuf::from("/sys/kernel/config/tsm/report"),
            gramine: PathBuf::from("/dev/attestation"),
            vcek: None,
            test_measurement: None,
        }
    }
}

/// The test-only measurement of this process: SHA-256 of its executable.
///
/// # Errors
/// The executable cannot be read.
pub fn test_measurement() -> Result<[u8; 32]> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Config(format!("locating this executable: {e}")))?;
    let bytes = std::fs::read(&exe).map_err(crate::error::io_err("executable", &exe))?;
    Ok(sha256(&bytes))
}

fn attest_err(kind: TeeKind, what: String) -> Error {
    Error::Config(format!("--attest {kind}: {what}"))
}

/// Asks the platform for `kind` evidence carrying `report_data`.
///
/// # Errors
/// The platform interface is not there (not inside that TEE) or fails; the message names
/// the interface and what to check.
pub fn collect_evidence(
    kind: TeeKind,
    report_data: &[u8; 64],
    o: &ProduceOptions,
) -> Result<Evidence> {
    match kind {
        TeeKind::Tdx | TeeKind::Snp => tsm_report(kind, report_data, o),
        TeeKind::Sgx => gramine(report_data, o),
        TeeKind::InsecureTestOnly => Ok(Evidence::InsecureTestOnly {
            measurement: match o.test_measurement {
                Some(m) => m,
                None => test_measurement()?,
            },
            report_data: *report_data,
        }),
    }
}

fn tsm_report(kind: TeeKind, report_data: &[u8; 64], o: &ProduceOptions) -> Result<Evidence> {
    let root = &o.tsm_report;
    if !root.is_dir() {
        return Err(attest_err(
            kind,
            format!(
                "the configfs-tsm report interface {} is not there: run the dealer inside a {} guest \
                 on Linux 6.7 or later, with configfs mounted (mount -t configfs none /sys/kernel/config)",
                root.display(),
                kind.label()
            ),
        ));
    }
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).map_err(|e| Error::Config(format!("os randomness: {e}")))?;
    let dir = root.join(format!("umbra-{}", crate::wire::hex(&tag)));
    std::fs::create_dir(&dir).map_err(|e| {
        attest_err(
            kind,
            format!("creating the report entry {}: {e}", dir.display()),
        )
    })?;
    let result = (|| {
        let path = |f: &str| dir.join(f);
        let read = |f: &str| {
            std::fs::read(path(f))
                .map_err(|e| attest_err(kind, format!("reading {}: {e}", path(f).display())))
        };
        let provider = String::from_utf8_lossy(&read("provider")?)
            .trim()
            .to_owned();
        let want = if kind == TeeKind::Tdx {
            "tdx_guest"
        } else {
            "sev_guest"
        };
        if provider != want {
            return Err(attest_err(
                kind,
                format!(
                    "this guest's report provider is `{provider}`, not `{want}`: it is not a {} guest",
                    kind.label()
                ),
            ));
        }
        // `generation` counts the writes to the entry: exactly ours between the two reads
        // around the write, and none while the report is read.
        let generation = || -> Result<u64> {
            let text = read("generation")?;
            String::from_utf8_lossy(&text).trim().parse().map_err(|_| {
                attest_err(
                    kind,
                    format!("{} does not hold a number", path("generation").display()),
                )
            })
        };
        let before = generation()?;
        std::fs::write(path("inblob"), report_data)
            .map_err(|e| attest_err(kind, format!("writing {}: {e}", path("inblob").display())))?;
        let written = generation()?;
        let out = read("outblob")?;
        let aux = if kind == TeeKind::Snp {
            read("auxblob").ok()
        } else {
            None
        };
        if written != before + 1 || generation()? != written {
            return Err(attest_err(
                kind,
                "another writer changed the report request while it was made; try again".into(),
            ));
        }
        if out.is_empty() {
            return Err(attest_err(
                kind,
                "the platform returned an empty report".into(),
            ));
        }
        Ok(match kind {
            TeeKind::Tdx => Evidence::Tdx { quote: out },
            _ => {
                let vcek = match aux.as_deref().and_then(vcek_from_cert_table) {
                    Some(v) => v,
                    None => read_vcek(kind, o.vcek.as_deref())?,
                };
                Evidence::Snp { report: out, vcek }
            }
        })
    })();
    let _ = std::fs::remove_dir(&dir);
    result
}

/// The VCEK in an SNP certificate table (GUID, offset, length entries, all-zero last).
fn vcek_from_cert_table(table: &[u8]) -> Option<Vec<u8>> {
    // 63da758d-e664-4564-adc5-f4b93be8accd in the table's (little-endian GUID) byte order.
    const VCEK: [u8; 16] = [
        0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ];
    for entry in table.chunks_exact(24) {
        let (guid, rest) = entry.split_at(16);
        if guid.iter().all(|&b| b == 0) {
            return None;
        }
        if guid == VCEK {
            let off = u32::from_le_bytes(rest[..4].try_into().ok()?) as usize;
            let len = u32::from_le_bytes(rest[4..].try_into().ok()?) as usize;
            return table.get(off..off.checked_add(len)?).map(<[u8]>::to_vec);
        }
    }
    None
}

fn read_vcek(kind: TeeKind, path: Option<&Path>) -> Result<Vec<u8>> {
    let path = path.ok_or_else(|| {
        attest_err(
            kind,
            "the host gave no certificate table with the VCEK (auxblob); fetch this chip's VCEK \
             from AMD's KDS and pass it with --vcek FILE"
                .into(),
        )
    })?;
    let bytes = std::fs::read(path).map_err(crate::error::io_err("VCEK certificate", path))?;
    if bytes.starts_with(b"-----BEGIN") {
        let p = pem::parse(&bytes)
            .map_err(|e| attest_err(kind, format!("VCEK {}: {e}", path.display())))?;
        Ok(p.into_contents())
    } else {
        Ok(bytes)
    }
}

fn gramine(report_data: &[u8; 64], o: &ProduceOptions) -> Result<Evidence> {
    let kind = TeeKind::Sgx;
    let root = &o.gramine;
    let kind_file = root.join("attestation_type");
    let Ok(kind_text) = std::fs::read_to_string(&kind_file) else {
        return Err(attest_err(
            kind,
            format!(
                "Gramine's attestation interface {} is not there: run the dealer under gramine-sgx \
                 with `sgx.remote_attestation = \"dcap\"` in its manifest",
                root.display()
            ),
        ));
    };
    if kind_text.trim() != "dcap" {
        return Err(attest_err(
            kind,
            format!(
                "Gramine's attestation type is `{}`, not `dcap`: set sgx.remote_attestation = \"dcap\"",
                kind_text.trim()
            ),
        ));
    }
    let urd = root.join("user_report_data");
    std::fs::write(&urd, report_data)
        .map_err(|e| attest_err(kind, format!("writing {}: {e}", urd.display())))?;
    let qpath = root.join("quote");
    let quote = std::fs::read(&qpath)
        .map_err(|e| attest_err(kind, format!("reading {}: {e}", qpath.display())))?;
    Ok(Evidence::Sgx { quote })
}

/// The dealer's identity inside a TEE: a fresh P-256 key (in memory only), evidence whose
/// report data binds it, and a self-signed certificate naming `dealer` that carries the
/// evidence. Returns the evidence too, for `umbra dealer --print-evidence`.
///
/// # Errors
/// As [`collect_evidence`], or the certificate could not be made.
pub fn attested_identity(kind: TeeKind, o: &ProduceOptions) -> Result<(Identity, Evidence)> {
    let key_err = |e: rcgen::Error| Error::Key(format!("making the attested dealer's key: {e}"));
    let key = rcgen::KeyPair::generate().map_err(key_err)?;
    let evidence = collect_evidence(
        kind,
        &report_data_for(&rcgen::PublicKeyData::subject_public_key_info(&key)),
        o,
    )?;
    let mut params = rcgen::CertificateParams::new(vec!["dealer".to_owned()]).map_err(key_err)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            EVIDENCE_OID,
            evidence.encode(),
        ));
    let cert = params.self_signed(&key).map_err(key_err)?;
    let identity = Identity::from_der(cert.der().to_vec(), key.serialize_der());
    Ok((identity, evidence))
}

/// A fresh key and a self-signed `dealer` certificate whose evidence extension holds
/// `extension_value` as given: for tests and tooling (a real quote in another key's
/// certificate, a malformed extension). Its evidence binds no key unless it was made for
/// this one, which it cannot have been.
///
/// # Errors
/// The certificate could not be made.
pub fn certificate_carrying(extension_value: Vec<u8>) -> Result<Identity> {
    let key_err = |e: rcgen::Error| Error::Key(format!("making a certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(key_err)?;
    let mut params = rcgen::CertificateParams::new(vec!["dealer".to_owned()]).map_err(key_err)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            EVIDENCE_OID,
            extension_value,
        ));
    let cert = params.self_signed(&key).map_err(key_err)?;
    Ok(Identity::from_der(cert.der().to_vec(), key.serialize_der()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_platform_interface_is_named() {
        let o = ProduceOptions {
            tsm_report: PathBuf::from("/nonexistent/tsm/report"),
            gramine: PathBuf::from("/nonexistent/attestation"),
            ..ProduceOptions::default()
        };
        let rd = [0u8; 64];
        for kind in [TeeKind::Tdx, TeeKind::Snp] {
            let e = collect_evidence(kind, &rd, &o).unwrap_err().to_string();
            assert!(
                e.contains("configfs-tsm") && e.contains("/nonexistent/tsm/report"),
                "{e}"
            );
        }
        let e = collect_evidence(TeeKind::Sgx, &rd, &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Gramine") && e.contains("/nonexistent/attestation"),
            "{e}"
        );
    }

    #[test]
    fn the_vcek_is_found_in_a_certificate_table() {
        let mut t = Vec::new();
        t.extend_from_slice(&[1; 16]);
        t.extend_from_slice(&72u32.to_le_bytes());
        t.extend_from_slice(&2u32.to_le_bytes());
        t.extend_from_slice(&[
            0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8,
            0xac, 0xcd,
        ]);
        t.extend_from_slice(&74u32.to_le_bytes());
        t.extend_from_slice(&3u32.to_le_bytes());
        t.extend_from_slice(&[0; 24]);
        t.extend_from_slice(&[9, 9, 7, 7, 7]);
        assert_eq!(vcek_from_cert_table(&t), Some(vec![7, 7, 7]));
        assert_eq!(vcek_from_cert_table(&t[..48]), None);
        let mut past = t.clone();
        past[40] = 200;
        assert_eq!(vcek_from_cert_table(&past), None);
    }
}
