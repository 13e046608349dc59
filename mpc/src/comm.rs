//! How parties talk: the [`Comm`] trait, an in-process mesh, and a counting decorator.
//!
//! Protocols see only byte frames exchanged with numbered peers. Frames between one pair of
//! parties arrive in the order they were sent (per-peer FIFO); there is no ordering across
//! peers. Bulk payloads are raw little-endian `u64` words; the receiver checks every frame's
//! length against what the protocol step expects before using it ([`recv_u64s`]).
//!
//! The QUIC transport (crate `party`) implements the same trait; nothing in `mpc` opens a
//! socket.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Largest number of parties (the in-process mesh needs n² channels).
pub const MAX_PARTIES: usize = 256;

/// A party's handle on the links to its peers.
///
/// Implementations must deliver frames between a pair of parties in order, must never block
/// forever on `recv` (a dead or silent peer becomes [`Error::Disconnected`] or
/// [`Error::Timeout`]), and must not buffer unboundedly on the sender side in a way that can
/// deadlock two parties sending large frames to each other at once.
///
/// Every frame carries the name of the protocol step that sends it. A network transport
/// puts a tag derived from it in the frame header and refuses a frame whose tag differs from
/// the step the receiver is in, so parties that fall out of step fail with an error naming
/// the step instead of misreading each other's frames.
pub trait Comm: Send {
    /// This party's index, `0..n_parties()`.
    fn party(&self) -> usize;
    /// Number of parties in the session.
    fn n_parties(&self) -> usize;
    /// Sends one frame of protocol step `step` to `to`.
    ///
    /// # Errors
    /// Unknown or own index, or a broken link.
    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> Result<()>;
    /// Receives the next frame from `from`, which must belong to protocol step `step`.
    ///
    /// # Errors
    /// Unknown or own index, a broken link, a frame of another step, or the receive timeout.
    fn recv(&mut self, from: usize, step: &'static str) -> Result<Vec<u8>>;

    /// Receives the next frame from `from`, which the protocol step `step` expects to be
    /// exactly `len` bytes long. Transports that read a length prefix should override this to
    /// reject a wrong length before using anything sized by the peer.
    ///
    /// # Errors
    /// As [`Comm::recv`], plus [`Error::FrameLength`].
    fn recv_expect(&mut self, from: usize, len: usize, step: &'static str) -> Result<Vec<u8>> {
        let frame = self.recv(from, step)?;
        if frame.len() != len {
            return Err(Error::FrameLength {
                peer: from,
                step,
                expected: len,
                got: frame.len(),
            });
        }
        Ok(frame)
    }

    /// Tells every peer that this party gives up on the session, and why, so that they fail
    /// at once with [`Error::PeerAborted`] instead of waiting for a timeout. Best effort:
    /// never blocks for long and never fails. The in-process mesh needs nothing here (a
    /// party's channels close when its thread ends).
    fn abort(&mut self, reason: &str) {
        let _ = reason;
    }

    /// Sends `frame` to every peer, then receives one frame from each: one round. Returns the
    /// peers' frames indexed by party (this party's slot is empty).
    ///
    /// # Errors
    /// A broken link or a timeout.
    fn exchange(&mut self, frame: Vec<u8>, step: &'static str) -> Result<Vec<Vec<u8>>> {
        let (me, n) = (self.party(), self.n_parties());
        for p in (0..n).filter(|&p| p != me) {
            self.send(p, frame.clone(), step)?;
        }
        let mut out = vec![Vec::new(); n];
        for (p, slot) in out.iter_mut().enumerate().filter(|(p, _)| *p != me) {
            *slot = self.recv(p, step)?;
        }
        Ok(out)
    }

    /// `root` sends `frame` to every other party, which receive it; every party returns the
    /// frame. Only `root` passes `Some`.
    ///
    /// # Errors
    /// `root` unknown, `frame` given by a non-root or missing at the root, or a link failure.
    fn broadcast(
        &mut self,
        root: usize,
        frame: Option<Vec<u8>>,
        step: &'static str,
    ) -> Result<Vec<u8>> {
        let (me, n) = (self.party(), self.n_parties());
        if root >= n {
            return Err(Error::UnknownParty {
                party: root,
                n_parties: n,
            });
        }
        match (me == root, frame) {
            (true, Some(f)) => {
                for p in (0..n).filter(|&p| p != me) {
                    self.send(p, f.clone(), step)?;
                }
                Ok(f)
            }
            (false, None) => self.recv(root, step),
            (true, None) => Err(Error::InvalidArgument {
                op: "broadcast",
                reason: format!("root {root} has no frame to send"),
            }),
            (false, Some(_)) => Err(Error::InvalidArgument {
                op: "broadcast",
                reason: format!("party {me} is not the root ({root}) and must not pass a frame"),
            }),
        }
    }
}

impl<C: Comm + ?Sized> Comm for Box<C> {
    fn party(&self) -> usize {
        (**self).party()
    }
    fn n_parties(&self) -> usize {
        (**self).n_parties()
    }
    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> Result<()> {
        (**self).send(to, frame, step)
    }
    fn recv(&mut self, from: usize, step: &'static str) -> Result<Vec<u8>> {
        (**self).recv(from, step)
    }
    fn recv_expect(&mut self, from: usize, len: usize, step: &'static str) -> Result<Vec<u8>> {
        (**self).recv_expect(from, len, step)
    }
    fn abort(&mut self, reason: &str) {
        (**self).abort(reason);
    }
}

/// Encodes words as a little-endian frame.
pub fn encode_u64s(words: &[u64]) -> Vec<u8> {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice(words).to_vec()
    } else {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Decodes a little-endian frame of exactly `expected` words.
///
/// # Errors
/// [`Error::FrameLength`] if the frame is not `8 * expected` bytes.
pub fn decode_u64s(
    frame: &[u8],
    expected: usize,
    peer: usize,
    step: &'static str,
) -> Result<Vec<u64>> {
    if frame.len() != expected * 8 {
        return Err(Error::FrameLength {
            peer,
            step,
            expected: expected * 8,
            got: frame.len(),
        });
    }
    Ok(frame
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect())
}

/// Receives a frame of exactly `expected` words from `from`.
///
/// # Errors
/// Link errors, or a frame of the wrong length.
pub fn recv_u64s(
    comm: &mut dyn Comm,
    from: usize,
    expected: usize,
    step: &'static str,
) -> Result<Vec<u64>> {
    let frame = comm.recv_expect(from, expected * 8, step)?;
    decode_u64s(&frame, expected, from, step)
}

/// Sends `words` to every other party, then receives `expected` words from each. Returns the
/// peers' words indexed by party (this party's own slot is empty). One round.
///
/// # Errors
/// Link errors or frames of the wrong length.
pub fn exchange_u64s(
    comm: &mut dyn Comm,
    words: &[u64],
    expected: usize,
    step: &'static str,
) -> Result<Vec<Vec<u64>>> {
    let me = comm.party();
    let frames = comm.exchange(encode_u64s(words), step)?;
    frames
        .iter()
        .enumerate()
        .map(|(p, f)| {
            if p == me {
                Ok(Vec::new())
            } else {
                decode_u64s(f, expected, p, step)
            }
        })
        .collect()
}

/// The default receive timeout of the in-process mesh.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// In-process link set: one thread per party, one FIFO channel per ordered pair.
///
/// Channels are unbounded, so simultaneous large sends never deadlock; memory is bounded by
/// what the protocol sends in one round.
pub struct LocalComm {
    party: usize,
    senders: Vec<Option<Sender<Vec<u8>>>>,
    receivers: Vec<Option<Receiver<Vec<u8>>>>,
    timeout: Duration,
}

impl std::fmt::Debug for LocalComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalComm")
            .field("party", &self.party)
            .field("n_parties", &self.senders.len())
            .finish()
    }
}

