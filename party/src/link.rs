//! One authenticated, framed link to one peer, over either transport: a writer the owning
//! thread drives, and a reader task that checks every incoming frame and queues it.
//!
//! The reader task runs independently of the owner, so two parties that send each other a
//! large frame at the same moment both make progress: each side's reader drains the
//! other's frame into its bounded queue while the owner is still writing.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::wire::{
    Expect, HEADER_LEN, Header, Hello, SessionId, TAG_ABORT, TAG_BYE, TAG_HELLO, WIRE_VERSION,
    decode_control, encode_control, hex, node_name,
};

/// The reading half of a link's byte stream.
pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a link's byte stream.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// QUIC application close code: a clean end of session.
pub(crate) const CLOSE_DONE: u32 = 0;
/// QUIC application close code: this member aborted the session (the reason follows).
pub(crate) const CLOSE_ABORT: u32 = 1;

/// Frames a reader may queue before it stops reading (and flow control holds the peer).
const QUEUE_FRAMES: usize = 64;
/// The reader buffers at most this many KiB of frames the protocol has not taken yet (a frame
/// larger than that is read alone, once everything before it has been taken), so a peer
/// cannot make a member buffer gigabytes before the protocol checks a frame's length.
const READ_AHEAD_KIB: usize = 256 << 10;
/// The reader grows a payload buffer by at most this much before the bytes arrive.
const READ_CHUNK: usize = 1 << 20;

/// How a link can be closed.
#[derive(Clone)]
pub(crate) enum Closer {
    Quic(quinn::Connection),
    Tcp,
}

impl Closer {
    /// Closes a QUIC connection with `code` and `reason` (TCP links close when dropped).
    pub(crate) fn close(&self, code: u32, reason: &str) {
        if let Closer::Quic(c) = self {
            let reason = &reason.as_bytes()[..reason.len().min(800)];
            c.close(code.into(), reason);
        }
    }
}

/// A connection whose TLS handshake has completed and whose peer is identified by its
/// certificate, before the hello.
pub(crate) struct Established {
    /// The member whose pinned certificate the peer presented.
    pub(crate) peer: u16,
    pub(crate) reader: BoxRead,
    pub(crate) writer: BoxWrite,
    pub(crate) closer: Closer,
    /// 32 bytes of TLS exporter output for this connection.
    pub(crate) ekm: [u8; 32],
}

/// How a link ended.
#[derive(Debug, Clone)]
pub(crate) enum LinkEnd {
    /// The peer said goodbye: it finished the session.
    Bye,
    /// The peer aborted the session, with its reason.
    Aborted(String),
    /// The connection broke.
    Lost(String),
    /// The peer sent a frame that fails the checks.
    Bad(String),
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEnd::Bye => f.write_str("the peer finished the session"),
            LinkEnd::Aborted(why) => write!(f, "the peer aborted: {why}"),
            LinkEnd::Lost(why) => write!(f, "the link was lost: {why}"),
            LinkEnd::Bad(why) => write!(f, "a malformed frame: {why}"),
        }
    }
}

/// What the reader hands to the owner.
#[derive(Debug)]
pub(crate) enum Inbound {
    Frame { tag: u32, data: Vec<u8> },
    End(LinkEnd),
}

/// A live link.
pub(crate) struct Link {
    pub(crate) peer: u16,
    me: u16,
    session: SessionId,
    writer: BoxWrite,
    send_seq: u64,
    rx: mpsc::Receiver<Queued>,
    ended: Option<LinkEnd>,
    closer: Closer,
    reader: JoinHandle<()>,
}

fn binding(ekm: &[u8; 32], session: &SessionId) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"umbra session binding");
    ctx.update(ekm);
    ctx.update(session);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

/// Describes an I/O error from either transport in words that say what happened to the peer.
pub(crate) fn describe(e: &io::Error) -> String {
    if let Some(inner) = e.get_ref() {
        if let Some(quinn::ReadError::ConnectionLost(c)) = inner.downcast_ref::<quinn::ReadError>()
        {
            return describe_quic(c);
        }
        if let Some(quinn::WriteError::ConnectionLost(c)) =
            inner.downcast_ref::<quinn::WriteError>()
        {
            return describe_quic(c);
        }
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the connection closed".to_owned(),
        io::ErrorKind::ConnectionReset => "the connection was reset".to_owned(),
        io::ErrorKind::BrokenPipe => "the connection closed (the peer is gone)".to_owned(),
        _ => e.to_string(),
    }
}

pub(crate) fn describe_quic(c: &quinn::ConnectionError) -> String {
    match c {
        quinn::ConnectionError::TimedOut => {
            "no packets within the idle timeout: its process or host is gone".to_owned()
        }
        quinn::ConnectionError::ApplicationClosed(a) if a.error_code == CLOSE_ABORT.into() => {
            format!("it aborted: {}", String::from_utf8_lossy(&a.reason))
        }
        quinn::ConnectionError::ApplicationClosed(a) if a.error_code == CLOSE_DONE.into() => {
            "it closed the session".to_owned()
        }
        other => crate::tls::plain_tls_message(&other.to_string()),
    }
}

