//! Connecting members: listeners, dialling with retries, TLS identification, and the party
//! mesh. [`NetComm`] is the `mpc::Comm` over the mesh.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::cluster::{Cluster, Member, tls_name};
use crate::error::{Error, Result};
use crate::identity::{Identity, fingerprint};
use crate::link::{
    CLOSE_ABORT, CLOSE_DONE, Closer, Established, HelloRules, Inbound, Link, LinkEnd, describe,
    describe_quic,
};
use crate::tls::{TlsConfigs, configs};
use crate::wire::{ALPN, DEALER, SessionId, TAG_ABORT, TAG_BYE, hex, node_name, step_tag};

/// TLS exporter label for the session binding.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-umbra-session-binding";

/// Which transport carries the links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// QUIC (quinn) with TLS 1.3: the default.
    #[default]
    Quic,
    /// TCP with TLS 1.3 (tokio-rustls): the same framing and authentication; lower latency
    /// and higher bandwidth on fast local networks.
    Tcp,
}

impl std::str::FromStr for Transport {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "quic" => Ok(Transport::Quic),
            "tcp" => Ok(Transport::Tcp),
            other => Err(Error::Config(format!(
                "unknown transport `{other}` (expected `quic` or `tcp`)"
            ))),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Quic => "quic",
            Transport::Tcp => "tcp",
        })
    }
}

/// Timeouts of a member. Defaults: 60 s to receive a frame, 60 s for every peer to connect,
/// 10 s of silence before a QUIC connection counts as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a receive (or a blocked send) waits.
    pub recv: Duration,
    /// How long set-up waits for all peers.
    pub connect: Duration,
    /// How long a QUIC connection may be silent (keep-alives every quarter of it).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            recv: Duration::from_secs(60),
            connect: Duration::from_secs(60),
            idle: Duration::from_secs(10),
        }
    }
}

/// Everything a member needs to join: the cluster, who it is, its key, the session and the
/// transport.
#[derive(Debug)]
pub struct NodeConfig {
    /// The cluster file.
    pub cluster: Cluster,
    /// This member's node id (party index or [`DEALER`]).
    pub me: u16,
    /// This member's certificate and key.
    pub identity: Identity,
    /// The session (every party of a run uses the same id).
    pub session: SessionId,
    /// The transport.
    pub transport: Transport,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Listen here instead of the cluster file's address (e.g. `0.0.0.0:7100` behind NAT).
    pub bind: Option<SocketAddr>,
}

/// A member's network machinery: the runtime, TLS, and the listener.
pub(crate) struct Node {
    pub(crate) rt: Runtime,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) me: u16,
    pub(crate) session: SessionId,
    pub(crate) transport: Transport,
    pub(crate) timeouts: Timeouts,
    dialer: Dialer,
    listener: Listener,
}

/// A member's listening socket (cheap to clone into tasks).
#[derive(Clone)]
pub(crate) enum Listener {
    Quic(quinn::Endpoint),
    Tcp(Arc<TcpGate>),
}

/// How long an incoming connection may take for its TLS handshake, and then for its hello,
/// before it is dropped.
pub(crate) const HANDSHAKE: Duration = Duration::from_secs(10);

/// Incoming TCP connections a listener handshakes at once, in all and from one address;
/// past these a new connection is closed at once. QUIC has its own cap (`max_incoming`).
const MAX_HANDSHAKES: usize = 256;
const MAX_HANDSHAKES_PER_SOURCE: usize = 64;