impl LocalComm {
    /// A fully connected mesh of `n` parties; element `i` is party `i`'s handle.
    ///
    /// # Errors
    /// Fewer than two parties.
    pub fn mesh(n: usize) -> Result<Vec<LocalComm>> {
        if n < 2 {
            return Err(Error::TooFewParties(n));
        }
        if n > MAX_PARTIES {
            return Err(Error::InvalidArgument {
                op: "mesh",
                reason: format!("{n} parties exceed the maximum of {}", MAX_PARTIES),
            });
        }
        let mut senders: Vec<Vec<Option<Sender<Vec<u8>>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        let mut receivers: Vec<Vec<Option<Receiver<Vec<u8>>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        for from in 0..n {
            for to in (0..n).filter(|&t| t != from) {
                let (tx, rx) = channel();
                senders[from][to] = Some(tx);
                receivers[to][from] = Some(rx);
            }
        }
        Ok(senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(party, (senders, receivers))| LocalComm {
                party,
                senders,
                receivers,
                timeout: DEFAULT_TIMEOUT,
            })
            .collect())
    }

    /// Sets how long `recv` waits before failing with [`Error::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn check_peer(&self, peer: usize) -> Result<()> {
        if peer >= self.senders.len() {
            return Err(Error::UnknownParty {
                party: peer,
                n_parties: self.senders.len(),
            });
        }
        if peer == self.party {
            return Err(Error::SelfMessage(peer));
        }
        Ok(())
    }
}

