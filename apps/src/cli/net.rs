//! Network settings shared by `party`, `dealer`, `launch` and `bench net`.

use std::path::PathBuf;
use std::time::Duration;

use party::{MemberEnv, Timeouts, Transport};

/// Network settings shared by `party`, `dealer` and `launch`.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct NetArgs {
    /// `quic` or `tcp` (both TLS 1.3 with pinned certificates).
    #[arg(long, default_value = "quic")]
    pub(crate) transport: TransportArg,
    /// How long a receive waits for a peer, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) recv_timeout_ms: u64,
    /// How long set-up waits for every peer to connect, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) connect_timeout_ms: u64,
    /// QUIC: how long a silent connection lives before the peer counts as dead, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) idle_timeout_ms: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum TransportArg {
    Quic,
    Tcp,
}

impl NetArgs {
    pub(crate) fn transport(&self) -> Transport {
        match self.transport {
            TransportArg::Quic => Transport::Quic,
            TransportArg::Tcp => Transport::Tcp,
        }
    }

    /// Member `me`'s settings: these network settings, and the default key files unless
    /// `key` / `cert` are given.
    pub(crate) fn member(
        &self,
        cluster: PathBuf,
        me: u16,
        session: [u8; 16],
        key: Option<PathBuf>,
        cert: Option<PathBuf>,
        bind: Option<std::net::SocketAddr>,
    ) -> MemberEnv {
        let mut env = MemberEnv::new(cluster, me, session, self.transport(), self.timeouts());
        env.key = key.unwrap_or(env.key);
        env.cert = cert.unwrap_or(env.cert);
        env.bind = bind;
        env
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            recv: Duration::from_millis(self.recv_timeout_ms),
            connect: Duration::from_millis(self.connect_timeout_ms),
            idle: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}