/// A TCP listener that bounds the handshakes it serves (descriptors and tasks an
/// unauthenticated peer can hold) and backs off when `accept` fails.
pub(crate) struct TcpGate {
    listener: TcpListener,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One handshake slot of a [`TcpGate`], given back when dropped.
pub(crate) struct Slot {
    gate: Arc<TcpGate>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().expect("listener state");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl TcpGate {
    fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a connection from `ip`, or `None` when a cap is reached.
    fn slot(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().expect("listener state");
        let total: usize = open.values().sum();
        let mine = open.get(&ip).copied().unwrap_or(0);
        if total >= MAX_HANDSHAKES || mine >= MAX_HANDSHAKES_PER_SOURCE {
            return None;
        }
        open.insert(ip, mine + 1);
        Some(Slot {
            gate: self.clone(),
            ip,
        })
    }

    /// Handshakes in progress (for tests).
    #[cfg(test)]
    fn in_progress(&self) -> usize {
        self.open.lock().expect("listener state").values().sum()
    }
}

impl Listener {
    /// The next connection attempt (`None` once the endpoint is closed).
    pub(crate) async fn next(&self) -> Option<Pending> {
        match self {
            Listener::Quic(ep) => ep.accept().await.map(|i| Pending::Quic(Box::new(i))),
            Listener::Tcp(gate) => {
                let mut backoff = Duration::from_millis(10);
                loop {
                    match gate.listener.accept().await {
                        Ok((s, a)) => match gate.slot(a.ip()) {
                            Some(slot) => break Some(Pending::Tcp(s, a, slot)),
                            None => {
                                tracing::warn!(
                                    "closed a connection from {a}: too many handshakes in progress"
                                );
                                drop(s);
                            }
                        },
                        Err(e) => {
                            // Out of descriptors (EMFILE) and the like: wait instead of spinning.
                            tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                    }
                }
            }
        }
    }
}

/// A connection attempt that arrived at the listener.
pub(crate) enum Pending {
    Quic(Box<quinn::Incoming>),
    Tcp(TcpStream, SocketAddr, Slot),
}

/// Socket buffer size asked for on QUIC sockets: a burst of packets from a fast sender then
/// waits in the kernel instead of being dropped (the kernel caps it at `net.core.rmem_max`).
const UDP_BUFFER: usize = 4 << 20;

/// How long one dial attempt (TCP connect plus TLS, or the QUIC handshake) may take.
const DIAL_ATTEMPT: Duration = Duration::from_secs(2);

fn udp_socket(bind: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let domain = socket2::Domain::for_address(bind);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: a smaller buffer only costs speed.
    let _ = s.set_recv_buffer_size(UDP_BUFFER);
    let _ = s.set_send_buffer_size(UDP_BUFFER);
    s.bind(&bind.into())?;
    Ok(s.into())
}

fn quic_transport(idle: Duration) -> Result<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u32(16 << 20));
    t.receive_window(quinn::VarInt::from_u32(64 << 20));
    t.send_window(64 << 20);
    t.max_idle_timeout(Some(quinn::IdleTimeout::try_from(idle).map_err(|_| {
        Error::Config(format!("idle timeout {idle:?} is too long"))
    })?));
    t.keep_alive_interval(Some(idle / 4));
    t.initial_rtt(Duration::from_millis(10));
    t.max_concurrent_bidi_streams(0u32.into());
    t.max_concurrent_uni_streams(4u32.into());
    Ok(t)
}

impl NodeConfig {
    /// This member's entry in the cluster file, checked against the key it holds.
    ///
    /// # Errors
    /// The member is not in the cluster file, or its certificate is not the one pinned there.
    pub fn check_identity(&self) -> Result<&Member> {
        let me = self.cluster.member(self.me).ok_or_else(|| {
            Error::Config(format!("{} is not in the cluster file", node_name(self.me)))
        })?;
        match &me.pin {
            crate::cluster::Pin::Certificate(fp) => {
                if *fp != self.identity.fingerprint() {
                    return Err(Error::Key(format!(
                        "this key's certificate ({}) is not the one the cluster file pins for {} ({})",
                        &hex(&self.identity.fingerprint())[..16],
                        node_name(self.me),
                        &hex(fp)[..16]
                    )));
                }
            }
            crate::cluster::Pin::Attested(policy) => {
                let found = crate::attest::Evidence::from_certificate(self.identity.cert_der());
                match found {
                    Ok((e, _)) if e.kind() == policy.tee => {}
                    Ok((e, _)) => {
                        return Err(Error::Config(format!(
                            "the cluster file's policy wants a {} dealer, but this dealer's evidence is {}",
                            policy.tee,
                            e.kind()
                        )));
                    }
                    Err(_) => {
                        return Err(Error::Config(format!(
                            "the cluster file's dealer is attested ({}): start it with `--attest {}`, which makes its key and evidence inside the TEE",
                            policy.tee, policy.tee
                        )));
                    }
                }
            }
        }
        Ok(me)
    }
}

impl Node {
    /// Builds the runtime and binds the listener. The dealer listens; so does every party
    /// (lower-numbered parties dial higher-numbered ones, everyone dials the dealer).
    pub(crate) fn start(cfg: NodeConfig) -> Result<Node> {
        let me_member = cfg.check_identity()?.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("umbra-net")
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(format!("starting the network runtime: {e}")))?;
        let tls = configs(&cfg.cluster, cfg.me, &cfg.identity)?;
        let bind = cfg.bind.unwrap_or(me_member.addr);
        let mut quic = None;
        let _guard = rt.enter();
        let listener = match cfg.transport {
            Transport::Quic => {
                let transport = Arc::new(quic_transport(cfg.timeouts.idle)?);
                let server_crypto = QuicServerConfig::try_from(tls.server.as_ref().clone())
                    .map_err(|e| Error::Setup(format!("QUIC server TLS: {e}")))?;
                let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
                server.transport_config(transport.clone());
                server.migration(false);
                server.max_incoming(64);
                let client_crypto = QuicClientConfig::try_from(tls.client.as_ref().clone())
                    .map_err(|e| Error::Setup(format!("QUIC client TLS: {e}")))?;
                let mut client = quinn::ClientConfig::new(Arc::new(client_crypto));
                client.transport_config(transport);
                let listen_err = |e: std::io::Error| {
                    Error::Setup(format!(
                        "{} cannot listen on udp {bind}: {e}",
                        node_name(cfg.me)
                    ))
                };
                let socket = udp_socket(bind).map_err(listen_err)?;
                let ep = quinn::Endpoint::new(
                    quinn::EndpointConfig::default(),
                    Some(server),
                    socket,
                    Arc::new(quinn::TokioRuntime),
                )
                .map_err(listen_err)?;
                quic = Some((ep.clone(), client));
                Listener::Quic(ep)
            }
            Transport::Tcp => {
                let l = rt.block_on(TcpListener::bind(bind)).map_err(|e| {
                    Error::Setup(format!(
                        "{} cannot listen on tcp {bind}: {e}",
                        node_name(cfg.me)
                    ))
                })?;
                Listener::Tcp(Arc::new(TcpGate::new(l)))
            }
        };
        drop(_guard);
        Ok(Node {
            rt,
            cluster: Arc::new(cfg.cluster.clone()),
            me: cfg.me,
            session: cfg.session,
            transport: cfg.transport,
            timeouts: cfg.timeouts,
            dialer: Dialer {
                cluster: Arc::new(cfg.cluster),
                tls,
                quic,
            },
            listener,
        })
    }

