//! Real parties: the network transport, the dealer service, cluster configuration and the
//! launcher.
//!
//! `party` implements `mpc::Comm` over QUIC with pinned mutual TLS and `mpc::TripleSource`
//! over a connection to the dealer service, so protocol code is identical in-process and
//! across machines. Those arrive with the network issue; in the foundation milestone every
//! party runs in-process ([`mpc::run_local`]) and this crate fixes the layer and the
//! dependency direction.

pub use mpc::{Comm, TripleSource};
