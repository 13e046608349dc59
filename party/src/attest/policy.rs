//! What a party accepts from an attested dealer: the `[dealer.attest]` table of the cluster
//! file.
//!
//! ```toml
//! [dealer]
//! address = "10.0.0.3:7100"
//!
//! [dealer.attest]
//! tee = "tdx"                       # tdx | snp | sgx | insecure-test-only
//! mrtd = "91eb2b44…"                # 48 bytes in hex: the TD's firmware
//! rtmr1 = "0084452c…"               # required: kernel (and UKI: initrd, command line)
//! rtmr2 = "d833feef…"               # required: command line, initrd; rtmr0, rtmr3 optional
//! tcb_statuses = ["UpToDate"]       # TDX/SGX: the statuses accepted (default UpToDate)
//! collateral = "collateral.json"    # TDX/SGX: Intel's collateral, beside the cluster file
//! ```
//!
//! A TDX policy must pin RTMR1 and RTMR2 as well as MRTD: MRTD measures only the TD's
//! firmware, and the kernel, initrd and command line (with a dm-verity root hash, the
//! dealer's binary) are measured into those two.
//!
//! SEV-SNP takes `measurement` (48 bytes), optionally `min_tcb = [bootloader, tee, snp,
//! microcode]` (the lowest reported TCB accepted) and `vmpl` (the VMPL the report must come
//! from, default 0); a guest policy that allows a migration agent is refused. SGX `mrenclave` and/or `mrsigner` (32 bytes;
//! `mrsigner` needs `isv_prod_id`), and `min_isv_svn`; the test-only kind `measurement`
//! (32 bytes: SHA-256 of the dealer's executable). Debug mode is refused on every kind.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TeeKind;
use crate::wire::unhex;

/// The TCB statuses Intel's collateral can give (dcap-qvl's names). `Revoked` is never
/// accepted.
pub const KNOWN_TCB_STATUSES: &[&str] = &[
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
];

/// The policy as written in the cluster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `tdx`, `snp`, `sgx` or `insecure-test-only`.
    pub tee: String,
    /// SEV-SNP launch measurement (48 bytes) or the test-only measurement (32 bytes), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    /// TDX: MRTD, hex (48 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrtd: Option<String>,
    /// TDX: RTMR0, hex (48 bytes), if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr0: Option<String>,
    /// TDX: RTMR1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr1: Option<String>,
    /// TDX: RTMR2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr2: Option<String>,
    /// TDX: RTMR3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr3: Option<String>,
    /// SEV-SNP: the lowest reported TCB accepted, `[bootloader, tee, snp, microcode]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tcb: Option<[u8; 4]>,
    /// SEV-SNP: the VMPL the report must be requested from (default 0, the most privileged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmpl: Option<u32>,
    /// SGX: MRENCLAVE, hex (32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrenclave: Option<String>,
    /// SGX: MRSIGNER, hex (32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrsigner: Option<String>,
    /// SGX: the enclave's product id (required with `mrsigner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isv_prod_id: Option<u16>,
    /// SGX: the lowest security version accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_isv_svn: Option<u16>,
    /// TDX/SGX: the TCB statuses accepted (default `["UpToDate"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcb_statuses: Option<Vec<String>>,
    /// TDX/SGX: the collateral file (JSON, as dcap-qvl and Intel's PCS give it), relative
    /// to the cluster file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<String>,
}

/// What the measurement must be, per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    Tdx {
        mrtd: [u8; 48],
        rtmr: [Option<[u8; 48]>; 4],
    },
    Snp {
        measurement: [u8; 48],
        min_tcb: Option<[u8; 4]>,
        vmpl: u32,
    },
    Sgx {
        mrenclave: Option<[u8; 32]>,
        mrsigner: Option<[u8; 32]>,
        isv_prod_id: Option<u16>,
        min_isv_svn: u16,
    },
    Test {
        measurement: [u8; 32],
    },
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The TEE kind the dealer must run in.
    pub tee: TeeKind,
    pub(crate) expect: Expect,
    /// TDX/SGX: the TCB statuses accepted.
    pub tcb_statuses: Vec<String>,
    /// TDX/SGX: Intel's collateral, read when the cluster file was loaded.
    pub(crate) collateral: Option<dcap_qvl::QuoteCollateralV3>,
    file: PolicyFile,
}