    /// A cheap handle for tasks.
    pub(crate) fn dialer(&self) -> Dialer {
        self.dialer.clone()
    }

    /// The listener, for an accept loop.
    pub(crate) fn listener(&self) -> Listener {
        self.listener.clone()
    }

    /// Stops listening, and lets QUIC finish closing connections (bounded).
    pub(crate) fn shutdown(&self) {
        if let Listener::Quic(ep) = &self.listener {
            ep.close(CLOSE_DONE.into(), b"done");
            let ep = ep.clone();
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(300), ep.wait_idle()).await
            });
        }
    }

    pub(crate) fn rules(&self, speak_first: bool) -> HelloRules {
        HelloRules {
            me: self.me,
            n_parties: self.cluster.n_parties() as u16,
            session: (self.me != DEALER).then_some(self.session),
            speak_first,
        }
    }
}

/// What dialling and accepting need, cloneable into tasks.
#[derive(Clone)]
pub(crate) struct Dialer {
    cluster: Arc<Cluster>,
    tls: TlsConfigs,
    /// The endpoint and client configuration, for QUIC (TCP dials fresh sockets).
    quic: Option<(quinn::Endpoint, quinn::ClientConfig)>,
}

/// A failed dial: whether trying again can help.
pub(crate) struct DialError {
    pub(crate) retry: bool,
    pub(crate) msg: String,
}

