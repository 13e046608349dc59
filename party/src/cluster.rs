//! The cluster file: who is in a deployment, where they listen, and which certificate each
//! must present.
//!
//! ```toml
//! # written by `umbra keygen`
//! [[party]]
//! id = 0
//! address = "10.0.0.1:7100"
//! fingerprint = "5f1c…"   # SHA-256 of party 0's certificate (DER), 64 hex digits
//!
//! [[party]]
//! id = 1
//! address = "10.0.0.2:7100"
//! fingerprint = "a93e…"
//!
//! [dealer]              # optional: the trusted dealer service
//! address = "10.0.0.3:7100"
//! fingerprint = "0c77…"
//! ```
//!
//! Every member pins every other member's certificate by this fingerprint; there is no
//! certificate authority to trust. Rotating a key means distributing a new cluster file.
//!
//! An attested dealer makes a fresh key inside its TEE at every start, so it has no
//! fingerprint: its entry holds an `[dealer.attest]` policy instead (`crate::attest`), and
//! each party accepts the certificate whose evidence passes it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::attest::{Policy, PolicyFile};
use crate::error::{Error, Result, io_err};
use crate::wire::{DEALER, hex, node_name, unhex};

/// How a member's certificate is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// By the SHA-256 of its certificate.
    Certificate([u8; 32]),
    /// By TEE evidence in its certificate that passes this policy (the dealer only).
    Attested(Arc<Policy>),
}

/// One member of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node id: the party index, or [`DEALER`].
    pub id: u16,
    /// Where it listens, as written in the file.
    pub address: String,
    /// Where it listens, resolved.
    pub addr: SocketAddr,
    /// How its certificate is recognised.
    pub pin: Pin,
}

impl Member {
    /// The name it carries in its certificate and in TLS server names: `party-3`, `dealer`.
    pub fn tls_name(&self) -> String {
        tls_name(self.id)
    }

    /// The pinned certificate's SHA-256 (`None` for an attested dealer).
    pub fn fingerprint(&self) -> Option<[u8; 32]> {
        match &self.pin {
            Pin::Certificate(fp) => Some(*fp),
            Pin::Attested(_) => None,
        }
    }

    /// The attestation policy (an attested dealer's entry only).
    pub fn policy(&self) -> Option<&Policy> {
        match &self.pin {
            Pin::Certificate(_) => None,
            Pin::Attested(p) => Some(p),
        }
    }
}

/// The TLS server name of node `id`.
pub fn tls_name(id: u16) -> String {
    if id == DEALER {
        "dealer".to_owned()
    } else {
        format!("party-{id}")
    }
}

/// A parsed, checked cluster file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The parties, element `i` being party `i`.
    pub parties: Vec<Member>,
    /// The dealer service, if the deployment has one.
    pub dealer: Option<Member>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u16>,
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attest: Option<PolicyFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    party: Vec<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dealer: Option<FileEntry>,
}

/// Most parties a cluster may list (the protocol layer's limit).
pub const MAX_CLUSTER_PARTIES: usize = mpc::session::MAX_PARTIES;

