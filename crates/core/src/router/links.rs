//! Which direct (P2P) links a device keeps, as a pure state machine.
//!
//! The engine tells it which devices it would like links to (the other members of its small
//! rooms) and what happened to each attempt; it answers with what to do: offer a link, ask
//! the other side to offer, answer, decline, or close. It enforces the rules that keep P2P
//! from storming a festival's network: one attempt per peer at a time, the lower device id
//! offers, per-peer cooldowns with backoff, a cap on links, an attempt timeout, and a circuit
//! breaker over the P2P route as a whole. Time is passed in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use festival_proto::{DeviceId, SessionId};
use serde::Serialize;

use super::breaker::{Breaker, BreakerState};
use super::cooldown::{Cooldowns, Timings};

/// How long an attempt may take, from the first signal to an open data channel.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a link stays after its peer seems to have left: a relay going down reports
/// everyone leaving just before it goes, and the link is what keeps them talking.
pub const LINGER: Duration = Duration::from_secs(3);

/// The limits and timings of the P2P links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPolicy {
    /// Most links kept at once (8 on desktop, 3 on mobile).
    pub max_links: usize,
    /// The cooldowns between attempts.
    pub timings: Timings,
    /// How long the P2P route's breaker stays open.
    pub recovery: Duration,
    /// How long one attempt may take.
    pub connect_timeout: Duration,
    /// How long a link stays once no longer wanted.
    pub linger: Duration,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            max_links: 8,
            timings: Timings::default(),
            recovery: super::breaker::RECOVERY,
            connect_timeout: CONNECT_TIMEOUT,
            linger: LINGER,
        }
    }
}

/// Where one link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// This side asked the other to offer and waits for its offer.
    Requested,
    /// An offer is out (or being answered); waiting for the data channel to open.
    Connecting,
    /// The data channel is open.
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    state: LinkState,
    session: SessionId,
    since: Instant,
    /// Since when the peer has not been wanted.
    unwanted_since: Option<Instant>,
}

/// Something the engine should do to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Open a peer connection and send an offer for this session.
    Offer {
        /// To whom.
        peer: DeviceId,
        /// The attempt's number.
        session: SessionId,
    },
    /// Ask the peer to offer (it has the lower id).
    Request {
        /// Whom.
        peer: DeviceId,
    },
    /// Open a peer connection from the peer's offer and send the answer.
    Answer {
        /// To whom.
        peer: DeviceId,
        /// The attempt's number, as the peer chose it.
        session: SessionId,
    },
    /// Tell the peer there will be no link now.
    Decline {
        /// Whom.
        peer: DeviceId,
        /// The attempt declined.
        session: SessionId,
    },
    /// Close the peer connection of this session (if any).
    Close {
        /// Whose.
        peer: DeviceId,
        /// The attempt's number.
        session: SessionId,
    },
}

/// Counters, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkCounters {
    /// Attempts started by this side (offers and requests).
    pub attempts: u64,
    /// Links that opened.
    pub opened: u64,
    /// Attempts that failed before their link opened (timeout, ICE failure). A link that
    /// opened and closed later is not one: it counted as opened, and the success rate that
    /// organisers read is opened / (opened + failures).
    pub failures: u64,
    /// Attempts the peer declined: it wants no link now (its power mode, its link cap), which
    /// says nothing about the network.
    pub declined: u64,
}

/// One device's direct links.
#[derive(Debug)]
pub struct Links {
    me: DeviceId,
    policy: LinkPolicy,
    links: BTreeMap<DeviceId, Link>,
    cooldowns: Cooldowns<DeviceId>,
    breaker: Breaker,
    next_session: SessionId,
    counters: LinkCounters,
}

impl Links {
    /// No links yet, for device `me`.
    pub fn new(me: DeviceId, policy: LinkPolicy) -> Self {
        Self {
            me,
            policy,
            links: BTreeMap::new(),
            cooldowns: Cooldowns::new(policy.timings),
            breaker: Breaker::with_recovery(policy.recovery),
            next_session: SessionId(1),
            counters: LinkCounters::default(),
        }
    }