fn peer_of(cluster: &Cluster, cert: Option<&[u8]>) -> std::result::Result<u16, String> {
    let cert = cert.ok_or("presented no certificate")?;
    cluster
        .by_fingerprint(&fingerprint(cert))
        .map(|m| m.id)
        .ok_or_else(|| "presented a certificate that is not in the cluster file".to_owned())
}

impl Dialer {
    /// Connects to `peer` once: TCP or QUIC, then TLS with the pinned verifier.
    pub(crate) async fn dial(&self, peer: &Member) -> std::result::Result<Established, DialError> {
        let name = tls_name(peer.id);
        let who = node_name(peer.id);
        let fatal = |msg: String| DialError { retry: false, msg };
        if let Some((ep, client)) = &self.quic {
            let connecting = ep
                .connect_with(client.clone(), peer.addr, &name)
                .map_err(|e| fatal(format!("cannot dial {who} at {}: {e}", peer.addr)))?;
            let conn = match tokio::time::timeout(DIAL_ATTEMPT, connecting).await {
                Err(_) => {
                    return Err(DialError {
                        retry: true,
                        msg: format!("{who} at {} does not answer", peer.addr),
                    });
                }
                Ok(Err(e)) => {
                    let retry = matches!(
                        e,
                        quinn::ConnectionError::TimedOut | quinn::ConnectionError::Reset
                    );
                    return Err(DialError {
                        retry,
                        msg: format!(
                            "connecting to {who} at {}: {}",
                            peer.addr,
                            describe_quic(&e)
                        ),
                    });
                }
                Ok(Ok(c)) => c,
            };
            check_alpn_quic(&conn).map_err(fatal)?;
            return quic_established(conn, peer.id).await.map_err(fatal);
        }
        // A stopped peer's kernel still completes the TCP handshake (its backlog), and then
        // nothing answers the ClientHello: bound the attempt as QUIC's is, and retry it.
        let silent = || DialError {
            retry: true,
            msg: format!(
                "{who} at {} does not answer (no TLS handshake within {DIAL_ATTEMPT:?})",
                peer.addr
            ),
        };
        let tcp = match tokio::time::timeout(DIAL_ATTEMPT, TcpStream::connect(peer.addr)).await {
            Err(_) => return Err(silent()),
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(DialError {
                    retry: true,
                    msg: format!("{who} at {}: {e}", peer.addr),
                });
            }
        };
        let _ = tcp.set_nodelay(true);
        let server_name = ServerName::try_from(name).map_err(|e| fatal(e.to_string()))?;
        let connecting =
            tokio_rustls::TlsConnector::from(self.tls.client.clone()).connect(server_name, tcp);
        let tls = tokio::time::timeout(DIAL_ATTEMPT, connecting)
            .await
            .map_err(|_| silent())?
            .map_err(|e| DialError {
                // Closed before the handshake finished: a listener at its handshake cap (a
                // flood from this address) or one still starting. Try again until the
                // deadline; a refused certificate is final.
                retry: matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ),
                msg: crate::tls::plain_tls_message(&format!(
                    "TLS with {who} at {}: {e}",
                    peer.addr
                )),
            })?;
        let (_, conn) = tls.get_ref();
        if conn.alpn_protocol() != Some(ALPN) {
            return Err(fatal(format!(
                "{who} does not speak {}",
                String::from_utf8_lossy(ALPN)
            )));
        }
        let mut ekm = [0u8; 32];
        conn.export_keying_material(&mut ekm, EXPORTER_LABEL, None)
            .map_err(|e| fatal(format!("TLS exporter: {e}")))?;
        let (r, w) = tokio::io::split(tokio_rustls::TlsStream::Client(tls));
        Ok(Established {
            peer: peer.id,
            reader: Box::new(r),
            writer: Box::new(w),
            closer: Closer::Tcp,
            ekm,
        })
    }

    /// [`Dialer::dial`], retried every 50 ms while the peer is not up yet, until `deadline`
    /// (an attempt in flight at the deadline is cut off there).
    pub(crate) async fn dial_until(
        &self,
        peer: &Member,
        deadline: Instant,
    ) -> std::result::Result<Established, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let attempt = match tokio::time::timeout(left, self.dial(peer)).await {
                Ok(r) => r,
                Err(_) => Err(DialError {
                    retry: false,
                    msg: format!(
                        "{} at {} does not answer within the connect timeout",
                        node_name(peer.id),
                        peer.addr
                    ),
                }),
            };
            match attempt {
                Ok(est) => return Ok(est),
                Err(e) if e.retry && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.msg),
            }
        }
    }

    /// Completes an incoming connection: TLS (the client verifier admits any member), then
    /// identifies the member by its certificate.
    pub(crate) async fn accept(
        &self,
        pending: Pending,
    ) -> std::result::Result<Established, String> {
        match pending {
            Pending::Quic(incoming) => {
                let incoming = *incoming;
                let remote = incoming.remote_address();
                let known = self
                    .cluster
                    .parties
                    .iter()
                    .chain(self.cluster.dealer.as_ref())
                    .any(|m| m.addr.ip() == remote.ip());
                if !known {
                    incoming.refuse();
                    return Err(format!(
                        "refused a connection from {remote}: not a cluster address"
                    ));
                }
                let conn = incoming.await.map_err(|e| {
                    format!(
                        "a connection from {remote} failed its handshake: {}",
                        describe_quic(&e)
                    )
                })?;
                check_alpn_quic(&conn)?;
                let cert = conn.peer_identity().and_then(|id| {
                    id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                        .ok()
                });
                let peer = peer_of(
                    &self.cluster,
                    cert.as_ref().and_then(|c| c.first()).map(|c| c.as_ref()),
                )
                .map_err(|e| format!("the connection from {remote} {e}"))?;
                quic_established(conn, peer).await
            }
            Pending::Tcp(tcp, remote, _slot) => {
                let _ = tcp.set_nodelay(true);
                let accepting =
                    tokio_rustls::TlsAcceptor::from(self.tls.server.clone()).accept(tcp);
                let tls = tokio::time::timeout(HANDSHAKE, accepting)
                    .await
                    .map_err(|_| {
                        format!("dropped a connection from {remote}: no TLS handshake within {HANDSHAKE:?}")
                    })?
                    .map_err(|e| {
                        crate::tls::plain_tls_message(&format!(
                            "a connection from {remote} failed its handshake: {e}"
                        ))
                    })?;
                let (_, conn) = tls.get_ref();
                if conn.alpn_protocol() != Some(ALPN) {
                    return Err(format!(
                        "the connection from {remote} does not speak umbra/1"
                    ));
                }
                let peer = peer_of(
                    &self.cluster,
                    conn.peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.as_ref()),
                )
                .map_err(|e| format!("the connection from {remote} {e}"))?;
                let mut ekm = [0u8; 32];
                conn.export_keying_material(&mut ekm, EXPORTER_LABEL, None)
                    .map_err(|e| format!("TLS exporter: {e}"))?;
                let (r, w) = tokio::io::split(tokio_rustls::TlsStream::Server(tls));
                Ok(Established {
                    peer,
                    reader: Box::new(r),
                    writer: Box::new(w),
                    closer: Closer::Tcp,
                    ekm,
                })
            }
        }
    }
}

