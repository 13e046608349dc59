//! How a program finds its party: environment variables set by `umbra launch` or
//! `umbra party`, the way torchrun sets `RANK` and `WORLD_SIZE`.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `UMBRA_CLUSTER` | path of the cluster file | required |
//! | `UMBRA_PARTY` | this party's index | required |
//! | `UMBRA_SESSION` | session id, 32 hex digits, the same on every party | required |
//! | `UMBRA_KEY`, `UMBRA_CERT` | this member's PEM key and certificate | `party-I.key` / `.crt` beside the cluster file |
//! | `UMBRA_TRANSPORT` | `quic` or `tcp` | `quic` |
//! | `UMBRA_RECV_TIMEOUT_MS` | how long a receive waits | 60000 |
//! | `UMBRA_CONNECT_TIMEOUT_MS` | how long set-up waits for every peer | 60000 |
//! | `UMBRA_IDLE_TIMEOUT_MS` | QUIC silence before a peer counts as dead | 10000 |
//! | `UMBRA_BIND` | listen address, if not the cluster file's | |

use std::path::{Path, PathBuf};
use std::time::Duration;

use mpc::{Session, SessionConfig};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::net::{NodeConfig, Timeouts, Transport};
use crate::wire::{DEALER, SessionId, hex, unhex};

/// A member's settings, as carried in the environment.
#[derive(Debug, Clone)]
pub struct MemberEnv {
    /// The cluster file.
    pub cluster: PathBuf,
    /// Node id: party index or [`DEALER`].
    pub me: u16,
    /// The session.
    pub session: SessionId,
    /// Private key file.
    pub key: PathBuf,
    /// Certificate file.
    pub cert: PathBuf,
    /// Transport.
    pub transport: Transport,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Listen address override.
    pub bind: Option<std::net::SocketAddr>,
}

/// The key and certificate files `keygen` writes for member `me` beside the cluster file.
pub fn default_key_files(cluster: &Path, me: u16) -> (PathBuf, PathBuf) {
    let dir = cluster.parent().unwrap_or(Path::new("."));
    let stem = crate::cluster::tls_name(me);
    (
        dir.join(format!("{stem}.key")),
        dir.join(format!("{stem}.crt")),
    )
}

/// A fresh random session id from the OS.
///
/// # Errors
/// The OS random generator failed.
pub fn fresh_session() -> Result<SessionId> {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).map_err(|e| Error::Config(format!("os randomness: {e}")))?;
    Ok(s)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn millis(name: &str, default: Duration) -> Result<Duration> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| Error::Config(format!("{name}={v} is not a number of milliseconds"))),
    }
}

impl MemberEnv {
    /// Settings for member `me` with the key files `keygen` writes beside the cluster file
    /// and no listen-address override.
    pub fn new(
        cluster: PathBuf,
        me: u16,
        session: SessionId,
        transport: Transport,
        timeouts: Timeouts,
    ) -> Self {
        let (key, cert) = default_key_files(&cluster, me);
        Self {
            cluster,
            me,
            session,
            key,
            cert,
            transport,
            timeouts,
            bind: None,
        }
    }

    /// Reads the party settings from the environment; `None` when `UMBRA_PARTY` is unset
    /// (the program was not started by `umbra launch` or `umbra party`).
    ///
    /// # Errors
    /// A variable is set but invalid, or a required one is missing.
    pub fn from_env() -> Result<Option<Self>> {
        let Some(party) = var("UMBRA_PARTY") else {
            return Ok(None);
        };
        let me: u16 = party
            .parse()
            .map_err(|_| Error::Config(format!("UMBRA_PARTY={party} is not a party index")))?;
        let cluster = PathBuf::from(
            var("UMBRA_CLUSTER").ok_or_else(|| Error::Config("UMBRA_CLUSTER is not set".into()))?,
        );
        let session = var("UMBRA_SESSION")
            .ok_or_else(|| Error::Config("UMBRA_SESSION is not set".into()))
            .and_then(|s| {
                unhex::<16>(&s).map_err(|e| Error::Config(format!("UMBRA_SESSION: {e}")))
            })?;
        let (key, cert) = default_key_files(&cluster, me);
        let d = Timeouts::default();
        Ok(Some(Self {
            key: var("UMBRA_KEY").map(PathBuf::from).unwrap_or(key),
            cert: var("UMBRA_CERT").map(PathBuf::from).unwrap_or(cert),
            cluster,
            me,
            session,
            transport: var("UMBRA_TRANSPORT")
                .map(|t| t.parse())
                .transpose()?
                .unwrap_or_default(),
            timeouts: Timeouts {
                recv: millis("UMBRA_RECV_TIMEOUT_MS", d.recv)?,
                connect: millis("UMBRA_CONNECT_TIMEOUT_MS", d.connect)?,
                idle: millis("UMBRA_IDLE_TIMEOUT_MS", d.idle)?,
            },
            bind: var("UMBRA_BIND")
                .map(|b| {
                    b.parse()
                        .map_err(|_| Error::Config(format!("UMBRA_BIND={b} is not an address")))
                })
                .transpose()?,
        }))
    }