impl Cluster {
    /// Reads and checks a cluster file.
    ///
    /// # Errors
    /// The file is unreadable, is not valid TOML of the expected form, lists party ids that
    /// are not exactly `0..n`, repeats a fingerprint, or names an address that does not
    /// resolve.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err("cluster file", path))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, &path.display().to_string(), dir)
    }

    /// Parses cluster-file text; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`Cluster::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        Self::parse_in(text, origin, Path::new("."))
    }

    /// Parses cluster-file text whose relative paths (an attested dealer's collateral) are
    /// relative to `dir`.
    ///
    /// # Errors
    /// As [`Cluster::load`].
    pub fn parse_in(text: &str, origin: &str, dir: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Cluster {
            path: origin.to_owned(),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let n = file.party.len();
        if n < 2 {
            return Err(bad(format!(
                "lists {n} parties; a session needs at least 2"
            )));
        }
        if n > MAX_CLUSTER_PARTIES {
            return Err(bad(format!(
                "lists {n} parties; at most {MAX_CLUSTER_PARTIES} are supported"
            )));
        }
        let mut parties: Vec<Option<Member>> = vec![None; n];
        for e in &file.party {
            let id =
                e.id.ok_or_else(|| bad(format!("the party at {} has no id", e.address)))?;
            if usize::from(id) >= n {
                return Err(bad(format!(
                    "party id {id} is out of range: {n} parties must have ids 0..{}",
                    n - 1
                )));
            }
            if parties[usize::from(id)].is_some() {
                return Err(bad(format!("party id {id} appears twice")));
            }
            parties[usize::from(id)] = Some(member(id, e, dir).map_err(bad)?);
        }
        let parties: Vec<Member> = parties
            .into_iter()
            .map(|m| m.expect("ids 0..n all seen"))
            .collect();
        let dealer = match &file.dealer {
            Some(e) => {
                if e.id.is_some() {
                    return Err(bad("the dealer entry takes no id".into()));
                }
                Some(member(DEALER, e, dir).map_err(bad)?)
            }
            None => None,
        };
        let all: Vec<&Member> = parties.iter().chain(dealer.as_ref()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if a.fingerprint().is_some() && a.fingerprint() == b.fingerprint() {
                    return Err(bad(format!(
                        "{} and {} have the same certificate; every member needs its own key",
                        node_name(a.id),
                        node_name(b.id)
                    )));
                }
            }
        }
        Ok(Self { parties, dealer })
    }

    /// Number of parties.
    pub fn n_parties(&self) -> usize {
        self.parties.len()
    }

    /// Member `id` (a party index or [`DEALER`]).
    pub fn member(&self, id: u16) -> Option<&Member> {
        if id == DEALER {
            self.dealer.as_ref()
        } else {
            self.parties.get(usize::from(id))
        }
    }

    /// The member whose certificate has this fingerprint.
    pub fn by_fingerprint(&self, fp: &[u8; 32]) -> Option<&Member> {
        self.parties
            .iter()
            .chain(self.dealer.as_ref())
            .find(|m| m.fingerprint().as_ref() == Some(fp))
    }

    /// The file text for this cluster.
    pub fn to_toml(&self) -> String {
        let parties: Vec<_> = self
            .parties
            .iter()
            .map(|m| {
                (
                    m.address.clone(),
                    m.fingerprint().expect("parties are pinned"),
                )
            })
            .collect();
        let dealer = self.dealer.as_ref().map(|m| {
            let pin = match &m.pin {
                Pin::Certificate(fp) => DealerPin::Certificate(*fp),
                Pin::Attested(p) => DealerPin::Attested(Box::new(p.to_file())),
            };
            (m.address.clone(), pin)
        });
        render_with(&parties, dealer.as_ref())
    }
}

/// How `render_with` writes the dealer's entry.
#[derive(Debug, Clone)]
pub enum DealerPin {
    /// Its certificate's SHA-256.
    Certificate([u8; 32]),
    /// An attestation policy.
    Attested(Box<PolicyFile>),
}

/// Cluster-file text for parties `(address, fingerprint)` in index order and an optional
/// dealer pinned by fingerprint. Addresses are written as given (they are resolved when the
/// file is loaded).
pub fn render(parties: &[(String, [u8; 32])], dealer: Option<&(String, [u8; 32])>) -> String {
    let dealer = dealer.map(|(a, fp)| (a.clone(), DealerPin::Certificate(*fp)));
    render_with(parties, dealer.as_ref())
}

/// [`render`] with the dealer pinned either way.
pub fn render_with(parties: &[(String, [u8; 32])], dealer: Option<&(String, DealerPin)>) -> String {
    let entry = |address: &str, fp: &[u8; 32], id: Option<u16>| FileEntry {
        id,
        address: address.to_owned(),
        fingerprint: Some(hex(fp)),
        attest: None,
    };
    let file = File {
        party: parties
            .iter()
            .enumerate()
            .map(|(i, (a, fp))| entry(a, fp, Some(i as u16)))
            .collect(),
        dealer: dealer.map(|(address, pin)| match pin {
            DealerPin::Certificate(fp) => entry(address, fp, None),
            DealerPin::Attested(policy) => FileEntry {
                id: None,
                address: address.clone(),
                fingerprint: None,
                attest: Some((**policy).clone()),
            },
        }),
    };
    let body = toml::to_string(&file).expect("cluster files serialize");
    format!(
        "# umbra cluster file: every member, where it listens, and the SHA-256 of the\n\
         # certificate it must present. Give the same file to every member.\n{body}"
    )
}

