//! The dealer service and its party-side client.
//!
//! The dealer shares one fresh seed with each party of a session (sent over the party's
//! authenticated link at join). Every party expands its tuple shares from that seed itself;
//! only party 0 asks for anything more: for each batch of requests the dealer recomputes all
//! parties' expansions and returns party 0's corrections (`mpc::provider` describes the seed
//! scheme). Requests travel in batches ([`mpc::TripleSource::fetch_many`]), so prefetching
//! the tuples of a whole computation costs one round trip.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpc::provider::{DealerCore, assemble_tuple, sent_to};
use mpc::{RingTensor, Seed, TripleSource, TupleRequest};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::link::{CLOSE_ABORT, CLOSE_DONE, Inbound, Link, LinkEnd};
use crate::net::{Node, NodeConfig};
use crate::wire::{
    DEALER, DealerMsg, SessionId, TAG_ABORT, TAG_BYE, TAG_DEALER, TAG_DEALER_DATA, decode_control,
    encode_control, hex, node_name,
};

/// Requests per batch message (keeps each control message far below its cap).
const BATCH: usize = 512;

/// Ended session ids remembered (so a replayed id is refused); the oldest are forgotten first.
const MAX_ENDED: usize = 1 << 16;

/// What one request and one session may ask the dealer for, counted in ring elements over all
/// the slots of a tuple, and how long an unfinished session's state is kept. A request past a
/// limit is refused, with an error naming the limit, to its own session only; the dealer and
/// its other sessions go on. Computing one request holds about `(parties + 1) · 8` bytes per
/// element, so `max_request_elements` bounds the dealer's memory per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealerLimits {
    /// Elements of one tuple request, summed over its slots.
    pub max_request_elements: u64,
    /// Elements of all the requests of one session.
    pub max_session_elements: u64,
    /// A session none of whose parties is connected is forgotten after this long.
    pub session_idle: Duration,
}

impl Default for DealerLimits {
    fn default() -> Self {
        Self {
            // 2^26 elements: 512 MiB of words per request (a 4096 x 4096 matmul triple is
            // 3 · 2^24), so a 2-party dealer needs about 1.5 GiB for the largest request.
            max_request_elements: 1 << 26,
            max_session_elements: 1 << 36,
            session_idle: Duration::from_secs(600),
        }
    }
}

struct SessionState {
    core: Arc<DealerCore>,
    seeds: Vec<[u8; 16]>,
    joined: Vec<bool>,
    /// Parties whose conversation has ended.
    done: usize,
    /// Conversations still open.
    live: usize,
    /// Elements served so far (party 0's requests).
    served: u64,
    last_seen: Instant,
}

struct Shared {
    n: usize,
    limits: DealerLimits,
    recv: Duration,
    sessions: Mutex<HashMap<SessionId, SessionState>>,
    /// Sessions that have ended: a session id is never served twice (a replayed or reused id
    /// would otherwise get fresh seeds that the other parties do not have).
    ended: Mutex<Ended>,
    completed: Mutex<usize>,
    finished: Notify,
}

/// The ended session ids, bounded: the oldest are forgotten first.
#[derive(Default)]
struct Ended {
    ids: HashSet<SessionId>,
    order: VecDeque<SessionId>,
}