    /// The variables that carry these settings to a child process.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("UMBRA_CLUSTER", self.cluster.display().to_string()),
            ("UMBRA_PARTY", self.me.to_string()),
            ("UMBRA_SESSION", hex(&self.session)),
            ("UMBRA_KEY", self.key.display().to_string()),
            ("UMBRA_CERT", self.cert.display().to_string()),
            ("UMBRA_TRANSPORT", self.transport.to_string()),
            (
                "UMBRA_RECV_TIMEOUT_MS",
                self.timeouts.recv.as_millis().to_string(),
            ),
            (
                "UMBRA_CONNECT_TIMEOUT_MS",
                self.timeouts.connect.as_millis().to_string(),
            ),
            (
                "UMBRA_IDLE_TIMEOUT_MS",
                self.timeouts.idle.as_millis().to_string(),
            ),
        ];
        if let Some(b) = self.bind {
            v.push(("UMBRA_BIND", b.to_string()));
        }
        v
    }

    /// Loads the cluster file and the key.
    ///
    /// # Errors
    /// Either is missing or invalid.
    pub fn node_config(&self) -> Result<NodeConfig> {
        let cluster = Cluster::load(&self.cluster)?;
        if self.me != DEALER && usize::from(self.me) >= cluster.n_parties() {
            return Err(Error::Config(format!(
                "party {} does not exist: {} lists parties 0..{}",
                self.me,
                self.cluster.display(),
                cluster.n_parties() - 1
            )));
        }
        if self.me == DEALER
            && let Some(p) = cluster.dealer.as_ref().and_then(|d| d.policy())
        {
            return Err(Error::Config(format!(
                "{} names an attested dealer ({}): start it with `umbra dealer --attest {}`, which makes its key inside the TEE",
                self.cluster.display(),
                p.tee,
                p.tee
            )));
        }
        let cfg = NodeConfig {
            cluster,
            me: self.me,
            identity: Identity::load(&self.cert, &self.key)?,
            session: self.session,
            transport: self.transport,
            timeouts: self.timeouts,
            bind: self.bind,
        };
        // The check the node makes when it starts, made here too so that `umbra party`
        // fails at once with the reason rather than in its program.
        cfg.check_identity()?;
        Ok(cfg)
    }
}

/// Joins the session this process was started for (by `umbra launch` or `umbra party`),
/// with the default session settings.
///
/// # Errors
/// Not started as a party, bad settings, or the session could not be set up.
///
/// # Examples
/// ```no_run
/// // run with: umbra launch --parties 2 --dealer -- target/release/examples/private_matmul
/// let session = party::init()?;
/// let x = session.share_f64(&[2], &[1.5, -2.0], 0)?;
/// println!("{:?}", x.square()?.reveal_f64()?);
/// # Ok::<(), party::Error>(())
/// ```
pub fn init() -> Result<Session> {
    init_with(SessionConfig::default())
}

/// [`init`] with explicit session settings (every party must pass the same).
///
/// # Errors
/// As [`init`].
pub fn init_with(config: SessionConfig) -> Result<Session> {
    crate::signals::die_with_supervisor();
    let env = MemberEnv::from_env()?.ok_or_else(|| {
        Error::Config(
            "this program runs as one party of a session: start it with \
             `umbra launch --parties N --dealer -- PROGRAM` (one host) or \
             `umbra party --cluster FILE --id I -- PROGRAM` (one per host)"
                .into(),
        )
    })?;
    connect(env.node_config()?, config)
}

/// Refuses settings that are only for in-process tests: a fixed test seed makes the pairwise
/// seeds and the private randomness a function of one `u64`.
fn check_networked(config: &SessionConfig) -> Result<()> {
    if config.insecure_test_seed.is_some() {
        return Err(Error::Config(
            "SessionConfig::insecure_test_seed is for in-process tests only (mpc::run_local); \
             a networked session draws its seeds from the OS"
                .into(),
        ));
    }
    Ok(())
}

/// Joins a session described by `node`.
///
/// # Errors
/// Test-only settings (a fixed seed), or the links or the session could not be set up.
pub fn connect(node: NodeConfig, config: SessionConfig) -> Result<Session> {
    check_networked(&config)?;
    let (comm, source) = crate::dealer::connect_party(node, config.compare)?;
    Ok(Session::new(Box::new(comm), source, config)?)
}

#[cfg(test)]
mod networked_tests {
    use super::*;

    #[test]
    fn a_fixed_test_seed_is_refused_before_any_connection() {
        let config = SessionConfig {
            insecure_test_seed: Some(7),
            ..SessionConfig::default()
        };
        let err = check_networked(&config).unwrap_err().to_string();
        assert!(err.contains("insecure_test_seed"), "{err}");
        assert!(check_networked(&SessionConfig::default()).is_ok());
    }
}
