//! Real parties: the network transport, the dealer service, cluster configuration, keys and
//! the launcher.
//!
//! Each party is its own process, on one host or many. Parties talk over QUIC (quinn) or
//! TCP, both with TLS 1.3 and **pinned mutual authentication**: the cluster file lists every
//! member's address and the SHA-256 of its self-signed certificate, and both ends of every
//! connection refuse any certificate but the pinned one. On top of TLS every frame carries
//! the session id, sender, receiver, a sequence number and the protocol step
//! ([`wire`]), checked before the payload is read.
//!
//! [`NetComm`] implements `mpc::Comm` and [`DealerClient`] implements `mpc::TripleSource`,
//! so protocol code is the same in-process and across machines. A program joins its session
//! with [`init`]; `umbra launch` and `umbra party` set the environment it reads ([`mod@env`]).
//!
//! Faults end a session instead of hanging it: every receive has a timeout, a party that
//! fails tells its peers why before closing ([`mpc::Comm::abort`]), and a dead host is
//! noticed by QUIC's idle timeout (keep-alives run in the background).

pub mod attest;
pub mod cluster;
pub mod dealer;
pub mod env;
mod error;
pub mod identity;
pub mod keygen;
pub mod launch;
mod link;
pub mod net;
pub mod signals;
mod tls;
pub use tls::dealer_handshake_time;
pub mod wire;

pub use cluster::{Cluster, Member};
pub use dealer::{DealerClient, NoDealer};
pub use env::{MemberEnv, connect, init, init_with};
pub use error::{Error, Result};
pub use identity::Identity;
pub use mpc::{Comm, TripleSource};
pub use net::{NetComm, NodeConfig, Timeouts, Transport, connect_mesh};
