//! One file per `umbra` subcommand: its arguments and what it runs.

pub(crate) mod attest;
pub(crate) mod bench;
pub(crate) mod dealer;
pub(crate) mod demo;
pub(crate) mod infer;
pub(crate) mod keygen;
pub(crate) mod launch;
pub(crate) mod net;
pub(crate) mod party;
pub(crate) mod session;
pub(crate) mod testprog;