/// How a failed read ended the link: an abort the peer announced in its QUIC close, or a
/// lost connection.
fn end_of(e: &io::Error) -> LinkEnd {
    let closed = e
        .get_ref()
        .and_then(|i| match i.downcast_ref::<quinn::ReadError>() {
            Some(quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(
                a,
            ))) if a.error_code == CLOSE_ABORT.into() => {
                Some(String::from_utf8_lossy(&a.reason).into_owned())
            }
            _ => None,
        });
    match closed {
        Some(reason) => LinkEnd::Aborted(reason),
        None => LinkEnd::Lost(describe(e)),
    }
}

/// A received frame with its share of the read-ahead budget (given back when it is taken).
type Queued = (Inbound, Option<OwnedSemaphorePermit>);

async fn read_loop(
    mut r: BoxRead,
    mut expect: Expect,
    tx: mpsc::Sender<Queued>,
    budget: Arc<Semaphore>,
) {
    let end = loop {
        let mut hb = [0u8; HEADER_LEN];
        if let Err(e) = r.read_exact(&mut hb).await {
            break end_of(&e);
        }
        let h = Header::decode(&hb);
        if let Err(why) = expect.check(&h) {
            break LinkEnd::Bad(why);
        }
        let len = usize::try_from(h.len).expect("checked against the cap");
        let kib = len.div_ceil(1024).clamp(1, READ_AHEAD_KIB);
        let Ok(permit) = budget
            .clone()
            .acquire_many_owned(u32::try_from(kib).expect("the budget fits u32"))
            .await
        else {
            return;
        };
        let mut data = Vec::with_capacity(len.min(READ_CHUNK));
        let mut failed = None;
        while data.len() < len {
            let start = data.len();
            let step = (len - start).min(READ_CHUNK);
            data.resize(start + step, 0);
            if let Err(e) = r.read_exact(&mut data[start..]).await {
                failed = Some(match end_of(&e) {
                    // An abort may overtake the frame it interrupts.
                    aborted @ LinkEnd::Aborted(_) => aborted,
                    _ => LinkEnd::Lost(format!("{} in the middle of a frame", describe(&e))),
                });
                break;
            }
        }
        if let Some(end) = failed {
            break end;
        }
        match h.tag {
            TAG_BYE => break LinkEnd::Bye,
            TAG_ABORT => break LinkEnd::Aborted(String::from_utf8_lossy(&data).into_owned()),
            tag => {
                if tx
                    .send((Inbound::Frame { tag, data }, Some(permit)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    };
    let _ = tx.send((Inbound::End(end), None)).await;
}

async fn read_hello(r: &mut BoxRead, from: u16, me: u16) -> Result<(Header, Hello), String> {
    let mut hb = [0u8; HEADER_LEN];
    r.read_exact(&mut hb).await.map_err(|e| match end_of(&e) {
        LinkEnd::Aborted(reason) => reason,
        _ => format!("no hello: {}", describe(&e)),
    })?;
    let h = Header::decode(&hb);
    if h.tag != TAG_HELLO || h.seq != 0 {
        return Err("the first frame is not a hello".to_owned());
    }
    let mut expect = Expect {
        session: h.session,
        from,
        to: me,
        seq: 0,
    };
    // The hello tag is a control tag: `check` caps its length at MAX_CONTROL.
    expect.check(&h)?;
    let mut body = vec![0u8; h.len as usize];
    r.read_exact(&mut body)
        .await
        .map_err(|e| format!("truncated hello: {}", describe(&e)))?;
    let hello: Hello = decode_control(&body).map_err(|e| format!("hello {e}"))?;
    Ok((h, hello))
}

/// What a member expects of a peer's hello.
#[derive(Debug, Clone)]
pub(crate) struct HelloRules {
    pub(crate) me: u16,
    pub(crate) n_parties: u16,
    /// The session, or `None` for the dealer, which learns it from the party's hello.
    pub(crate) session: Option<SessionId>,
    /// Whether this side sends its hello before reading the peer's.
    pub(crate) speak_first: bool,
}

impl Link {
    /// Exchanges hellos on an established connection (within [`crate::net::HANDSHAKE`]) and
    /// starts the reader. Checks that the
    /// peer speaks this wire version, is in this session, claims the identity its certificate
    /// proves, addresses this member, has the same party count, and sees the same TLS channel
    /// (the binding).
    pub(crate) async fn open(est: Established, rules: &HelloRules) -> Result<Link, String> {
        let closer = est.closer.clone();
        let who = node_name(est.peer);
        let limit = crate::net::HANDSHAKE;
        let opened = tokio::time::timeout(limit, Self::open_inner(est, rules))
            .await
            .unwrap_or_else(|_| Err(format!("{who} sent no hello within {limit:?}")));
        if let Err(why) = &opened {
            // Tell the peer why, so both ends report the same reason.
            closer.close(
                CLOSE_ABORT,
                &format!("{} refused the link: {why}", node_name(rules.me)),
            );
        }
        opened
    }

    async fn open_inner(mut est: Established, rules: &HelloRules) -> Result<Link, String> {
        let peer = est.peer;
        let who = node_name(peer);
        if rules.speak_first {
            let session = rules
                .session
                .expect("the side that speaks first knows the session");
            send_hello(&mut est, rules, session).await?;
        }
        let (h, hello) = read_hello(&mut est.reader, peer, rules.me).await?;
        if hello.version != WIRE_VERSION {
            return Err(format!(
                "{who} speaks wire version {}, this build {WIRE_VERSION}",
                hello.version
            ));
        }
        if hello.from != peer {
            return Err(format!(
                "the peer holding {who}'s certificate claims to be {}",
                node_name(hello.from)
            ));
        }
        if hello.to != rules.me {
            return Err(format!(
                "{who} believes it is talking to {}, not {}",
                node_name(hello.to),
                node_name(rules.me)
            ));
        }
        let session = rules.session.unwrap_or(hello.session);
        if hello.session != session || h.session != session {
            return Err(format!(
                "{who} is in session {}, but {} is in session {}",
                hex(&hello.session),
                node_name(rules.me),
                hex(&session)
            ));
        }
        if hello.n_parties != rules.n_parties {
            return Err(format!(
                "{who} has {} parties in its cluster file, this member {}",
                hello.n_parties, rules.n_parties
            ));
        }
        if hello.binding != binding(&est.ekm, &session) {
            return Err(format!(
                "{who}'s hello is not bound to this TLS connection (relayed or spliced)"
            ));
        }
        if !rules.speak_first {
            send_hello(&mut est, rules, session).await?;
        }
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let expect = Expect {
            session,
            from: peer,
            to: rules.me,
            seq: 1,
        };
        let budget = Arc::new(Semaphore::new(READ_AHEAD_KIB));
        let reader = tokio::spawn(read_loop(est.reader, expect, tx, budget));
        Ok(Link {
            peer,
            me: rules.me,
            session,
            writer: est.writer,
            send_seq: 1,
            rx,
            ended: None,
            closer: est.closer,
            reader,
        })
    }

    /// The session this link belongs to.
    pub(crate) fn session(&self) -> SessionId {
        self.session
    }

    /// Writes one frame.
    pub(crate) async fn send(&mut self, tag: u32, payload: &[u8]) -> io::Result<()> {
        let h = Header {
            session: self.session,
            from: self.me,
            to: self.peer,
            tag,
            seq: self.send_seq,
            len: payload.len() as u64,
        };
        self.send_seq += 1;
        self.writer.write_all(&h.encode()).await?;
        self.writer.write_all(payload).await?;
        self.writer.flush().await
    }

    /// Writes raw bytes as they are, bypassing the framing: for fault-injection tests only.
    #[doc(hidden)]
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// The next frame, or how the link ended (sticky: once ended, always ended).
    pub(crate) async fn next(&mut self) -> Inbound {
        if let Some(end) = &self.ended {
            return Inbound::End(end.clone());
        }
        // The permit drops here: the frame no longer counts against the read-ahead.
        let item = self
            .rx
            .recv()
            .await
            .map(|(item, _permit)| item)
            .unwrap_or(Inbound::End(LinkEnd::Lost(
                "the link's reader stopped".to_owned(),
            )));
        if let Inbound::End(end) = &item {
            self.ended = Some(end.clone());
        }
        item
    }

    /// Whether the link has ended.
    pub(crate) fn ended(&self) -> Option<&LinkEnd> {
        self.ended.as_ref()
    }

    /// Closes the connection now (queued outgoing data may be lost: say goodbye first).
    pub(crate) fn close(&mut self, code: u32, reason: &str) {
        self.closer.close(code, reason);
        self.reader.abort();
    }

    /// Shuts down the writing side (TCP: TLS close_notify; QUIC: FIN).
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}

async fn send_hello(
    est: &mut Established,
    rules: &HelloRules,
    session: SessionId,
) -> Result<(), String> {
    let hello = Hello {
        version: WIRE_VERSION,
        session,
        from: rules.me,
        to: est.peer,
        n_parties: rules.n_parties,
        binding: binding(&est.ekm, &session),
    };
    let body = encode_control(&hello);
    let h = Header {
        session,
        from: rules.me,
        to: est.peer,
        tag: TAG_HELLO,
        seq: 0,
        len: body.len() as u64,
    };
    let mut frame = h.encode().to_vec();
    frame.extend_from_slice(&body);
    est.writer
        .write_all(&frame)
        .await
        .map_err(|e| format!("sending the hello: {}", describe(&e)))?;
    est.writer
        .flush()
        .await
        .map_err(|e| format!("sending the hello: {}", describe(&e)))?;
    Ok(())
}