fn member(id: u16, e: &FileEntry, dir: &Path) -> std::result::Result<Member, String> {
    let who = node_name(id);
    let pin = match (&e.fingerprint, &e.attest) {
        (Some(fp), None) => {
            Pin::Certificate(unhex::<32>(fp).map_err(|r| format!("{who}'s fingerprint: {r}"))?)
        }
        (None, Some(policy)) if id == DEALER => Pin::Attested(Arc::new(
            Policy::from_file(policy.clone(), dir)
                .map_err(|r| format!("the dealer's attestation policy: {r}"))?,
        )),
        (None, Some(_)) => {
            return Err(format!(
                "{who} has an attestation policy; only the dealer may be attested"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "{who} has both a fingerprint and an attestation policy; give one"
            ));
        }
        (None, None) => return Err(format!("{who} has no fingerprint")),
    };
    let addr = e
        .address
        .to_socket_addrs()
        .map_err(|err| format!("{who}'s address `{}`: {err}", e.address))?
        .next()
        .ok_or_else(|| format!("{who}'s address `{}` resolves to nothing", e.address))?;
    Ok(Member {
        id,
        address: e.address.clone(),
        addr,
        pin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> String {
        hex(&[b; 32])
    }

    fn text(parties: &[(u16, u8)], dealer: Option<u8>) -> String {
        let mut t = String::new();
        for (id, f) in parties {
            t += &format!(
                "[[party]]\nid = {id}\naddress = \"127.0.0.1:{}\"\nfingerprint = \"{}\"\n",
                7000 + id,
                fp(*f)
            );
        }
        if let Some(f) = dealer {
            t += &format!(
                "[dealer]\naddress = \"127.0.0.1:7999\"\nfingerprint = \"{}\"\n",
                fp(f)
            );
        }
        t
    }

    #[test]
    fn a_cluster_round_trips_through_its_file() {
        let c = Cluster::parse(&text(&[(1, 2), (0, 1)], Some(3)), "t").unwrap();
        assert_eq!(c.n_parties(), 2);
        assert_eq!(c.parties[0].fingerprint(), Some([1; 32]));
        assert_eq!(c.member(DEALER).unwrap().addr.port(), 7999);
        assert_eq!(c.by_fingerprint(&[2; 32]).unwrap().id, 1);
        assert_eq!(Cluster::parse(&c.to_toml(), "t").unwrap(), c);
    }

    #[test]
    fn inconsistent_files_are_refused_with_the_reason() {
        let err = |t: &str| Cluster::parse(t, "c.toml").unwrap_err().to_string();
        assert!(err(&text(&[(0, 1)], None)).contains("at least 2"));
        assert!(err(&text(&[(0, 1), (2, 2)], None)).contains("party id 2 is out of range"));
        assert!(err(&text(&[(0, 1), (0, 2)], None)).contains("appears twice"));
        assert!(err(&text(&[(0, 1), (1, 1)], None)).contains("same certificate"));
        assert!(err(&text(&[(0, 1), (1, 2)], Some(1))).contains("same certificate"));
        let short = text(&[(0, 1), (1, 2)], None).replace(&fp(2), "abcd");
        assert!(err(&short).contains("party 1's fingerprint"));
        let nowhere = text(&[(0, 1), (1, 2)], None).replace("127.0.0.1:7001", "no-port");
        assert!(err(&nowhere).contains("party 1's address"));
        assert!(err("[[party]]\nid = 0\nadress = \"x\"\n").starts_with("cluster file c.toml"));
    }
}
