//! `umbra keygen`: a key pair and certificate per member, and the cluster file that pins
//! them.

use std::path::PathBuf;

use crate::attest::PolicyFile;
use crate::cluster::{DealerPin, render_with, tls_name};
use crate::error::{Error, Result, io_err};
use crate::identity::Identity;
use crate::wire::DEALER;

/// What to generate.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    /// Number of parties.
    pub parties: usize,
    /// Whether to add a dealer.
    pub dealer: bool,
    /// An attested dealer's policy: the dealer makes its own key inside its TEE, so none
    /// is written for it and its entry holds this policy (implies `dealer`).
    pub dealer_attest: Option<PolicyFile>,
    /// `host` or `host:port` per member (parties in order, then the dealer); empty for all
    /// on 127.0.0.1.
    pub hosts: Vec<String>,
    /// The port for members whose host has none (127.0.0.1 members count up from it).
    pub base_port: u16,
    /// Output directory.
    pub out: PathBuf,
    /// Overwrite an existing cluster file.
    pub force: bool,
}

/// Writes `party-I.key/.crt` (and `dealer.key/.crt`) and `cluster.toml` into `out`; returns
/// the cluster file's path.
///
/// # Errors
/// Bad options, an existing cluster file without `force`, or unwritable files.
pub fn keygen(o: &KeygenOptions) -> Result<PathBuf> {
    let with_dealer = o.dealer || o.dealer_attest.is_some();
    if o.parties < 2 {
        return Err(Error::Config(format!(
            "a session needs at least 2 parties, got {}",
            o.parties
        )));
    }
    if o.parties > crate::cluster::MAX_CLUSTER_PARTIES {
        return Err(Error::Config(format!(
            "at most {} parties",
            crate::cluster::MAX_CLUSTER_PARTIES
        )));
    }
    let members = o.parties + usize::from(with_dealer);
    if !o.hosts.is_empty() && o.hosts.len() != members {
        return Err(Error::Config(format!(
            "--hosts lists {} hosts, but there are {members} members ({} parties{})",
            o.hosts.len(),
            o.parties,
            if with_dealer {
                " and the dealer, last"
            } else {
                ""
            }
        )));
    }
    let cluster_path = o.out.join("cluster.toml");
    if cluster_path.exists() && !o.force {
        return Err(Error::Config(format!(
            "{} exists; pass --force to replace it and its keys",
            cluster_path.display()
        )));
    }
    std::fs::create_dir_all(&o.out).map_err(io_err("key directory", &o.out))?;
    if let Some(policy) = &o.dealer_attest {
        // Checked now (the collateral path is relative to the output directory), so a
        // bad policy never reaches a party.
        crate::attest::Policy::from_file(policy.clone(), &o.out)
            .map_err(|r| Error::Config(format!("the dealer's attestation policy: {r}")))?;
    }
    let address = |i: usize| -> Result<String> {
        let port = o
            .base_port
            .checked_add(i as u16)
            .ok_or_else(|| Error::Config("ports run past 65535".into()))?;
        Ok(match o.hosts.get(i) {
            None => format!("127.0.0.1:{port}"),
            Some(h) if has_port(h) => h.clone(),
            Some(h) if h.contains(':') => format!("[{h}]:{}", o.base_port),
            Some(h) => format!("{h}:{}", o.base_port),
        })
    };
    let mut parties = Vec::with_capacity(o.parties);
    for i in 0..o.parties {
        let name = tls_name(i as u16);
        let identity = Identity::generate(&name, &[])?;
        identity.save(&o.out, &name)?;
        parties.push((address(i)?, identity.fingerprint()));
    }
    let dealer = if let Some(policy) = &o.dealer_attest {
        Some((
            address(o.parties)?,
            DealerPin::Attested(Box::new(policy.clone())),
        ))
    } else if o.dealer {
        let identity = Identity::generate(&tls_name(DEALER), &[])?;
        identity.save(&o.out, &tls_name(DEALER))?;
        Some((
            address(o.parties)?,
            DealerPin::Certificate(identity.fingerprint()),
        ))
    } else {
        None
    };
    let text = render_with(&parties, dealer.as_ref());
    std::fs::write(&cluster_path, text).map_err(io_err("cluster file", &cluster_path))?;
    Ok(cluster_path)
}

fn has_port(h: &str) -> bool {
    h.parse::<std::net::SocketAddr>().is_ok()
        || h.rsplit_once(':')
            .is_some_and(|(host, port)| !host.contains(':') && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_loadable_cluster() {
        let out = std::env::temp_dir().join(format!("umbra-keygen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let o = KeygenOptions {
            parties: 3,
            dealer: true,
            hosts: vec![
                "10.0.0.1".into(),
                "10.0.0.2:9000".into(),
                "localhost".into(),
                "127.0.0.1".into(),
            ],
            base_port: 7100,
            out: out.clone(),
            force: false,
            dealer_attest: None,
        };
        let path = keygen(&o).unwrap();
        let c = crate::Cluster::load(&path).unwrap();
        assert_eq!(c.n_parties(), 3);
        assert_eq!(c.parties[1].address, "10.0.0.2:9000");
        assert_eq!(c.parties[0].address, "10.0.0.1:7100");
        assert_eq!(c.dealer.as_ref().unwrap().address, "127.0.0.1:7100");
        let id = Identity::load(&out.join("party-2.crt"), &out.join("party-2.key")).unwrap();
        assert_eq!(Some(id.fingerprint()), c.parties[2].fingerprint());
        assert!(out.join("dealer.key").exists());
        let again = keygen(&o).unwrap_err().to_string();
        assert!(again.contains("--force"), "{again}");
        let wrong = KeygenOptions {
            hosts: vec!["a".into()],
            force: true,
            ..o
        };
        assert!(
            keygen(&wrong)
                .unwrap_err()
                .to_string()
                .contains("lists 1 hosts")
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[cfg(test)]
mod attested_tests {
    use super::*;

    #[test]
    fn an_attested_dealer_gets_a_policy_and_no_key() {
        let out = std::env::temp_dir().join(format!("umbra-keygen-att-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let policy = PolicyFile {
            tee: "insecure-test-only".into(),
            measurement: Some("cd".repeat(32)),
            ..PolicyFile::default()
        };
        let o = KeygenOptions {
            parties: 2,
            dealer: false,
            dealer_attest: Some(policy.clone()),
            hosts: vec![],
            base_port: 7300,
            out: out.clone(),
            force: false,
        };
        let path = keygen(&o).unwrap();
        assert!(!out.join("dealer.key").exists());
        let c = crate::Cluster::load(&path).unwrap();
        let d = c.dealer.as_ref().unwrap();
        assert_eq!(d.fingerprint(), None);
        assert_eq!(d.policy().unwrap().to_file(), policy);
        assert_eq!(crate::Cluster::load(&path).unwrap(), c);
        let bad = KeygenOptions {
            dealer_attest: Some(PolicyFile {
                tee: "tdx".into(),
                mrtd: Some("00".repeat(48)),
                rtmr1: Some("00".repeat(48)),
                rtmr2: Some("00".repeat(48)),
                ..PolicyFile::default()
            }),
            force: true,
            ..o
        };
        let e = keygen(&bad).unwrap_err().to_string();
        assert!(e.contains("needs `collateral`"), "{e}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