impl Ended {
    fn insert(&mut self, id: SessionId) {
        if self.ids.insert(id) {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_ENDED {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

impl Shared {
    /// Forgets the sessions nobody is connected to that have been idle past the limit (a
    /// party died before the others joined): they count as ended.
    fn expire(&self) {
        let mut sessions = self.sessions.lock().expect("dealer state");
        let idle = self.limits.session_idle;
        let stale: Vec<SessionId> = sessions
            .iter()
            .filter(|(_, s)| s.live == 0 && s.last_seen.elapsed() >= idle)
            .map(|(id, _)| *id)
            .collect();
        let mut ended = self.ended.lock().expect("dealer state");
        for id in stale {
            sessions.remove(&id);
            ended.insert(id);
            tracing::info!("session {}: expired after {idle:?} idle", hex(&id));
        }
    }
}

/// Elements of all the slots of `req`, saturating (a request past `u64` is past every limit).
fn request_elements(req: &TupleRequest) -> std::result::Result<u64, String> {
    let slots = req.slots().map_err(|e| format!("bad request: {e}"))?;
    Ok(slots.iter().fold(0u64, |acc, (shape, _)| {
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        acc.saturating_add(n)
    }))
}

/// Runs the dealer service for `cfg.cluster` until `sessions` sessions have ended (forever
/// if `None`), with the default [`DealerLimits`].
///
/// # Errors
/// The node cannot start (key, address); per-connection failures are logged, not fatal.
pub fn serve(cfg: NodeConfig, sessions: Option<usize>) -> Result<()> {
    serve_with(cfg, sessions, DealerLimits::default())
}

/// [`serve`] with explicit limits.
///
/// # Errors
/// As [`serve`].
pub fn serve_with(cfg: NodeConfig, sessions: Option<usize>, limits: DealerLimits) -> Result<()> {
    if cfg.me != DEALER {
        return Err(Error::Config(
            "the dealer runs with the dealer's identity".into(),
        ));
    }
    let node = Arc::new(Node::start(cfg)?);
    let shared = Arc::new(Shared {
        n: node.cluster.n_parties(),
        limits,
        recv: node.timeouts.recv,
        sessions: Mutex::new(HashMap::new()),
        ended: Mutex::new(Ended::default()),
        completed: Mutex::new(0),
        finished: Notify::new(),
    });
    let listener = node.listener();
    let dialer = node.dialer();
    let rules = node.rules(false);
    let accept = {
        let shared = shared.clone();
        async move {
            while let Some(p) = listener.next().await {
                let (dialer, rules, shared) = (dialer.clone(), rules.clone(), shared.clone());
                tokio::spawn(async move {
                    let est = match dialer.accept(p).await {
                        Ok(est) if est.peer == DEALER => {
                            tracing::warn!(
                                "refused a connection presenting the dealer's own certificate"
                            );
                            return;
                        }
                        Ok(est) => est,
                        Err(e) => {
                            tracing::warn!("{e}");
                            return;
                        }
                    };
                    match Link::open(est, &rules).await {
                        Ok(link) => serve_party(link, shared, sessions).await,
                        Err(e) => tracing::warn!("refused a party: {e}"),
                    }
                });
            }
        }
    };
    let task = node.rt.spawn(accept);
    node.rt.block_on(shared.finished.notified());
    task.abort();
    Ok(())
}

async fn serve_party(mut link: Link, shared: Arc<Shared>, sessions: Option<usize>) {
    let party = usize::from(link.peer);
    let session = link.session();
    let mut joined = false;
    let outcome = party_conversation(&mut link, &shared, party, &mut joined).await;
    match &outcome {
        Ok(()) => link.close(CLOSE_DONE, "done"),
        Err(why) => {
            tracing::warn!("session {}: party {party}: {why}", hex(&session));
            let _ = tokio::time::timeout(
                Duration::from_millis(300),
                link.send(TAG_ABORT, why.as_bytes()),
            )
            .await;
            link.close(CLOSE_ABORT, why);
        }
    }
    // Only a conversation that joined counts towards the session's end: a refused join (a
    // second process claiming a party id, a replayed session) must not end the real one.
    let complete = joined && {
        let mut sessions = shared.sessions.lock().expect("dealer state");
        match sessions.get_mut(&session) {
            Some(s) => {
                s.done += 1;
                s.live -= 1;
                s.last_seen = Instant::now();
                if s.done == shared.n {
                    sessions.remove(&session);
                    shared.ended.lock().expect("dealer state").insert(session);
                    true
                } else {
                    false
                }
            }
            None => false,
        }
    };
    shared.expire();
    if complete {
        let mut c = shared.completed.lock().expect("dealer state");
        *c += 1;
        tracing::info!("session {} complete", hex(&session));
        if sessions.is_some_and(|limit| *c >= limit) {
            shared.finished.notify_one();
        }
    }
}

async fn next_control(link: &mut Link) -> std::result::Result<Option<DealerMsg>, String> {
    match link.next().await {
        Inbound::Frame {
            tag: TAG_DEALER,
            data,
        } => decode_control(&data).map(Some),
        Inbound::Frame { tag, .. } => Err(format!("unexpected frame tag {tag:#x}")),
        Inbound::End(LinkEnd::Bye) => Ok(None),
        Inbound::End(LinkEnd::Aborted(why)) => Err(format!("aborted: {why}")),
        Inbound::End(LinkEnd::Lost(why)) => Err(format!("link lost: {why}")),
        Inbound::End(LinkEnd::Bad(why)) => Err(format!("malformed frame: {why}")),
    }
}

/// [`next_control`] within the dealer's receive timeout: a silent party is dropped.
async fn next_control_within(
    link: &mut Link,
    timeout: Duration,
    party: usize,
) -> std::result::Result<Option<DealerMsg>, String> {
    tokio::time::timeout(timeout, next_control(link))
        .await
        .map_err(|_| {
            format!("party {party} sent nothing within the receive timeout ({timeout:?})")
        })?
}

async fn party_conversation(
    link: &mut Link,
    shared: &Shared,
    party: usize,
    joined: &mut bool,
) -> std::result::Result<(), String> {
    if next_control_within(link, shared.recv, party).await? != Some(DealerMsg::Join) {
        return Err("expected a join".into());
    }
    if shared
        .ended
        .lock()
        .expect("dealer state")
        .ids
        .contains(&link.session())
    {
        return Err(
            "this session has already ended; start every run with a fresh session id".into(),
        );
    }
    let (seed, core) = {
        let mut sessions = shared.sessions.lock().expect("dealer state");
        let state = match sessions.entry(link.session()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let seeds: Vec<Seed> = (0..shared.n)
                    .map(|_| Seed::from_os())
                    .collect::<mpc::Result<_>>()
                    .map_err(|e| e.to_string())?;
                v.insert(SessionState {
                    seeds: seeds.iter().map(Seed::to_bytes).collect(),
                    core: Arc::new(DealerCore::new(seeds)),
                    joined: vec![false; shared.n],
                    done: 0,
                    live: 0,
                    served: 0,
                    last_seen: Instant::now(),
                })
            }
        };
        if state.joined[party] {
            return Err(format!("party {party} joined this session twice"));
        }
        state.joined[party] = true;
        state.live += 1;
        state.last_seen = Instant::now();
        *joined = true;
        (state.seeds[party], state.core.clone())
    };
    link.send(TAG_DEALER, &encode_control(&DealerMsg::Seed(seed)))
        .await
        .map_err(|e| e.to_string())?;
    let mut next_q = 0u64;
    let session = link.session();
    let limits = shared.limits;
    loop {
        match next_control_within(link, shared.recv, party).await? {
            None => return Ok(()),
            // Party 0 sends every request; the others (in the FSS comparison mode) only the
            // batches with public slots, so their numbering may skip ahead.
            Some(DealerMsg::Requests { first, reqs })
                if first == next_q || (party != 0 && first > next_q) =>
            {
                next_q = first;
                for req in reqs {
                    // The budget is checked before anything is allocated for the request.
                    let elements = request_elements(&req)?;
                    if elements > limits.max_request_elements {
                        return Err(format!(
                            "request {next_q} asks for {elements} elements, more than this dealer's limit of {} per request (dealer --max-request-elements)",
                            limits.max_request_elements
                        ));
                    }
                    if party == 0 {
                        // party 0's requests cover the whole session once
                        let mut sessions = shared.sessions.lock().expect("dealer state");
                        if let Some(state) = sessions.get_mut(&session) {
                            let total = state.served.saturating_add(elements);
                            if total > limits.max_session_elements {
                                return Err(format!(
                                    "this session has asked for {total} elements, more than this dealer's limit of {} per session (dealer --max-session-elements)",
                                    limits.max_session_elements
                                ));
                            }
                            state.served = total;
                            state.last_seen = Instant::now();
                        }
                    }
                    let q = next_q;
                    next_q += 1;
                    let core = core.clone();
                    let corrections =
                        tokio::task::spawn_blocking(move || core.sent(q, &req, party))
                            .await
                            .map_err(|e| e.to_string())?
                            .map_err(|e| e.to_string())?;
                    for c in corrections {
                        link.send(TAG_DEALER_DATA, &mpc::comm::encode_u64s(c.as_slice()))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            Some(DealerMsg::Requests { first, .. }) => {
                return Err(format!("requests start at {first}, expected {next_q}"));
            }
            Some(other) => return Err(format!("unexpected message from party {party}: {other:?}")),
        }
    }
}

/// A party's [`TripleSource`] backed by the dealer service.
pub struct DealerClient {
    node: Arc<Node>,
    party: usize,
    seed: Seed,
    next: u64,
    /// Party 0's link; the other parties need the dealer only once, for their seed, except
    /// in the FSS comparison mode, where they receive their keys' public slots.
    link: Option<Link>,
}

impl std::fmt::Debug for DealerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DealerClient")
            .field("party", &self.party)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn source_err(msg: impl std::fmt::Display) -> mpc::Error {
    mpc::Error::TripleSource(format!("dealer: {msg}"))
}

impl DealerClient {
    /// Joins `cfg`'s session at the cluster's dealer, without the party mesh: the triple
    /// source for a caller that brings its own [`mpc::Comm`]. Party 0 keeps its link for
    /// its requests; the others need only their seed.
    ///
    /// # Errors
    /// The node cannot start, the cluster has no dealer, or the dealer refuses the join.
    pub fn join(cfg: NodeConfig) -> Result<Self> {
        Self::connect(Arc::new(Node::start(cfg)?), false)
    }

    /// [`DealerClient::join`] for a session in `compare` mode: in the FSS mode every party
    /// keeps its link, for the keys' public slots.
    ///
    /// # Errors
    /// As [`DealerClient::join`].
    pub fn join_for(cfg: NodeConfig, compare: mpc::CompareMode) -> Result<Self> {
        Self::connect(
            Arc::new(Node::start(cfg)?),
            compare == mpc::CompareMode::Fss,
        )
    }

    /// Joins the session at the cluster's dealer and receives this party's seed; a party
    /// other than 0 keeps its link only if `keep_link`.
    pub(crate) fn connect(node: Arc<Node>, keep_link: bool) -> Result<Self> {
        let dealer = node
            .cluster
            .dealer
            .clone()
            .ok_or_else(|| Error::Config("the cluster file has no dealer".into()))?;
        let party = usize::from(node.me);
        let deadline = Instant::now() + node.timeouts.connect;
        let dialer = node.dialer();
        let rules = node.rules(true);
        let recv_timeout = node.timeouts.recv;
        let (link, seed) = node.rt.block_on(async {
            let est = dialer
                .dial_until(&dealer, deadline)
                .await
                .map_err(Error::Dealer)?;
            let mut link = Link::open(est, &rules).await.map_err(Error::Dealer)?;
            link.send(TAG_DEALER, &encode_control(&DealerMsg::Join))
                .await
                .map_err(|e| Error::Dealer(e.to_string()))?;
            let reply = tokio::time::timeout(recv_timeout, next_control(&mut link))
                .await
                .map_err(|_| Error::Dealer("no seed within the receive timeout".into()))?;
            match reply {
                Ok(Some(DealerMsg::Seed(s))) => Ok((link, Seed::from_bytes(s))),
                Ok(other) => Err(Error::Dealer(format!("expected a seed, got {other:?}"))),
                Err(e) => Err(Error::Dealer(e)),
            }
        })?;
        let mut client = Self {
            node,
            party,
            seed,
            next: 0,
            link: Some(link),
        };
        if party != 0 && !keep_link {
            client.hang_up();
        }
        Ok(client)
    }

    fn hang_up(&mut self) {
        if let Some(mut link) = self.link.take() {
            self.node.rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(1), link.send(TAG_BYE, &[])).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Inbound::Frame { .. } = link.next().await {}
                })
                .await;
            });
            link.close(CLOSE_DONE, "done");
        }
    }
}

impl Drop for DealerClient {
    fn drop(&mut self) {
        self.hang_up();
    }
}

impl TripleSource for DealerClient {
    fn fetch(&mut self, req: &TupleRequest) -> mpc::Result<Vec<RingTensor>> {
        let mut one = self.fetch_many(std::slice::from_ref(req))?;
        Ok(one.pop().expect("one tuple for one request"))
    }