    /// Brings the links in line with what the engine wants: `wanted` are the devices this
    /// one would open links to, `allowed` those it keeps links with (`wanted` and whoever
    /// else may link to it, such as members of a large room that asked). Closes links not
    /// allowed for longer than the linger time and, if discovery is not cooling down, starts
    /// attempts to wanted devices without one, within the cap, the cooldowns and the breaker.
    /// `current`: `allowed` reflects the relay's up-to-date view; when it does not (the
    /// relay is unreachable) no link is closed.
    pub fn reconcile(
        &mut self,
        wanted: &BTreeSet<DeviceId>,
        allowed: &BTreeSet<DeviceId>,
        current: bool,
        now: Instant,
    ) -> Vec<LinkAction> {
        let mut actions = Vec::new();
        let linger = self.policy.linger;
        let mut unwanted = Vec::new();
        for (peer, link) in &mut self.links {
            if wanted.contains(peer) || allowed.contains(peer) {
                link.unwanted_since = None;
            } else if current {
                let since = *link.unwanted_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= linger {
                    unwanted.push(*peer);
                }
            }
        }
        unwanted.extend(self.over_cap(wanted));
        for peer in unwanted {
            if let Some(link) = self.links.remove(&peer) {
                actions.push(LinkAction::Close {
                    peer,
                    session: link.session,
                });
            }
        }
        let missing = wanted
            .iter()
            .any(|peer| *peer != self.me && !self.links.contains_key(peer));
        if !missing || !self.cooldowns.try_discover(now) {
            return actions;
        }
        for &peer in wanted {
            if peer == self.me || self.links.contains_key(&peer) {
                continue;
            }
            if self.links.len() >= self.policy.max_links {
                break;
            }
            if !self.cooldowns.try_attempt(&peer, now) {
                continue;
            }
            if !self.breaker.try_use(now) {
                break;
            }
            self.counters.attempts += 1;
            if self.me < peer {
                let session = self.new_session();
                self.links
                    .insert(peer, self.link(LinkState::Connecting, session, now));
                actions.push(LinkAction::Offer { peer, session });
            } else {
                self.links
                    .insert(peer, self.link(LinkState::Requested, SessionId::NONE, now));
                actions.push(LinkAction::Request { peer });
            }
        }
        actions
    }

    /// `peer` asks this side to offer. `welcome`: this side wants a link to it. The breaker
    /// guards this side's own attempts only: answering a peer's costs little, and two
    /// breakers each refusing the other's probe would never close.
    pub fn on_request(&mut self, peer: DeviceId, welcome: bool, now: Instant) -> Vec<LinkAction> {
        if !welcome || peer == self.me || !self.has_room_for(peer) {
            return vec![LinkAction::Decline {
                peer,
                session: SessionId::NONE,
            }];
        }
        let mut actions = Vec::new();
        if self
            .links
            .get(&peer)
            .is_some_and(|l| l.state == LinkState::Connecting)
        {
            // An offer is already on its way to it.
            return actions;
        }
        if let Some(old) = self.links.remove(&peer) {
            // The peer lost its side (it restarted, or gave up): start over.
            actions.push(LinkAction::Close {
                peer,
                session: old.session,
            });
        }
        let session = self.new_session();
        self.links
            .insert(peer, self.link(LinkState::Connecting, session, now));
        actions.push(LinkAction::Offer { peer, session });
        actions
    }

    /// `peer` offers a link for `session`. `welcome`: this side wants a link to it. As with
    /// requests, the breaker does not apply.
    pub fn on_offer(
        &mut self,
        peer: DeviceId,
        session: SessionId,
        welcome: bool,
        now: Instant,
    ) -> Vec<LinkAction> {
        if !welcome || peer == self.me || !self.has_room_for(peer) {
            return vec![LinkAction::Decline { peer, session }];
        }
        let mut actions = Vec::new();
        if let Some(old) = self.links.remove(&peer) {
            if old.session != SessionId::NONE {
                actions.push(LinkAction::Close {
                    peer,
                    session: old.session,
                });
            }
        }
        self.links
            .insert(peer, self.link(LinkState::Connecting, session, now));
        actions.push(LinkAction::Answer { peer, session });
        actions
    }