fn check_alpn_quic(conn: &quinn::Connection) -> std::result::Result<(), String> {
    let proto = conn
        .handshake_data()
        .and_then(|h| h.downcast::<HandshakeData>().ok())
        .and_then(|h| h.protocol);
    if proto.as_deref() == Some(ALPN) {
        Ok(())
    } else {
        Err(format!("{} does not speak umbra/1", conn.remote_address()))
    }
}

async fn quic_established(
    conn: quinn::Connection,
    peer: u16,
) -> std::result::Result<Established, String> {
    let mut ekm = [0u8; 32];
    conn.export_keying_material(&mut ekm, EXPORTER_LABEL, b"")
        .map_err(|_| "TLS exporter failed".to_owned())?;
    let send = conn.open_uni().await.map_err(|e| {
        format!(
            "opening a stream to {}: {}",
            node_name(peer),
            describe_quic(&e)
        )
    })?;
    // The peer's stream becomes visible when its first bytes (the hello) arrive.
    let accept = conn.clone();
    let recv = LazyUni::new(accept);
    Ok(Established {
        peer,
        reader: Box::new(recv),
        writer: Box::new(send),
        closer: Closer::Quic(conn),
        ekm,
    })
}

/// A reader for the peer's unidirectional stream that accepts it on the first read, so that
/// both sides can send their hello before either has seen the other's stream.
struct LazyUni {
    state: LazyState,
}