impl Comm for LocalComm {
    fn party(&self) -> usize {
        self.party
    }

    fn n_parties(&self) -> usize {
        self.senders.len()
    }

    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> Result<()> {
        self.check_peer(to)?;
        let tx = self.senders[to]
            .as_ref()
            .expect("mesh has a sender per peer");
        tx.send(frame)
            .map_err(|_| Error::Disconnected { peer: to, step })
    }

    fn recv(&mut self, from: usize, step: &'static str) -> Result<Vec<u8>> {
        self.check_peer(from)?;
        let rx = self.receivers[from]
            .as_ref()
            .expect("mesh has a receiver per peer");
        rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => Error::Timeout {
                peer: from,
                step,
                timeout_ms: self.timeout.as_millis(),
            },
            RecvTimeoutError::Disconnected => Error::Disconnected { peer: from, step },
        })
    }
}

/// What one party has sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommStats {
    /// Payload bytes sent (framing of the transport not included).
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Communication rounds: a round starts with the first send after a receive (or the
    /// first send of the session). Sending to every peer and then receiving from every peer
    /// is one round; a reply to a received frame is a new round.
    pub rounds: u64,
}

impl std::ops::Sub for CommStats {
    type Output = CommStats;
    fn sub(self, o: CommStats) -> CommStats {
        CommStats {
            bytes_sent: self.bytes_sent.saturating_sub(o.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(o.bytes_received),
            messages_sent: self.messages_sent.saturating_sub(o.messages_sent),
            rounds: self.rounds.saturating_sub(o.rounds),
        }
    }
}

/// A decorator that counts bytes, messages and rounds (CrypTen's communication stats).
#[derive(Debug)]
pub struct CountingComm<C> {
    inner: C,
    stats: CommStats,
    in_send_phase: bool,
}

impl<C: Comm> CountingComm<C> {
    /// Wraps a link set.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            stats: CommStats::default(),
            in_send_phase: false,
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> CommStats {
        self.stats
    }

    /// Zeroes the counts.
    pub fn reset(&mut self) {
        self.stats = CommStats::default();
        self.in_send_phase = false;
    }
}

impl<C: Comm> Comm for CountingComm<C> {
    fn party(&self) -> usize {
        self.inner.party()
    }
    fn n_parties(&self) -> usize {
        self.inner.n_parties()
    }
    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> Result<()> {
        let len = frame.len() as u64;
        self.inner.send(to, frame, step)?;
        if !self.in_send_phase {
            self.stats.rounds += 1;
            self.in_send_phase = true;
        }
        self.stats.bytes_sent += len;
        self.stats.messages_sent += 1;
        Ok(())
    }
    fn recv(&mut self, from: usize, step: &'static str) -> Result<Vec<u8>> {
        let frame = self.inner.recv(from, step)?;
        self.count_received(&frame);
        Ok(frame)
    }
    fn recv_expect(&mut self, from: usize, len: usize, step: &'static str) -> Result<Vec<u8>> {
        let frame = self.inner.recv_expect(from, len, step)?;
        self.count_received(&frame);
        Ok(frame)
    }
    fn abort(&mut self, reason: &str) {
        self.inner.abort(reason);
    }
}

impl<C> CountingComm<C> {
    fn count_received(&mut self, frame: &[u8]) {
        self.in_send_phase = false;
        self.stats.bytes_received += frame.len() as u64;
    }
}

/// An emulated network link for benchmarks: a round-trip time and a bandwidth cap per
/// direction. The machines here have no `sch_netem`, so the delay is added in user space by
/// [`EmulatedComm`] (between parties) and [`crate::provider::EmulatedSource`] (party 0 and the dealer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkProfile {
    /// Round-trip time.
    pub rtt: Duration,
    /// Bandwidth of each direction, in bits per second.
    pub bits_per_s: f64,
}