    /// Whether an answer from `peer` for `session` belongs to the attempt under way.
    pub fn on_answer(&self, peer: DeviceId, session: SessionId) -> bool {
        self.links
            .get(&peer)
            .is_some_and(|l| l.session == session && l.state == LinkState::Connecting)
    }

    /// The data channel of `session` to `peer` opened. False if that attempt was abandoned
    /// (the engine should close it).
    pub fn on_open(&mut self, peer: DeviceId, session: SessionId, now: Instant) -> bool {
        let Some(link) = self.links.get_mut(&peer) else {
            return false;
        };
        if link.session != session {
            return false;
        }
        link.state = LinkState::Open;
        link.since = now;
        self.cooldowns.on_connected(&peer);
        self.breaker.on_success();
        self.counters.opened += 1;
        true
    }

    /// The attempt or link of `session` to `peer` failed or closed (`session` 0: a decline of
    /// a request). Returns the action to close it, if it was current.
    pub fn on_failed(
        &mut self,
        peer: DeviceId,
        session: SessionId,
        now: Instant,
    ) -> Option<LinkAction> {
        let link = self.links.get(&peer)?;
        if link.session != session {
            return None;
        }
        let link = self.links.remove(&peer)?;
        self.cooldowns.on_failed(&peer, now);
        self.breaker.on_failure(now);
        if link.state != LinkState::Open {
            self.counters.failures += 1;
        }
        Some(LinkAction::Close { peer, session })
    }

    /// `peer` declined the attempt of `session` (0: a request). It cools down like a failure,
    /// so that it is not asked again at once, but the breaker, which guards this side's own
    /// network, does not count it. Returns the action to close it, if it was current.
    pub fn on_declined(
        &mut self,
        peer: DeviceId,
        session: SessionId,
        now: Instant,
    ) -> Option<LinkAction> {
        let link = self.links.get(&peer)?;
        if link.session != session || link.state == LinkState::Open {
            return None;
        }
        self.links.remove(&peer);
        self.cooldowns.on_failed(&peer, now);
        self.counters.declined += 1;
        Some(LinkAction::Close { peer, session })
    }

