//! What travels on a link: fixed-size frame headers, control messages and the checks a
//! receiver makes before it trusts anything a peer sent.
//!
//! A frame is a 40-byte header followed by `len` payload bytes:
//!
//! | bytes | field | meaning |
//! |---|---|---|
//! | 0..16 | session | the session id every frame of the session carries |
//! | 16..18 | from | sender's node id (parties `0..n`, the dealer [`DEALER`]) |
//! | 18..20 | to | receiver's node id |
//! | 20..24 | tag | protocol step ([`step_tag`]) or a control tag (high bit set) |
//! | 24..32 | seq | per-link sequence number, starting at 0 with the hello |
//! | 32..40 | len | payload length in bytes |
//!
//! All integers are little-endian. Bulk payloads are raw little-endian `u64` words; control
//! payloads (hello, dealer messages) are postcard. The receiver checks session, sender,
//! receiver, sequence number and the length cap before it reads a single payload byte, and it
//! grows its buffer only as payload bytes actually arrive, so a lying length prefix costs at
//! most one read chunk of memory.

use mpc::TupleRequest;
use serde::{Deserialize, Serialize};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 40;

/// Largest payload any frame may carry (4 GiB): a cap for the framing layer; every protocol
/// step then checks the exact length it expects.
pub const MAX_FRAME: u64 = 1 << 32;

/// Largest control payload (hello, dealer requests, abort reasons).
pub const MAX_CONTROL: u64 = 1 << 20;

/// Version of the wire protocol; part of the ALPN string, so mismatched builds refuse each
/// other in the TLS handshake.
pub const WIRE_VERSION: u32 = 1;

/// The ALPN protocol id.
pub const ALPN: &[u8] = b"umbra/1";

/// The dealer's node id.
pub const DEALER: u16 = u16::MAX;

/// A session id: 128 random bits chosen by whoever starts the session.
pub type SessionId = [u8; 16];

/// The first frame on every link.
pub const TAG_HELLO: u32 = 0x8000_0001;
/// "I give up on this session": the payload is the reason, UTF-8.
pub const TAG_ABORT: u32 = 0x8000_0002;
/// "I am done with this session": the last frame of a clean shutdown.
pub const TAG_BYE: u32 = 0x8000_0003;
/// A dealer control message ([`DealerMsg`]).
pub const TAG_DEALER: u32 = 0x8000_0010;
/// A tensor the dealer sends (a correction).
pub const TAG_DEALER_DATA: u32 = 0x8000_0011;

/// The tag of protocol step `step`: 31 bits of FNV-1a over its name (control tags have the
/// high bit set, so the two never collide).
pub fn step_tag(step: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in step.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h & 0x7fff_ffff
}