fn bytes<const N: usize>(
    field: &str,
    v: &Option<String>,
) -> std::result::Result<Option<[u8; N]>, String> {
    v.as_ref()
        .map(|h| unhex::<N>(h).map_err(|r| format!("`{field}`: {r}")))
        .transpose()
}

impl Policy {
    /// Checks a policy as written; `dir` is the cluster file's directory (the collateral
    /// path is relative to it).
    ///
    /// # Errors
    /// A field missing for the kind, present for another kind, of the wrong size, an
    /// unknown TCB status, or a collateral file that cannot be read or parsed.
    pub fn from_file(file: PolicyFile, dir: &Path) -> std::result::Result<Self, String> {
        let tee = TeeKind::parse(&file.tee)?;
        let f = &file;
        let allowed: &[&str] = match tee {
            TeeKind::Tdx => &[
                "mrtd",
                "rtmr0",
                "rtmr1",
                "rtmr2",
                "rtmr3",
                "tcb_statuses",
                "collateral",
            ],
            TeeKind::Snp => &["measurement", "min_tcb", "vmpl"],
            TeeKind::Sgx => &[
                "mrenclave",
                "mrsigner",
                "isv_prod_id",
                "min_isv_svn",
                "tcb_statuses",
                "collateral",
            ],
            TeeKind::InsecureTestOnly => &["measurement"],
        };
        let present = [
            ("measurement", f.measurement.is_some()),
            ("mrtd", f.mrtd.is_some()),
            ("rtmr0", f.rtmr0.is_some()),
            ("rtmr1", f.rtmr1.is_some()),
            ("rtmr2", f.rtmr2.is_some()),
            ("rtmr3", f.rtmr3.is_some()),
            ("min_tcb", f.min_tcb.is_some()),
            ("vmpl", f.vmpl.is_some()),
            ("mrenclave", f.mrenclave.is_some()),
            ("mrsigner", f.mrsigner.is_some()),
            ("isv_prod_id", f.isv_prod_id.is_some()),
            ("min_isv_svn", f.min_isv_svn.is_some()),
            ("tcb_statuses", f.tcb_statuses.is_some()),
            ("collateral", f.collateral.is_some()),
        ];
        if let Some((name, _)) = present.iter().find(|(n, p)| *p && !allowed.contains(n)) {
            return Err(format!("`{name}` does not apply to a {tee} dealer"));
        }
        let need = |field: &str| format!("a {tee} policy needs `{field}`");
        let expect = match tee {
            TeeKind::Tdx => Expect::Tdx {
                mrtd: bytes("mrtd", &f.mrtd)?.ok_or_else(|| need("mrtd"))?,
                rtmr: {
                    let rtmr = [
                        bytes("rtmr0", &f.rtmr0)?,
                        bytes("rtmr1", &f.rtmr1)?,
                        bytes("rtmr2", &f.rtmr2)?,
                        bytes("rtmr3", &f.rtmr3)?,
                    ];
                    if rtmr[1].is_none() || rtmr[2].is_none() {
                        return Err(format!(
                            "{} (MRTD measures only the firmware; the kernel, initrd and command line that hold the dealer are measured into RTMR1 and RTMR2)",
                            need("rtmr1` and `rtmr2")
                        ));
                    }
                    rtmr
                },
            },
            TeeKind::Snp => {
                let vmpl = f.vmpl.unwrap_or(0);
                if vmpl > 3 {
                    return Err(format!("`vmpl` is {vmpl}; SEV-SNP has VMPLs 0 to 3"));
                }
                Expect::Snp {
                    measurement: bytes("measurement", &f.measurement)?
                        .ok_or_else(|| need("measurement"))?,
                    min_tcb: f.min_tcb,
                    vmpl,
                }
            }
            TeeKind::Sgx => {
                let mrenclave = bytes("mrenclave", &f.mrenclave)?;
                let mrsigner = bytes("mrsigner", &f.mrsigner)?;
                if mrenclave.is_none() && mrsigner.is_none() {
                    return Err(need("mrenclave or mrsigner"));
                }
                if mrsigner.is_some() && f.isv_prod_id.is_none() {
                    return Err("an sgx policy that pins `mrsigner` needs `isv_prod_id` (a signer signs many enclaves)".into());
                }
                Expect::Sgx {
                    mrenclave,
                    mrsigner,
                    isv_prod_id: f.isv_prod_id,
                    min_isv_svn: f.min_isv_svn.unwrap_or(0),
                }
            }
            TeeKind::InsecureTestOnly => Expect::Test {
                measurement: bytes("measurement", &f.measurement)?
                    .ok_or_else(|| need("measurement"))?,
            },
        };
        let intel = matches!(tee, TeeKind::Tdx | TeeKind::Sgx);
        let tcb_statuses = f.tcb_statuses.clone().unwrap_or_else(|| {
            if intel {
                vec!["UpToDate".into()]
            } else {
                vec![]
            }
        });
        if intel && tcb_statuses.is_empty() {
            return Err("`tcb_statuses` is empty: no quote could pass".into());
        }
        for s in &tcb_statuses {
            if s == "Revoked" {
                return Err("`tcb_statuses` lists Revoked, which is never accepted".into());
            }
            if !KNOWN_TCB_STATUSES.contains(&s.as_str()) {
                return Err(format!(
                    "`tcb_statuses` lists unknown status `{s}` (known: {})",
                    KNOWN_TCB_STATUSES.join(", ")
                ));
            }
        }
        let collateral = if intel {
            let name = f.collateral.as_ref().ok_or_else(|| need("collateral"))?;
            let path = dir.join(name);
            let text = std::fs::read(&path)
                .map_err(|e| format!("collateral file {}: {e}", path.display()))?;
            Some(
                serde_json::from_slice(&text)
                    .map_err(|e| format!("collateral file {}: {e}", path.display()))?,
            )
        } else {
            None
        };
        Ok(Self {
            tee,
            expect,
            tcb_statuses,
            collateral,
            file,
        })
    }