enum LazyState {
    Waiting(
        std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = std::result::Result<quinn::RecvStream, quinn::ConnectionError>,
                    > + Send,
            >,
        >,
    ),
    Open(quinn::RecvStream),
    Failed,
}

impl LazyUni {
    fn new(conn: quinn::Connection) -> Self {
        Self {
            state: LazyState::Waiting(Box::pin(async move { conn.accept_uni().await })),
        }
    }
}

impl tokio::io::AsyncRead for LazyUni {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        loop {
            match &mut self.state {
                LazyState::Waiting(fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(s)) => self.state = LazyState::Open(s),
                    Poll::Ready(Err(e)) => {
                        self.state = LazyState::Failed;
                        let err: std::io::Error = quinn::ReadError::ConnectionLost(e).into();
                        return Poll::Ready(Err(err));
                    }
                },
                LazyState::Open(s) => return std::pin::Pin::new(s).poll_read(cx, buf),
                LazyState::Failed => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::NotConnected,
                        "the peer's stream never opened",
                    )));
                }
            }
        }
    }
}

/// Links to every other party, built by [`NetComm::connect`].
async fn mesh(node: &Node, deadline: Instant) -> Result<Vec<Option<Link>>> {
    let n = node.cluster.n_parties();
    let me = node.me;
    let (tx, mut rx) = mpsc::channel::<std::result::Result<Link, (bool, String)>>(64);
    let dialer = node.dialer();
    // Accept from lower-numbered parties.
    let acceptor = {
        let tx = tx.clone();
        let dialer = dialer.clone();
        let rules = node.rules(true);
        let listener = node.listener();
        async move {
            while let Some(p) = listener.next().await {
                let tx = tx.clone();
                let dialer = dialer.clone();
                let rules = rules.clone();
                tokio::spawn(async move {
                    let r = match dialer.accept(p).await {
                        Ok(est) if est.peer == DEALER || est.peer >= rules.me => Err((
                            false,
                            format!(
                                "{} dialled this party, but only lower-numbered parties do",
                                node_name(est.peer)
                            ),
                        )),
                        Ok(est) => Link::open(est, &rules).await.map_err(|e| (false, e)),
                        Err(e) => Err((false, e)),
                    };
                    let _ = tx.send(r).await;
                });
            }
        }
    };
    let acceptor = node.rt.spawn(acceptor);
    // Dial higher-numbered parties, retrying until the deadline.
    for j in (usize::from(me) + 1)..n {
        let peer = node.cluster.parties[j].clone();
        let tx = tx.clone();
        let dialer = dialer.clone();
        let rules = node.rules(true);
        node.rt.spawn(async move {
            let r = match dialer.dial_until(&peer, deadline).await {
                Ok(est) => Link::open(est, &rules).await.map_err(|e| (true, e)),
                Err(msg) => Err((true, msg)),
            };
            let _ = tx.send(r).await;
        });
    }
    drop(tx);
    let mut links: Vec<Option<Link>> = (0..n).map(|_| None).collect();
    let mut refused = Vec::new();
    let missing = |links: &Vec<Option<Link>>| {
        (0..n)
            .filter(|&j| j != usize::from(me) && links[j].is_none())
            .map(|j| format!("party {j} ({})", node.cluster.parties[j].address))
            .collect::<Vec<_>>()
    };
    while !missing(&links).is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Ok(link))) => {
                let j = usize::from(link.peer);
                if links[j].is_some() {
                    refused.push(format!("a second connection from party {j}"));
                    continue;
                }
                links[j] = Some(link);
            }
            Ok(Some(Err((true, msg)))) => {
                acceptor.abort();
                return Err(Error::Setup(format!("{}: {msg}", node_name(me))));
            }
            Ok(Some(Err((false, msg)))) => {
                tracing::warn!("{msg}");
                refused.push(msg);
            }
            Ok(None) | Err(_) => {
                acceptor.abort();
                let mut msg = format!(
                    "{}: timed out after {:?} waiting for {} to connect",
                    node_name(me),
                    node.timeouts.connect,
                    missing(&links).join(", ")
                );
                if !refused.is_empty() {
                    msg += &format!("; refused meanwhile: {}", refused.join("; "));
                }
                return Err(Error::Setup(msg));
            }
        }
    }
    acceptor.abort();
    Ok(links)
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `mpc::Comm` over authenticated links to every other party.
///
/// Sends and receives block the calling thread (the protocol code is synchronous); the
/// network runs on a small tokio runtime behind it. A receive waits at most the configured
/// timeout; a peer that aborts, crashes or misbehaves turns into an error naming the peer and
/// the protocol step. Dropping a `NetComm` says goodbye to every peer and waits (bounded) for
/// theirs, so nothing sent is lost when a program ends.
pub struct NetComm {
    node: Arc<Node>,
    me: usize,
    links: Vec<Option<Link>>,
    finished: bool,
}