/// A node's name as it appears in certificates and messages.
pub fn node_name(id: u16) -> String {
    if id == DEALER {
        "dealer".to_owned()
    } else {
        format!("party {id}")
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Session id.
    pub session: SessionId,
    /// Sender.
    pub from: u16,
    /// Receiver.
    pub to: u16,
    /// Step or control tag.
    pub tag: u32,
    /// Per-link sequence number.
    pub seq: u64,
    /// Payload bytes.
    pub len: u64,
}

impl Header {
    /// The 40 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..16].copy_from_slice(&self.session);
        b[16..18].copy_from_slice(&self.from.to_le_bytes());
        b[18..20].copy_from_slice(&self.to.to_le_bytes());
        b[20..24].copy_from_slice(&self.tag.to_le_bytes());
        b[24..32].copy_from_slice(&self.seq.to_le_bytes());
        b[32..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Reads a header (any 40 bytes parse; [`Expect::check`] decides whether to trust it).
    pub fn decode(b: &[u8; HEADER_LEN]) -> Self {
        let mut session = [0u8; 16];
        session.copy_from_slice(&b[..16]);
        let word = |r: std::ops::Range<usize>| {
            let mut w = [0u8; 8];
            w[..r.len()].copy_from_slice(&b[r]);
            u64::from_le_bytes(w)
        };
        Self {
            session,
            from: word(16..18) as u16,
            to: word(18..20) as u16,
            tag: word(20..24) as u32,
            seq: word(24..32),
            len: word(32..40),
        }
    }
}

/// What the receiving end of one link expects of the next frame.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The session.
    pub session: SessionId,
    /// The peer at the other end.
    pub from: u16,
    /// This node.
    pub to: u16,
    /// The next sequence number.
    pub seq: u64,
}

impl Expect {
    /// Checks `h` against the link and advances the sequence number. The error says what was
    /// wrong, in words a user can act on.
    ///
    /// # Errors
    /// Another session, sender or receiver, a replayed or skipped sequence number, or a
    /// length over the cap for its kind of frame.
    pub fn check(&mut self, h: &Header) -> Result<(), String> {
        if h.session != self.session {
            return Err(format!(
                "frame of session {} on a link of session {}",
                hex(&h.session),
                hex(&self.session)
            ));
        }
        if h.from != self.from || h.to != self.to {
            return Err(format!(
                "frame claims to go from {} to {}, but this link is from {} to {}",
                node_name(h.from),
                node_name(h.to),
                node_name(self.from),
                node_name(self.to)
            ));
        }
        if h.seq != self.seq {
            let what = if h.seq < self.seq {
                "replayed"
            } else {
                "out of order"
            };
            return Err(format!(
                "sequence number {} where {} was due ({what} frame)",
                h.seq, self.seq
            ));
        }
        let cap = if h.tag & 0x8000_0000 != 0 && h.tag != TAG_DEALER_DATA {
            MAX_CONTROL
        } else {
            MAX_FRAME
        };
        if h.len > cap {
            return Err(format!(
                "length prefix {} bytes exceeds the cap of {cap} bytes",
                h.len
            ));
        }
        self.seq += 1;
        Ok(())
    }
}

/// The first message on every link, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`WIRE_VERSION`].
    pub version: u32,
    /// The session the sender is in.
    pub session: SessionId,
    /// The sender's node id.
    pub from: u16,
    /// The node id the sender believes it talks to.
    pub to: u16,
    /// Parties in the sender's cluster.
    pub n_parties: u16,
    /// SHA-256 of the TLS exporter for this connection with the session id as context: binds
    /// the session to this TLS channel.
    pub binding: [u8; 32],
}

/// Messages between a party and the dealer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DealerMsg {
    /// Party → dealer: join the session (the party and session are those of the hello).
    Join,
    /// Dealer → party: the seed this party shares with the dealer for this session.
    Seed([u8; 16]),
    /// Party 0 → dealer: corrections for requests `first, first + 1, ...`.
    Requests {
        /// Number of the first request.
        first: u64,
        /// The requests, in order.
        reqs: Vec<TupleRequest>,
    },
}

/// Decodes a postcard control payload.
///
/// # Errors
/// Bytes that are not a `T`, or trailing bytes.
pub fn decode_control<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let (v, rest) = postcard::take_from_bytes(bytes).map_err(|e| format!("undecodable: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(v)
}

/// Encodes a control payload.
pub fn encode_control<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("control messages always serialize")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex of exactly `N` bytes.
///
/// # Errors
/// Wrong length or a non-hex digit.
pub fn unhex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let s = s.trim();
    if !s.is_ascii() {
        return Err("not hex: it has non-ASCII characters".into());
    }
    if s.len() != 2 * N {
        return Err(format!("expected {} hex digits, got {}", 2 * N, s.len()));
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("`{}` is not hex", &s[2 * i..2 * i + 2]))?;
    }
    Ok(out)
}