impl LinkProfile {
    /// A data-centre LAN: 0.5 ms round trip, 1 Gbit/s.
    pub const LAN: LinkProfile = LinkProfile {
        rtt: Duration::from_micros(500),
        bits_per_s: 1e9,
    };
    /// Between organisations: 40 ms round trip, 100 Mbit/s.
    pub const WAN: LinkProfile = LinkProfile {
        rtt: Duration::from_millis(40),
        bits_per_s: 100e6,
    };

    /// `lan`, `wan`, or `RTT_MS,MBIT_PER_S` (e.g. `20,500`).
    ///
    /// # Errors
    /// Anything else, or non-positive values.
    pub fn parse(text: &str) -> Result<LinkProfile> {
        let bad = |why: &str| Error::InvalidArgument {
            op: "link",
            reason: format!("`{text}`: {why} (expected lan, wan or RTT_MS,MBIT_PER_S)"),
        };
        match text {
            "lan" => return Ok(Self::LAN),
            "wan" => return Ok(Self::WAN),
            _ => {}
        }
        let (rtt, mbit) = text.split_once(',').ok_or_else(|| bad("no comma"))?;
        let rtt: f64 = rtt.trim().parse().map_err(|_| bad("round-trip time"))?;
        let mbit: f64 = mbit.trim().parse().map_err(|_| bad("bandwidth"))?;
        if !(rtt >= 0.0 && rtt.is_finite() && mbit > 0.0 && mbit.is_finite()) {
            return Err(bad("values out of range"));
        }
        Ok(LinkProfile {
            rtt: Duration::from_secs_f64(rtt / 1e3),
            bits_per_s: mbit * 1e6,
        })
    }

    /// Time to push `bytes` through the link.
    pub fn transfer(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_s)
    }
}

/// A [`Comm`] decorator that delivers each frame one way (`rtt / 2`) after its last byte has
/// left, with each outgoing link sending one frame after another at the capped bandwidth.
/// For in-process benchmarks and tests: sender and receiver must share a clock (threads of
/// one process), which they do through `epoch`. Eight bytes of arrival time travel ahead of
/// every frame and are removed on receipt (a [`CountingComm`] above this one does not see
/// them).
pub struct EmulatedComm<C> {
    inner: C,
    link: LinkProfile,
    epoch: Instant,
    /// When each outgoing link is free again.
    busy_until: Vec<Instant>,
}

impl<C: Comm> EmulatedComm<C> {
    /// Wraps `inner`; every party of the session must use the same `epoch`.
    pub fn new(inner: C, link: LinkProfile, epoch: Instant) -> Self {
        let n = inner.n_parties();
        Self {
            inner,
            link,
            epoch,
            busy_until: vec![epoch; n],
        }
    }

    fn strip(&self, from: usize, step: &'static str, mut frame: Vec<u8>) -> Result<Vec<u8>> {
        if frame.len() < 8 {
            return Err(Error::FrameLength {
                peer: from,
                step,
                expected: 8,
                got: frame.len(),
            });
        }
        let nanos = u64::from_le_bytes(frame[..8].try_into().expect("8 bytes"));
        let arrival = self.epoch + Duration::from_nanos(nanos);
        let now = Instant::now();
        if arrival > now {
            std::thread::sleep(arrival - now);
        }
        frame.drain(..8);
        Ok(frame)
    }
}