impl std::fmt::Debug for NetComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetComm")
            .field("party", &self.me)
            .field("n_parties", &self.links.len())
            .field("transport", &self.node.transport)
            .finish_non_exhaustive()
    }
}

impl NetComm {
    /// Connects to every other party of `node`'s cluster (lower-numbered parties dial
    /// higher-numbered ones) and checks every peer's hello.
    pub(crate) fn connect(node: Arc<Node>) -> Result<Self> {
        if node.me == DEALER {
            return Err(Error::Config("the dealer is not a party".into()));
        }
        let deadline = Instant::now() + node.timeouts.connect;
        let links = node.rt.block_on(mesh(&node, deadline))?;
        Ok(Self {
            me: usize::from(node.me),
            node,
            links,
            finished: false,
        })
    }

    /// The node and the link to `peer` (borrowed apart, so no handle is cloned per frame).
    fn link(&mut self, peer: usize) -> mpc::Result<(&Node, &mut Link)> {
        let n = self.links.len();
        if peer >= n {
            return Err(mpc::Error::UnknownParty {
                party: peer,
                n_parties: n,
            });
        }
        if peer == self.me {
            return Err(mpc::Error::SelfMessage(peer));
        }
        if self.finished {
            return Err(mpc::Error::Aborted);
        }
        let link = self.links[peer].as_mut().expect("a link to every peer");
        Ok((&self.node, link))
    }

    /// Writes raw bytes to `to`'s link, bypassing the framing. **Fault-injection tests only.**
    #[doc(hidden)]
    pub fn send_raw_for_tests(&mut self, to: usize, bytes: &[u8]) -> mpc::Result<()> {
        let (node, link) = self.link(to)?;
        node.rt
            .block_on(link.send_raw(bytes))
            .map_err(|e| mpc::Error::Link {
                peer: to,
                reason: describe(&e),
            })
    }

    /// The session id of the links. **Fault-injection tests only.**
    #[doc(hidden)]
    pub fn session_for_tests(&self) -> SessionId {
        self.node.session
    }
}

fn end_error(peer: usize, step: &'static str, end: LinkEnd) -> mpc::Error {
    match end {
        LinkEnd::Bye => mpc::Error::Disconnected { peer, step },
        LinkEnd::Aborted(reason) => mpc::Error::PeerAborted { peer, reason },
        LinkEnd::Lost(why) => mpc::Error::Link {
            peer,
            reason: format!("lost at step `{step}`: {why}"),
        },
        LinkEnd::Bad(reason) => mpc::Error::BadFrame { peer, reason },
    }
}

impl mpc::Comm for NetComm {
    fn party(&self) -> usize {
        self.me
    }

