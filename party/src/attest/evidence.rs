//! The evidence format and its certificate extension.
//!
//! Extension value (the `extnValue` octets, umbra's own format, version 1):
//! `"UMBRAEV1"`, one byte TEE kind, one byte count of blobs, then each blob as a u32
//! little-endian length and its bytes; nothing may follow. The blobs are the quote (TDX,
//! SGX), the report and the VCEK certificate in DER (SEV-SNP), or the 32-byte measurement
//! and 64-byte report data (test-only evidence).

use x509_cert::der::{Decode, Encode};

use super::{TeeKind, sha256};

/// The extension's OID: an arc of umbra's own under the UUID arc `2.25` (ITU-T X.667).
/// The evidence inside is umbra's format, not Gramine's or TCG DICE's.
pub const EVIDENCE_OID: &[u64] = &[2, 25, 3_149_318_765];

/// The largest extension value accepted (a TDX quote with its PCK chain is about 5 KB;
/// a TLS certificate message must stay below 64 KiB).
pub const MAX_EVIDENCE_BYTES: usize = 32 * 1024;

const MAGIC: &[u8; 8] = b"UMBRAEV1";

/// What a TEE says about the dealer, as carried in its certificate.
#[derive(Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A TDX quote (version 4 or 5), PCK certificate chain included.
    Tdx {
        /// The quote as the platform made it.
        quote: Vec<u8>,
    },
    /// An SEV-SNP attestation report and the VCEK certificate that signed it.
    Snp {
        /// The 1184-byte report.
        report: Vec<u8>,
        /// The chip's VCEK certificate, DER.
        vcek: Vec<u8>,
    },
    /// An SGX DCAP quote (version 3), PCK certificate chain included.
    Sgx {
        /// The quote as the platform made it.
        quote: Vec<u8>,
    },
    /// **Insecure**, unsigned test evidence: see [`TeeKind::InsecureTestOnly`].
    InsecureTestOnly {
        /// SHA-256 of the dealer's executable (or what the test chose).
        measurement: [u8; 32],
        /// The report data.
        report_data: [u8; 64],
    },
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Evidence({}, {} bytes)",
            self.kind(),
            self.encode().len()
        )
    }
}

/// The report data that binds a TLS key: `SHA-256(SubjectPublicKeyInfo DER) ‖ 0^32`.
pub fn report_data_for(spki_der: &[u8]) -> [u8; 64] {
    let mut rd = [0u8; 64];
    rd[..32].copy_from_slice(&sha256(spki_der));
    rd
}

impl Evidence {
    /// Its TEE kind.
    pub fn kind(&self) -> TeeKind {
        match self {
            Evidence::Tdx { .. } => TeeKind::Tdx,
            Evidence::Snp { .. } => TeeKind::Snp,
            Evidence::Sgx { .. } => TeeKind::Sgx,
            Evidence::InsecureTestOnly { .. } => TeeKind::InsecureTestOnly,
        }
    }

    fn blobs(&self) -> Vec<&[u8]> {
        match self {
            Evidence::Tdx { quote } | Evidence::Sgx { quote } => vec![quote],
            Evidence::Snp { report, vcek } => vec![report, vcek],
            Evidence::InsecureTestOnly {
                measurement,
                report_data,
            } => vec![measurement, report_data],
        }
    }

    /// The measurement fields an operator pins for this evidence, as `[dealer.attest]`
    /// lines of a cluster file (what `umbra dealer --print-evidence` prints). The fields
    /// are read without checking the signature: pin them only from evidence made on a
    /// machine you control, or verify it first (`umbra attest verify`).
    pub fn policy_lines(&self) -> Vec<String> {
        use crate::wire::hex;
        let bad = |what: &str| vec![format!("# the {what} does not parse")];
        match self {
            Evidence::Tdx { quote } | Evidence::Sgx { quote } => {
                match dcap_qvl::quote::Quote::parse(quote).map(|q| q.report) {
                    Ok(dcap_qvl::quote::Report::SgxEnclave(r)) => vec![
                        format!("mrenclave = \"{}\"", hex(&r.mr_enclave)),
                        format!("mrsigner = \"{}\"", hex(&r.mr_signer)),
                        format!("isv_prod_id = {}", r.isv_prod_id),
                        format!("min_isv_svn = {}", r.isv_svn),
                    ],
                    Ok(r) => {
                        let r = r.as_td10().expect("every other report is a TD report");
                        vec![
                            format!("mrtd = \"{}\"", hex(&r.mr_td)),
                            format!("rtmr0 = \"{}\"", hex(&r.rt_mr0)),
                            format!("rtmr1 = \"{}\"", hex(&r.rt_mr1)),
                            format!("rtmr2 = \"{}\"", hex(&r.rt_mr2)),
                            format!("rtmr3 = \"{}\"", hex(&r.rt_mr3)),
                        ]
                    }
                    Err(_) => bad("quote"),
                }
            }
            Evidence::Snp { report, .. } => {
                use sev::parser::ByteParser;
                match sev::firmware::guest::AttestationReport::from_bytes(report) {
                    Ok(r) => {
                        let t = &r.reported_tcb;
                        vec![
                            format!("measurement = \"{}\"", hex(&r.measurement)),
                            format!(
                                "min_tcb = [{}, {}, {}, {}]",
                                t.bootloader, t.tee, t.snp, t.microcode
                            ),
                            format!("vmpl = {}", r.vmpl),
                        ]
                    }
                    Err(_) => bad("report"),
                }
            }
            Evidence::InsecureTestOnly { measurement, .. } => {
                vec![format!("measurement = \"{}\"", hex(measurement))]
            }
        }
    }

