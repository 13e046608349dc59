//! The mpc crate's error type.

/// Everything that can go wrong in a protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plaintext tensor operation failed (shapes, scales, encoding).
    #[error(transparent)]
    Tensor(#[from] tensor::Error),
    /// A party index that does not exist in this session.
    #[error("party {party} does not exist in a session of {n_parties} parties")]
    UnknownParty {
        /// The index asked for.
        party: usize,
        /// Parties in the session.
        n_parties: usize,
    },
    /// Secret sharing needs at least two parties.
    #[error("a session needs at least 2 parties, got {0}")]
    TooFewParties(usize),
    /// A peer closed its end of the link (it exited or failed).
    #[error("party {peer} disconnected at step `{step}` (it exited, crashed or lost the link)")]
    Disconnected {
        /// The peer that went away.
        peer: usize,
        /// The protocol step this party was in.
        step: &'static str,
    },
    /// A receive waited longer than the configured timeout.
    #[error("timed out after {timeout_ms} ms waiting for party {peer} at step `{step}`")]
    Timeout {
        /// The silent peer.
        peer: usize,
        /// The protocol step this party was in.
        step: &'static str,
        /// The timeout that fired.
        timeout_ms: u128,
    },
    /// A peer gave up on the session and said why (its own error, forwarded).
    #[error("party {peer} aborted the session: {reason}")]
    PeerAborted {
        /// The peer that aborted.
        peer: usize,
        /// The peer's reason, as it sent it.
        reason: String,
    },
    /// A frame that is not what the link expects next: another session, another sender, a
    /// replayed or reordered sequence number, another protocol step, or an oversized length.
    #[error("malformed frame from party {peer}: {reason}")]
    BadFrame {
        /// The sender.
        peer: usize,
        /// What was wrong.
        reason: String,
    },
    /// A link to a peer failed in a way the transport describes (setup, TLS, I/O).
    #[error("link to party {peer}: {reason}")]
    Link {
        /// The peer.
        peer: usize,
        /// What failed.
        reason: String,
    },
    /// A frame had a different length from the one the protocol step expects.
    #[error("frame from party {peer} at step `{step}` has {got} bytes, expected {expected}")]
    FrameLength {
        /// Sender.
        peer: usize,
        /// Protocol step.
        step: &'static str,
        /// Bytes the step expects.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A party tried to send to or receive from itself.
    #[error("party {0} cannot message itself")]
    SelfMessage(usize),
    /// The correlated-randomness source failed or returned something malformed.
    #[error("triple source: {0}")]
    TripleSource(String),
    /// Operands belong to different sessions.
    #[error("{op}: operands belong to different sessions")]
    SessionMismatch {
        /// The operation that failed.
        op: &'static str,
    },
    /// An operation needs a private operand but got only public ones, or similar misuse.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The operation that failed.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("os randomness unavailable: {0}")]
    Randomness(String),
    /// A peer runs with different settings (checked at setup).
    #[error("party {peer} runs with {setting} = {theirs}, this party expects {ours}")]
    ConfigMismatch {
        /// The peer.
        peer: usize,
        /// Which setting differs.
        setting: &'static str,
        /// This party's value.
        ours: u64,
        /// The peer's value.
        theirs: u64,
    },
    /// An earlier protocol step failed, so the parties are out of step; the session is over.
    #[error("the session was aborted by an earlier protocol failure")]
    Aborted,
    /// The triple source returned a tuple that does not fit the request.
    #[error(
        "triple source returned a malformed tuple: slot {slot} should be {expected}, got {got}"
    )]
    MalformedTuple {
        /// First slot that is wrong.
        slot: usize,
        /// What the request needs.
        expected: String,
        /// What came back.
        got: String,
    },
    /// A prefetched tuple does not match what the protocol asked for next.
    #[error("prefetched a tuple for {prefetched} but the protocol asked for {requested}")]
    PrefetchMismatch {
        /// The request at the head of the prefetch queue.
        prefetched: String,
        /// The request the protocol made.
        requested: String,
    },
    /// A party's thread panicked in an in-process run.
    #[error("party {0} panicked")]
    PartyPanicked(usize),
}

/// Result alias for the mpc crate.
pub type Result<T> = std::result::Result<T, Error>;