/// Everything a receiver does with untrusted bytes, as one function for the fuzzer: parse a
/// header, check it against a link, and decode whichever control message its tag names.
/// Never panics; returns whether the input was accepted.
pub fn fuzz_decode(data: &[u8]) -> bool {
    let Some(head) = data.get(..HEADER_LEN) else {
        return false;
    };
    let h = Header::decode(head.try_into().expect("40 bytes"));
    let mut expect = Expect {
        session: [7; 16],
        from: 1,
        to: 0,
        seq: 0,
    };
    if expect.check(&h).is_err() {
        return false;
    }
    let body = &data[HEADER_LEN..];
    if body.len() as u64 != h.len {
        return false;
    }
    match h.tag {
        TAG_HELLO => decode_control::<Hello>(body).is_ok(),
        TAG_DEALER => match decode_control::<DealerMsg>(body) {
            Ok(DealerMsg::Requests { reqs, .. }) => reqs.iter().all(|r| r.slots().is_ok()),
            Ok(_) => true,
            Err(_) => false,
        },
        TAG_ABORT => {
            let _ = String::from_utf8_lossy(body);
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(seq: u64, len: u64) -> Header {
        Header {
            session: [7; 16],
            from: 1,
            to: 0,
            tag: step_tag("beaver open"),
            seq,
            len,
        }
    }

    fn expect() -> Expect {
        Expect {
            session: [7; 16],
            from: 1,
            to: 0,
            seq: 0,
        }
    }

    #[test]
    fn headers_round_trip_and_checks_name_the_fault() {
        let h = header(0, 64);
        assert_eq!(Header::decode(&h.encode()), h);
        let mut e = expect();
        e.check(&h).unwrap();
        assert!(e.check(&h).unwrap_err().contains("replayed"));
        assert!(e.check(&header(5, 8)).unwrap_err().contains("out of order"));
        let mut other = header(1, 8);
        other.session[0] ^= 1;
        assert!(e.check(&other).unwrap_err().contains("session"));
        let mut swapped = header(1, 8);
        swapped.from = 2;
        assert!(e.check(&swapped).unwrap_err().contains("party 2"));
        let huge = header(1, u64::MAX);
        assert!(e.check(&huge).unwrap_err().contains("exceeds the cap"));
        let mut big_control = header(1, MAX_CONTROL + 1);
        big_control.tag = TAG_HELLO;
        assert!(e.check(&big_control).is_err());
        e.check(&header(1, MAX_FRAME)).unwrap();
    }

    #[test]
    fn step_tags_differ_and_never_look_like_control() {
        let steps = [
            "beaver open",
            "reveal",
            "and open",
            "trunc open",
            "setup hello",
        ];
        for (i, a) in steps.iter().enumerate() {
            assert_eq!(step_tag(a) & 0x8000_0000, 0);
            for b in &steps[i + 1..] {
                assert_ne!(step_tag(a), step_tag(b));
            }
        }
    }

    #[test]
    fn control_messages_round_trip() {
        let hello = Hello {
            version: WIRE_VERSION,
            session: [3; 16],
            from: 2,
            to: DEALER,
            n_parties: 3,
            binding: [9; 32],
        };
        assert_eq!(
            decode_control::<Hello>(&encode_control(&hello)).unwrap(),
            hello
        );
        let msg = DealerMsg::Requests {
            first: 4,
            reqs: vec![TupleRequest::Matmul {
                a: vec![2, 3],
                b: vec![3, 4],
            }],
        };
        assert_eq!(
            decode_control::<DealerMsg>(&encode_control(&msg)).unwrap(),
            msg
        );
        let mut bytes = encode_control(&msg);
        bytes.push(0);
        assert!(
            decode_control::<DealerMsg>(&bytes)
                .unwrap_err()
                .contains("trailing")
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let b = [0xab, 0x01, 0xff];
        assert_eq!(unhex::<3>(&hex(&b)).unwrap(), b);
        assert!(unhex::<3>("abc").is_err());
        assert!(unhex::<2>("zz00").unwrap_err().contains("zz"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        // What the fuzz target runs, on stable: arbitrary bytes never panic the decoders.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = fuzz_decode(&data);
        }

        #[test]
        fn valid_headers_with_random_control_bodies_never_panic(
            tag in prop_oneof![Just(TAG_HELLO), Just(TAG_DEALER), Just(TAG_ABORT)],
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let h = Header { tag, len: body.len() as u64, ..header(0, 0) };
            let mut data = h.encode().to_vec();
            data.extend_from_slice(&body);
            let _ = fuzz_decode(&data);
        }
    }
}