    /// Attempts that took longer than the timeout, failed at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<LinkAction> {
        let late: Vec<_> = self
            .links
            .iter()
            .filter(|(_, l)| {
                l.state != LinkState::Open
                    && now.saturating_duration_since(l.since) >= self.policy.connect_timeout
            })
            .map(|(peer, l)| (*peer, l.session))
            .collect();
        late.into_iter()
            .filter_map(|(peer, session)| self.on_failed(peer, session, now))
            .collect()
    }

    /// Closes every link (P2P turned off, or the user asked for a reset).
    pub fn close_all(&mut self) -> Vec<LinkAction> {
        std::mem::take(&mut self.links)
            .into_iter()
            .map(|(peer, link)| LinkAction::Close {
                peer,
                session: link.session,
            })
            .collect()
    }

    /// Takes a new cap and new cooldowns (a change of power mode). Nothing closes here: the
    /// next [`Links::reconcile`] closes what is over the cap, between two messages (the
    /// engine handles one thing at a time, so no send is cut in half; a message sent
    /// directly also went to the relay).
    pub fn set_policy(&mut self, max_links: usize, timings: Timings) {
        self.policy.max_links = max_links;
        self.policy.timings = timings;
        self.cooldowns.set_timings(timings);
    }

    /// The links to close to get under the cap: attempts before open links, links nobody
    /// wants before wanted ones, the newest first.
    fn over_cap(&self, wanted: &BTreeSet<DeviceId>) -> Vec<DeviceId> {
        let surplus = self.links.len().saturating_sub(self.policy.max_links);
        if surplus == 0 {
            return Vec::new();
        }
        let mut candidates: Vec<_> = self.links.iter().collect();
        candidates.sort_by_key(|(peer, link)| {
            (
                link.state == LinkState::Open,
                wanted.contains(*peer),
                std::cmp::Reverse(link.since),
            )
        });
        candidates
            .into_iter()
            .take(surplus)
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Forgets failures: the breaker closes and cooldowns end (the debug panel's reset).
    pub fn reset(&mut self) {
        self.breaker.reset();
        self.cooldowns = Cooldowns::new(self.policy.timings);
    }

    /// Lets the next [`Links::reconcile`] look for peers at once, skipping the discovery
    /// cooldown (a manual upgrade); per-peer cooldowns still apply.
    pub fn reset_discovery(&mut self) {
        self.cooldowns.allow_discovery();
    }

    /// The session of the open link to `peer`, if one is open.
    pub fn open_session(&self, peer: DeviceId) -> Option<SessionId> {
        self.links
            .get(&peer)
            .filter(|l| l.state == LinkState::Open)
            .map(|l| l.session)
    }

    /// The session of the link or attempt to `peer`, if there is one.
    pub fn session(&self, peer: DeviceId) -> Option<SessionId> {
        self.links.get(&peer).map(|l| l.session)
    }

    /// Whether a link to `peer` is open.
    pub fn is_open(&self, peer: DeviceId) -> bool {
        self.open_session(peer).is_some()
    }

    /// Every link and its state.
    pub fn states(&self) -> impl Iterator<Item = (DeviceId, LinkState)> + '_ {
        self.links.iter().map(|(peer, l)| (*peer, l.state))
    }

    /// The P2P route's breaker at `now`.
    pub fn breaker(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }

    /// When `peer` may be tried again, if it is cooling down.
    pub fn cooldown_until(&self, peer: DeviceId) -> Option<Instant> {
        self.cooldowns.next_attempt(&peer)
    }

    /// The counters.
    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    fn has_room_for(&self, peer: DeviceId) -> bool {
        self.links.contains_key(&peer) || self.links.len() < self.policy.max_links
    }

    fn new_session(&mut self) -> SessionId {
        let session = self.next_session;
        self.next_session = session.next();
        session
    }

    fn link(&self, state: LinkState, session: SessionId, now: Instant) -> Link {
        Link {
            state,
            session,
            since: now,
            unwanted_since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(n: usize) -> Vec<DeviceId> {
        let mut devices: Vec<_> = (0..n).map(|_| DeviceId::random()).collect();
        devices.sort();
        devices
    }

    fn policy() -> LinkPolicy {
        LinkPolicy::default()
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_lower_cap_closes_attempts_first_and_then_the_newest_open_links() {
        let d = devices(5);
        let t0 = Instant::now();
        let mut links = Links::new(d[0], policy());
        let wanted: BTreeSet<_> = d[1..].iter().copied().collect();
        let actions = links.reconcile(&wanted, &wanted, true, t0);
        assert_eq!(actions.len(), 4, "offers to the four others");
        // Three open, one after the other; the fourth is still connecting.
        for (i, peer) in d[1..4].iter().enumerate() {
            let session = links.session(*peer).expect("an attempt");
            assert!(links.on_open(*peer, session, t0 + Duration::from_secs(i as u64)));
        }
        let later = t0 + Duration::from_secs(5);
        links.set_policy(2, Timings::default());
        let closed: Vec<_> = links
            .reconcile(&wanted, &wanted, true, later)
            .into_iter()
            .filter_map(|a| match a {
                LinkAction::Close { peer, .. } => Some(peer),
                _ => None,
            })
            .collect();
        assert_eq!(
            closed,
            [d[4], d[3]],
            "the attempt, then the newest open link"
        );
        assert!(links.is_open(d[1]) && links.is_open(d[2]));
        // At the cap, nothing else closes and nothing new is attempted.
        assert_eq!(
            links.reconcile(&wanted, &wanted, true, later + Duration::from_secs(60)),
            []
        );
        links.set_policy(0, Timings::default());
        assert_eq!(links.reconcile(&wanted, &wanted, true, later).len(), 2);
        assert_eq!(links.states().count(), 0);
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn the_lower_id_offers_and_the_higher_requests() {
        let d = devices(3);
        let t0 = Instant::now();
        let mut middle = Links::new(d[1], policy());
        let wanted = BTreeSet::from([d[0], d[2]]);
        let actions = middle.reconcile(&wanted, &wanted, true, t0);
        assert_eq!(
            actions,
            [
                LinkAction::Request { peer: d[0] },
                LinkAction::Offer {
                    peer: d[2],
                    session: SessionId(1)
                },
            ]
        );
        assert_eq!(middle.counters().attempts, 2);
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn discovery_and_attempts_are_cooled_down() {
        let d = devices(2);
        let t0 = Instant::now();
        let mut links = Links::new(d[0], policy());
        let wanted = BTreeSet::from([d[1]]);
        assert_eq!(links.reconcile(&wanted, &wanted, true, t0).len(), 1);
        // Nothing new while the attempt is under way.
        assert!(
            links
                .reconcile(&wanted, &wanted, true, t0 + Duration::from_secs(3))
                .is_empty()
        );
        // It times out, and the peer cools down before the next attempt.
        let expired = links.expire(t0 + CONNECT_TIMEOUT);
        assert_eq!(expired.len(), 1);
        let t1 = t0 + CONNECT_TIMEOUT;
        assert!(
            links
                .reconcile(&wanted, &wanted, true, t1 + Duration::from_secs(2))
                .is_empty()
        );
        assert_eq!(
            links
                .reconcile(&wanted, &wanted, true, t1 + Duration::from_secs(5))
                .len(),
            1
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn at_most_max_links_are_attempted() {
        let d = devices(6);
        let t0 = Instant::now();
        let mobile = LinkPolicy {
            max_links: 3,
            ..policy()
        };
        let mut links = Links::new(d[0], mobile);
        let wanted: BTreeSet<_> = d[1..].iter().copied().collect();
        assert_eq!(links.reconcile(&wanted, &wanted, true, t0).len(), 3);
        let offer = links.on_offer(d[5], SessionId(9), true, t0);
        assert_eq!(
            offer,
            [LinkAction::Decline {
                peer: d[5],
                session: SessionId(9)
            }]
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn a_link_that_opened_and_closed_later_is_not_a_failed_attempt() {
        let d = devices(2);
        let t0 = Instant::now();
        let mut links = Links::new(d[0], policy());
        let wanted = BTreeSet::from([d[1]]);
        let actions = links.reconcile(&wanted, &wanted, true, t0);
        let Some(LinkAction::Offer { session, .. }) = actions.first() else {
            panic!("no attempt: {actions:?}");
        };
        assert!(links.on_open(d[1], *session, t0));
        assert!(links.on_failed(d[1], *session, t0).is_some());
        let counters = links.counters();
        assert_eq!((counters.opened, counters.failures), (1, 0), "{counters:?}");

        let later = t0 + Duration::from_secs(3600);
        let actions = links.reconcile(&wanted, &wanted, true, later);
        let Some(LinkAction::Offer { .. }) = actions.first() else {
            panic!("no second attempt: {actions:?}");
        };
        let after_timeout = later + policy().connect_timeout;
        links.expire(after_timeout);
        let counters = links.counters();
        assert_eq!((counters.opened, counters.failures), (1, 1), "{counters:?}");
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn declines_cool_the_peer_down_but_are_not_failures_and_never_open_the_breaker() {
        let d = devices(2);
        let t0 = Instant::now();
        let fast = LinkPolicy {
            timings: Timings {
                discovery_every: Duration::ZERO,
                attempt_every: Duration::from_secs(1),
                max_backoff: Duration::from_secs(1),
            },
            ..policy()
        };
        let mut links = Links::new(d[0], fast);
        let wanted = BTreeSet::from([d[1]]);
        let mut now = t0;
        for i in 0..5 {
            let actions = links.reconcile(&wanted, &wanted, true, now);
            let Some(LinkAction::Offer { session, .. }) = actions.first() else {
                panic!("attempt {i} was not started: {actions:?}");
            };
            assert!(links.on_declined(d[1], *session, now).is_some());
            assert!(
                links.reconcile(&wanted, &wanted, true, now).is_empty(),
                "asked again at once"
            );
            now += Duration::from_secs(1);
        }
        assert_eq!(links.breaker(now), BreakerState::Closed { failures: 0 });
        let counters = links.counters();
        assert_eq!(
            (counters.attempts, counters.declined, counters.failures),
            (5, 5, 0),
            "{counters:?}"
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn three_failures_open_the_breaker_and_a_probe_closes_it() {
        let d = devices(2);
        let t0 = Instant::now();
        let fast = LinkPolicy {
            timings: Timings {
                discovery_every: Duration::ZERO,
                attempt_every: Duration::ZERO,
                max_backoff: Duration::ZERO,
            },
            ..policy()
        };
        let mut links = Links::new(d[0], fast);
        let wanted = BTreeSet::from([d[1]]);
        for i in 0..3 {
            let actions = links.reconcile(&wanted, &wanted, true, t0);
            let Some(LinkAction::Offer { session, .. }) = actions.first() else {
                panic!("attempt {i} was not started: {actions:?}");
            };
            links.on_failed(d[1], *session, t0);
        }
        assert_eq!(links.breaker(t0), BreakerState::Open);
        assert!(links.reconcile(&wanted, &wanted, true, t0).is_empty());
        let later = t0 + fast.recovery;
        let actions = links.reconcile(&wanted, &wanted, true, later);
        let Some(LinkAction::Offer { session, .. }) = actions.first() else {
            panic!("no probe after recovery: {actions:?}");
        };
        assert!(links.on_open(d[1], *session, later));
        assert_eq!(links.breaker(later), BreakerState::Closed { failures: 0 });
        assert!(links.is_open(d[1]));
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn the_offer_a_probe_asked_for_is_accepted_while_half_open() {
        let d = devices(2);
        let t0 = Instant::now();
        let fast = LinkPolicy {
            timings: Timings {
                discovery_every: Duration::ZERO,
                attempt_every: Duration::ZERO,
                max_backoff: Duration::ZERO,
            },
            ..policy()
        };
        // The higher id requests; the lower one offers.
        let mut links = Links::new(d[1], fast);
        let wanted = BTreeSet::from([d[0]]);
        for _ in 0..3 {
            links.reconcile(&wanted, &wanted, true, t0);
            links.on_failed(d[0], SessionId(0), t0);
        }
        assert_eq!(links.breaker(t0), BreakerState::Open);
        let later = t0 + fast.recovery;
        assert_eq!(
            links.reconcile(&wanted, &wanted, true, later),
            [LinkAction::Request { peer: d[0] }]
        );
        assert_eq!(
            links.on_offer(d[0], SessionId(7), true, later),
            [LinkAction::Answer {
                peer: d[0],
                session: SessionId(7)
            }]
        );
        assert!(links.on_open(d[0], SessionId(7), later));
        assert_eq!(links.breaker(later), BreakerState::Closed { failures: 0 });
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn stale_sessions_are_ignored_and_unwanted_links_closed() {
        let d = devices(2);
        let t0 = Instant::now();
        let mut links = Links::new(d[1], policy());
        let answer = links.on_offer(d[0], SessionId(4), true, t0);
        assert_eq!(
            answer,
            [LinkAction::Answer {
                peer: d[0],
                session: SessionId(4)
            }]
        );
        assert!(!links.on_open(d[0], SessionId(3), t0));
        assert!(links.on_failed(d[0], SessionId(3), t0).is_none());
        assert!(links.on_open(d[0], SessionId(4), t0));
        let nobody = BTreeSet::new();
        assert!(
            links.reconcile(&nobody, &nobody, true, t0).is_empty(),
            "lingers"
        );
        let later = t0 + LINGER;
        assert!(
            links.reconcile(&nobody, &nobody, false, later).is_empty(),
            "kept while the relay's view is stale"
        );
        let closed = links.reconcile(&nobody, &nobody, true, later);
        assert_eq!(
            closed,
            [LinkAction::Close {
                peer: d[0],
                session: SessionId(4)
            }]
        );
    }

    #[test]
    // A test's one real instant; later ones are it plus a duration.
    #[allow(clippy::disallowed_methods)]
    fn an_unwelcome_offer_or_request_is_declined() {
        let d = devices(2);
        let t0 = Instant::now();
        let mut links = Links::new(d[0], policy());
        assert_eq!(
            links.on_request(d[1], false, t0),
            [LinkAction::Decline {
                peer: d[1],
                session: SessionId(0)
            }]
        );
        assert_eq!(links.states().count(), 0);
    }
}