    fn fetch_many(&mut self, reqs: &[TupleRequest]) -> mpc::Result<Vec<Vec<RingTensor>>> {
        let first = self.next;
        self.next += reqs.len() as u64;
        let slots: Vec<_> = reqs
            .iter()
            .map(TupleRequest::slots)
            .collect::<mpc::Result<_>>()?;
        let party = self.party;
        let needs_dealer = party == 0
            || slots
                .iter()
                .any(|s| s.iter().any(|(_, kind)| sent_to(*kind, party)));
        let link = match self.link.as_mut() {
            Some(link) if needs_dealer => link,
            None if needs_dealer => {
                return Err(source_err(format!(
                    "party {party} needs the dealer's public key words (FSS comparison mode) but hung up after its seed: join with DealerClient::join_for"
                )));
            }
            _ => {
                return reqs
                    .iter()
                    .enumerate()
                    .map(|(k, r)| assemble_tuple(party, &self.seed, first + k as u64, r, None))
                    .collect();
            }
        };
        let timeout = self.node.timeouts.recv;
        let seed = &self.seed;
        self.node.rt.block_on(async {
            let mut out = Vec::with_capacity(reqs.len());
            for (b, batch) in reqs.chunks(BATCH).enumerate() {
                let base = first + (b * BATCH) as u64;
                let msg = DealerMsg::Requests {
                    first: base,
                    reqs: batch.to_vec(),
                };
                link.send(TAG_DEALER, &encode_control(&msg))
                    .await
                    .map_err(|e| source_err(crate::link::describe(&e)))?;
                for (k, req) in batch.iter().enumerate() {
                    let mut corrections = Vec::new();
                    for (shape, kind) in &slots[b * BATCH + k] {
                        if !sent_to(*kind, party) {
                            continue;
                        }
                        let words = tensor::shape::numel(shape);
                        let frame = match tokio::time::timeout(timeout, link.next()).await {
                            Err(_) => {
                                return Err(source_err("no correction within the receive timeout"));
                            }
                            Ok(Inbound::Frame {
                                tag: TAG_DEALER_DATA,
                                data,
                            }) => data,
                            Ok(Inbound::Frame { tag, .. }) => {
                                return Err(source_err(format!("unexpected frame tag {tag:#x}")));
                            }
                            Ok(Inbound::End(end)) => {
                                return Err(source_err(end));
                            }
                        };
                        let data = mpc::comm::decode_u64s(&frame, words, 0, "dealer correction")?;
                        corrections.push(RingTensor::from_raw(shape, data, 0)?);
                    }
                    out.push(assemble_tuple(
                        party,
                        seed,
                        base + k as u64,
                        req,
                        Some(corrections),
                    )?);
                }
            }
            Ok(out)
        })
    }
}

/// The triple source of a cluster without a dealer: linear operations work, anything that
/// needs correlated randomness fails with an error saying what to do.
#[derive(Debug)]
pub struct NoDealer;

impl TripleSource for NoDealer {
    fn fetch(&mut self, req: &TupleRequest) -> mpc::Result<Vec<RingTensor>> {
        Err(mpc::Error::TripleSource(format!(
            "{req:?} needs a dealer, and this cluster has none (add one with `umbra launch --dealer` or a [dealer] entry in the cluster file)"
        )))
    }
}

/// Connects a party: the mesh to the other parties and, if the cluster has one, the dealer
/// (kept by every party in the FSS comparison mode).
pub(crate) fn connect_party(
    cfg: NodeConfig,
    compare: mpc::CompareMode,
) -> Result<(crate::net::NetComm, Box<dyn TripleSource>)> {
    if cfg.me == crate::wire::DEALER {
        return Err(Error::Config(format!(
            "id {} is the dealer's; a party's id is its index in the cluster file (0..{})",
            cfg.me,
            cfg.cluster.n_parties() - 1
        )));
    }
    let has_dealer = cfg.cluster.dealer.is_some();
    let who = node_name(cfg.me);
    let node = Arc::new(Node::start(cfg)?);
    // Dial the dealer first: it is up before the parties, and party seeds arrive while the
    // mesh forms.
    let source: Box<dyn TripleSource> = if has_dealer {
        Box::new(
            DealerClient::connect(node.clone(), compare == mpc::CompareMode::Fss)
                .map_err(|e| Error::Setup(format!("{who}: {e}")))?,
        )
    } else {
        Box::new(NoDealer)
    };
    let comm = crate::net::NetComm::connect(node)?;
    Ok((comm, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ended_set_forgets_its_oldest_ids_past_its_bound() {
        let mut ended = Ended::default();
        for i in 0..(MAX_ENDED + 10) {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            ended.insert(id);
            ended.insert(id); // a repeat changes nothing
        }
        assert_eq!(ended.ids.len(), MAX_ENDED);
        assert_eq!(ended.order.len(), MAX_ENDED);
        assert!(!ended.ids.contains(&[0u8; 16]), "the oldest is forgotten");
        let mut newest = [0u8; 16];
        newest[..8].copy_from_slice(&((MAX_ENDED + 9) as u64).to_le_bytes());
        assert!(ended.ids.contains(&newest));
    }

    #[test]
    fn request_sizes_count_every_slot_and_saturate() {
        let mul = TupleRequest::Mul {
            a: vec![3, 4],
            b: vec![3, 4],
        };
        // a, b and c = a·b
        assert_eq!(request_elements(&mul).unwrap(), 36);
        let huge = TupleRequest::Matmul {
            a: vec![1 << 30, 1 << 30],
            b: vec![1 << 30, 1 << 30],
        };
        let n = request_elements(&huge);
        assert!(n.is_err() || n.unwrap() > DealerLimits::default().max_request_elements);
    }
}