    /// The extension value.
    pub fn encode(&self) -> Vec<u8> {
        let blobs = self.blobs();
        let mut out = MAGIC.to_vec();
        out.push(self.kind().code());
        out.push(blobs.len() as u8);
        for b in blobs {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    /// Parses an extension value.
    ///
    /// # Errors
    /// Oversized, truncated, trailing bytes, an unknown kind or the wrong number or size of
    /// blobs; the message says which.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(format!(
                "the evidence is {} bytes; at most {MAX_EVIDENCE_BYTES} are accepted",
                bytes.len()
            ));
        }
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err("the evidence does not start with UMBRAEV1 (not umbra evidence, or another version)".into());
        };
        let [code, count, rest @ ..] = rest else {
            return Err("the evidence is truncated in its header".into());
        };
        let kind = TeeKind::from_code(*code)
            .ok_or_else(|| format!("the evidence names unknown TEE kind code {code:#04x}"))?;
        let mut rest = rest;
        let mut blobs = Vec::with_capacity(usize::from(*count));
        for i in 0..*count {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(format!(
                    "the evidence is truncated at the length of blob {i}"
                ));
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len > tail.len() {
                return Err(format!(
                    "the evidence is truncated: blob {i} says {len} bytes but {} remain",
                    tail.len()
                ));
            }
            blobs.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        if !rest.is_empty() {
            return Err(format!(
                "the evidence has {} bytes after its last blob",
                rest.len()
            ));
        }
        let want = if kind == TeeKind::Snp || kind == TeeKind::InsecureTestOnly {
            2
        } else {
            1
        };
        if blobs.len() != want {
            return Err(format!(
                "{kind} evidence carries {want} blobs, this one {}",
                blobs.len()
            ));
        }
        let mut blobs = blobs.into_iter();
        let mut next = || blobs.next().expect("count checked");
        Ok(match kind {
            TeeKind::Tdx => Evidence::Tdx { quote: next() },
            TeeKind::Sgx => Evidence::Sgx { quote: next() },
            TeeKind::Snp => Evidence::Snp {
                report: next(),
                vcek: next(),
            },
            TeeKind::InsecureTestOnly => {
                let (m, rd) = (next(), next());
                Evidence::InsecureTestOnly {
                    measurement: m.try_into().map_err(|m: Vec<u8>| {
                        format!("test evidence: measurement of {} bytes, not 32", m.len())
                    })?,
                    report_data: rd.try_into().map_err(|r: Vec<u8>| {
                        format!("test evidence: report data of {} bytes, not 64", r.len())
                    })?,
                }
            }
        })
    }

    /// The evidence in a certificate (DER) and the certificate's SubjectPublicKeyInfo (DER).
    ///
    /// # Errors
    /// The certificate does not parse, carries no evidence extension, carries two, or the
    /// evidence does not decode.
    pub fn from_certificate(cert_der: &[u8]) -> std::result::Result<(Self, Vec<u8>), String> {
        let cert = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("the certificate's public key: {e}"))?;
        let oid = oid_content(EVIDENCE_OID);
        let mut found = tbs
            .extensions()
            .into_iter()
            .flatten()
            .filter(|e| e.extn_id.as_bytes() == oid.as_slice());
        let ext = found.next().ok_or(
            "the certificate carries no umbra evidence extension (is the dealer running with --attest?)",
        )?;
        if found.next().is_some() {
            return Err("the certificate carries two evidence extensions".into());
        }
        Ok((Self::decode(ext.extn_value.as_bytes())?, spki))
    }
}

/// The content octets of an OID's DER encoding (arcs after the first two in base 128).
fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut groups = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            groups.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_evidence() -> Evidence {
        Evidence::InsecureTestOnly {
            measurement: [7; 32],
            report_data: [9; 64],
        }
    }

    #[test]
    fn evidence_round_trips_and_bad_framing_is_named() {
        for e in [
            test_evidence(),
            Evidence::Tdx {
                quote: vec![1, 2, 3],
            },
            Evidence::Snp {
                report: vec![4; 10],
                vcek: vec![5; 3],
            },
        ] {
            assert_eq!(Evidence::decode(&e.encode()).unwrap(), e);
        }
        let good = test_evidence().encode();
        let err = |b: &[u8]| Evidence::decode(b).unwrap_err();
        assert!(err(&good[..good.len() - 1]).contains("truncated"));
        assert!(err(&good[..9]).contains("truncated in its header"));
        assert!(err(&[good.clone(), vec![0]].concat()).contains("after its last blob"));
        assert!(err(&vec![0; MAX_EVIDENCE_BYTES + 1]).contains("at most"));
        assert!(err(b"GRAMINE!xx").contains("UMBRAEV1"));
        let mut unknown = good.clone();
        unknown[8] = 0x77;
        assert!(err(&unknown).contains("unknown TEE kind"));
        let mut one = good.clone();
        one[9] = 1;
        assert!(err(&one).contains("after its last blob"));
    }

    #[test]
    fn the_oid_encodes_as_der_does() {
        // 2.25 is one byte (105); 3149318765 in base 128 is five groups.
        let c = oid_content(EVIDENCE_OID);
        assert_eq!(c[0], 105);
        assert_eq!(c.len(), 6);
        let parsed = x509_cert::der::asn1::ObjectIdentifier::new("2.25.3149318765").unwrap();
        assert_eq!(parsed.as_bytes(), c.as_slice());
    }
}