impl<C: Comm> Comm for EmulatedComm<C> {
    fn party(&self) -> usize {
        self.inner.party()
    }
    fn n_parties(&self) -> usize {
        self.inner.n_parties()
    }
    fn send(&mut self, to: usize, frame: Vec<u8>, step: &'static str) -> Result<()> {
        let start = Instant::now().max(*self.busy_until.get(to).unwrap_or(&self.epoch));
        let sent = start + self.link.transfer(frame.len());
        if let Some(b) = self.busy_until.get_mut(to) {
            *b = sent;
        }
        let arrival = sent + self.link.rtt / 2;
        let nanos = u64::try_from((arrival - self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(frame.len() + 8);
        out.extend_from_slice(&nanos.to_le_bytes());
        out.extend_from_slice(&frame);
        self.inner.send(to, out, step)
    }
    fn recv(&mut self, from: usize, step: &'static str) -> Result<Vec<u8>> {
        let frame = self.inner.recv(from, step)?;
        self.strip(from, step, frame)
    }
    fn recv_expect(&mut self, from: usize, len: usize, step: &'static str) -> Result<Vec<u8>> {
        let frame = self.inner.recv_expect(from, len + 8, step)?;
        self.strip(from, step, frame)
    }
    fn abort(&mut self, reason: &str) {
        self.inner.abort(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emulated_link_delays_by_half_the_round_trip_plus_the_transfer() {
        let link = LinkProfile::parse("40,100").unwrap();
        assert_eq!(link, LinkProfile::WAN);
        assert!(LinkProfile::parse("40").is_err());
        assert!(LinkProfile::parse("-1,100").is_err());
        let epoch = Instant::now();
        let mut mesh = LocalComm::mesh(2).unwrap().into_iter();
        let mut a = EmulatedComm::new(mesh.next().unwrap(), link, epoch);
        let mut b = EmulatedComm::new(mesh.next().unwrap(), link, epoch);
        let t0 = Instant::now();
        // 1 MB at 100 Mbit/s is 80 ms on the wire, then 20 ms one way
        a.send(1, vec![7u8; 1_000_000], "bulk").unwrap();
        let got = b.recv_expect(0, 1_000_000, "bulk").unwrap();
        assert_eq!(got, vec![7u8; 1_000_000]);
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        // a tiny reply costs one more one-way delay
        b.send(0, vec![1], "ack").unwrap();
        assert_eq!(a.recv(1, "ack").unwrap(), vec![1]);
        assert!(t0.elapsed() >= took + Duration::from_millis(20));
    }

    #[test]
    fn frames_arrive_in_order_and_are_counted() {
        let mut mesh = LocalComm::mesh(2)
            .unwrap()
            .into_iter()
            .map(CountingComm::new)
            .collect::<Vec<_>>();
        let (a, b) = mesh.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        a.send(1, encode_u64s(&[1, 2]), "t").unwrap();
        a.send(1, encode_u64s(&[3]), "t").unwrap();
        assert_eq!(recv_u64s(b, 0, 2, "t").unwrap(), vec![1, 2]);
        assert!(matches!(
            recv_u64s(b, 0, 2, "t"),
            Err(Error::FrameLength {
                expected: 16,
                got: 8,
                ..
            })
        ));
        assert_eq!(
            a.stats(),
            CommStats {
                bytes_sent: 24,
                bytes_received: 0,
                messages_sent: 2,
                rounds: 1
            }
        );
        assert_eq!(b.stats().rounds, 0);
    }

    #[test]
    fn exchange_and_broadcast_reach_every_party() {
        let mesh = LocalComm::mesh(3).unwrap();
        let out: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = mesh
                .into_iter()
                .map(|mut c| {
                    s.spawn(move || {
                        let me = c.party() as u64;
                        let ex = exchange_u64s(&mut c, &[me, me * 10], 2, "t").unwrap();
                        let root = (c.party() == 1).then(|| encode_u64s(&[77]));
                        let b = c.broadcast(1, root, "t").unwrap();
                        let wrong = c.broadcast(1, Some(vec![1]), "t");
                        (ex, b, wrong.is_err() || c.party() == 1)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (p, (ex, b, refused)) in out.iter().enumerate() {
            for (q, words) in ex.iter().enumerate() {
                let want = if p == q {
                    vec![]
                } else {
                    vec![q as u64, q as u64 * 10]
                };
                assert_eq!(words, &want);
            }
            assert_eq!(decode_u64s(b, 1, 1, "t").unwrap(), vec![77]);
            assert!(refused);
        }
    }

    #[test]
    fn bad_peers_and_dead_peers_give_errors() {
        assert!(matches!(LocalComm::mesh(1), Err(Error::TooFewParties(1))));
        let mut mesh = LocalComm::mesh(3).unwrap();
        let c = mesh.pop().unwrap();
        let mut a = mesh.remove(0);
        assert!(matches!(
            a.send(5, vec![], "t"),
            Err(Error::UnknownParty {
                party: 5,
                n_parties: 3
            })
        ));
        assert!(matches!(a.recv(0, "t"), Err(Error::SelfMessage(0))));
        drop(c);
        assert!(matches!(
            a.recv(2, "t"),
            Err(Error::Disconnected { peer: 2, step: "t" })
        ));
        a.set_timeout(Duration::from_millis(20));
        assert!(matches!(
            a.recv(1, "t"),
            Err(Error::Timeout { peer: 1, .. })
        ));
    }
}
