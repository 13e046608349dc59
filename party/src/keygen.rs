//! `umbra keygen`: a key pair and certificate per member, and the cluster file that pins
//! them.

use std::path::PathBuf;

use crate::cluster::{render, tls_name};
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
    let members = o.parties + usize::from(o.dealer);
    if !o.hosts.is_empty() && o.hosts.len() != members {
        return Err(Error::Config(format!(
            "--hosts lists {} hosts, but there are {members} members ({} parties{})",
            o.hosts.len(),
            o.parties,
            if o.dealer {
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
    for i in 0..members {
        let id = if i < o.parties { i as u16 } else { DEALER };
        let name = tls_name(id);
        let identity = Identity::generate(&name, &[])?;
        identity.save(&o.out, &name)?;
        parties.push((address(i)?, identity.fingerprint()));
    }
    let dealer = o.dealer.then(|| parties.pop().expect("the dealer is last"));
    let text = render(&parties, dealer.as_ref());
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
        };
        let path = keygen(&o).unwrap();
        let c = crate::Cluster::load(&path).unwrap();
        assert_eq!(c.n_parties(), 3);
        assert_eq!(c.parties[1].address, "10.0.0.2:9000");
        assert_eq!(c.parties[0].address, "10.0.0.1:7100");
        assert_eq!(c.dealer.as_ref().unwrap().address, "127.0.0.1:7100");
        let id = Identity::load(&out.join("party-2.crt"), &out.join("party-2.key")).unwrap();
        assert_eq!(id.fingerprint(), c.parties[2].fingerprint);
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