    fn n_parties(&self) -> usize {
        self.links.len()
    }

    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> mpc::Result<()> {
        let (node, link) = self.link(to)?;
        let timeout = node.timeouts.recv;
        let sent = node.rt.block_on(async {
            tokio::time::timeout(timeout, link.send(step_tag(step), &frame)).await
        });
        match sent {
            Ok(Ok(())) => Ok(()),
            Err(_) => Err(mpc::Error::Timeout {
                peer: to,
                step,
                timeout_ms: timeout.as_millis(),
            }),
            Ok(Err(e)) => {
                // The reader usually knows better why the link broke (an abort, say).
                let end = node.rt.block_on(async {
                    tokio::time::timeout(Duration::from_millis(200), async {
                        loop {
                            if let Inbound::End(end) = link.next().await {
                                break end;
                            }
                        }
                    })
                    .await
                });
                Err(end_error(
                    to,
                    step,
                    end.unwrap_or_else(|_| {
                        LinkEnd::Lost(format!("sending failed: {}", describe(&e)))
                    }),
                ))
            }
        }
    }

    fn recv(&mut self, from: usize, step: &'static str) -> mpc::Result<Vec<u8>> {
        let (node, link) = self.link(from)?;
        let timeout = node.timeouts.recv;
        match node
            .rt
            .block_on(async { tokio::time::timeout(timeout, link.next()).await })
        {
            Err(_) => Err(mpc::Error::Timeout {
                peer: from,
                step,
                timeout_ms: timeout.as_millis(),
            }),
            Ok(Inbound::Frame { tag, data }) if tag == step_tag(step) => Ok(data),
            Ok(Inbound::Frame { .. }) => Err(mpc::Error::BadFrame {
                peer: from,
                reason: format!(
                    "a frame of another protocol step arrived while this party is at step `{step}` (the parties are out of step)"
                ),
            }),
            Ok(Inbound::End(end)) => Err(end_error(from, step, end)),
        }
    }

    fn abort(&mut self, reason: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        let node = self.node.clone();
        for link in self.links.iter_mut().flatten() {
            if link.ended().is_none() {
                let _ = node.rt.block_on(async {
                    tokio::time::timeout(
                        Duration::from_millis(300),
                        link.send(TAG_ABORT, reason.as_bytes()),
                    )
                    .await
                });
            }
            link.close(CLOSE_ABORT, reason);
        }
    }
}

impl Drop for NetComm {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let node = self.node.clone();
        let links = &mut self.links;
        node.rt.block_on(async {
            for link in links.iter_mut().flatten() {
                if link.ended().is_none() {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), link.send(TAG_BYE, &[])).await;
                }
            }
            // Wait for every peer's goodbye, so that nothing either side sent is cut off.
            let wait = node.timeouts.recv.min(Duration::from_secs(10));
            let _ = tokio::time::timeout(wait, async {
                for link in links.iter_mut().flatten() {
                    while let Inbound::Frame { .. } = link.next().await {}
                }
            })
            .await;
            for link in links.iter_mut().flatten() {
                link.shutdown().await;
            }
        });
        for link in self.links.iter_mut().flatten() {
            link.close(CLOSE_DONE, "done");
        }
    }
}

/// Connects a party to the other parties only (no dealer): the transport alone, for tests
/// and transport benchmarks. Programs use [`crate::init`] or [`crate::connect`].
///
/// # Errors
/// The node cannot start, or the mesh cannot be formed.
pub fn connect_mesh(cfg: NodeConfig) -> Result<NetComm> {
    NetComm::connect(Arc::new(Node::start(cfg)?))
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn handshakes_are_capped_per_source_and_given_back_when_done() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let gate = Arc::new(TcpGate::new(listener));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut held: Vec<Slot> = (0..MAX_HANDSHAKES_PER_SOURCE)
            .map(|_| gate.slot(a).expect("under the cap"))
            .collect();
        assert!(gate.slot(a).is_none(), "one source past its cap");
        let other = gate.slot(b).expect("another source is not affected");
        assert_eq!(gate.in_progress(), MAX_HANDSHAKES_PER_SOURCE + 1);
        held.pop();
        assert!(
            gate.slot(a).is_some(),
            "a finished handshake frees its slot"
        );
        drop((held, other));
        assert_eq!(gate.in_progress(), 0);
    }
}