    /// The policy as written (for rewriting the cluster file).
    pub fn to_file(&self) -> PolicyFile {
        self.file.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_policy(measurement: &str) -> PolicyFile {
        PolicyFile {
            tee: "insecure-test-only".into(),
            measurement: Some(measurement.into()),
            ..PolicyFile::default()
        }
    }

    #[test]
    fn policies_are_checked_per_kind() {
        let dir = Path::new(".");
        let ok = Policy::from_file(test_policy(&"ab".repeat(32)), dir).unwrap();
        assert_eq!(ok.tee, TeeKind::InsecureTestOnly);
        let err = |f: PolicyFile| Policy::from_file(f, dir).unwrap_err();
        assert!(err(test_policy("abcd")).contains("`measurement`"));
        let mut wrong = test_policy(&"ab".repeat(32));
        wrong.mrtd = Some("00".repeat(48));
        assert!(err(wrong).contains("`mrtd` does not apply"));
        let mut tdx = PolicyFile {
            tee: "tdx".into(),
            mrtd: Some("00".repeat(48)),
            ..PolicyFile::default()
        };
        assert!(err(tdx.clone()).contains("needs `rtmr1` and `rtmr2`"));
        tdx.rtmr1 = Some("00".repeat(48));
        tdx.rtmr2 = Some("00".repeat(48));
        assert!(err(tdx.clone()).contains("needs `collateral`"));
        let revoked = PolicyFile {
            tcb_statuses: Some(vec!["Revoked".into()]),
            ..tdx.clone()
        };
        assert!(err(revoked).contains("never accepted"));
        let typo = PolicyFile {
            tcb_statuses: Some(vec!["UptoDate".into()]),
            ..tdx.clone()
        };
        assert!(err(typo).contains("unknown status `UptoDate`"));
        let missing = PolicyFile {
            collateral: Some("no-such-collateral.json".into()),
            ..tdx
        };
        assert!(err(missing).contains("no-such-collateral.json"));
        let sgx = PolicyFile {
            tee: "sgx".into(),
            mrsigner: Some("00".repeat(32)),
            ..PolicyFile::default()
        };
        assert!(err(sgx).contains("isv_prod_id"));
        let snp = PolicyFile {
            tee: "snp".into(),
            measurement: Some("00".repeat(48)),
            vmpl: Some(4),
            ..PolicyFile::default()
        };
        assert!(err(snp).contains("VMPLs 0 to 3"));
        assert!(
            err(PolicyFile {
                tee: "tdz".into(),
                ..PolicyFile::default()
            })
            .contains("unknown TEE kind")
        );
    }
}
