//! The two routes racing: any order and duplication of the relay's copies (or notices) and
//! the direct copies of a room's messages shows each message once, in each sender's order,
//! and records the room's numbers once each, in order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use festival_proto::{
    ChatMessage, DeviceId, Joined, MessageId, PeerFrame, Seq, Sequenced, ServerFrame, SessionId,
};
use proptest::prelude::*;

use super::{Sim, Step, device, message, online, peer_chat, room};

/// How one message reaches this device.
#[derive(Debug, Clone)]
struct Plan {
    /// Its sender: 0 or 1.
    sender: usize,
    /// The sender reached this device directly, so the relay sends only its number.
    direct: bool,
    /// ...but the direct copy was lost on the way.
    lost: bool,
}

/// One input: the relay's live copy (or notice) of message `k`, or its direct copy.
#[derive(Debug, Clone, Copy)]
enum Input {
    Relay(usize),
    Direct(usize),
}

fn race() -> impl Strategy<Value = (Vec<Plan>, Vec<Input>)> {
    let plans = prop::collection::vec(
        (0..2usize, any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(sender, direct, lost)| {
            Plan {
                sender,
                direct,
                lost: direct && lost,
            }
        }),
        1..10,
    );
    plans.prop_flat_map(|plans| {
        let mut inputs: Vec<Input> = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            inputs.push(Input::Relay(k));
            if plan.direct && !plan.lost {
                inputs.push(Input::Direct(k));
            }
        }
        let n = inputs.len();
        let dups = prop::collection::vec(0..n, 0..n);
        (Just(plans), Just(inputs).prop_shuffle(), dups).prop_map(|(plans, mut inputs, dups)| {
            for i in dups {
                let dup = inputs[i];
                inputs.insert(i, dup);
            }
            (plans, inputs)
        })
    })
}

/// Feeds `inputs` to a member linked to both senders, answering joins from the relay's log
/// (what it stored so far: numbers are given in order) and `want`s as the sender would.
async fn run_race(plans: &[Plan], inputs: &[Input]) -> Sim {
    let mut sim = Sim::new(Sim::config(), online());
    let senders = [device(), device()];
    let names = ["Ann", "Bob"];
    sim.join_with(
        &[(senders[0], names[0]), (senders[1], names[1])],
        Vec::new(),
    )
    .await;
    sim.link_to(senders[0], SessionId(1)).await;
    sim.link_to(senders[1], SessionId(2)).await;
    let log: Vec<ChatMessage> = plans
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let seq = Seq::try_from(k + 1).unwrap();
            message(senders[p.sender], names[p.sender], seq, &format!("m{k}"))
        })
        .collect();
    let prev = |k: usize| {
        (0..k)
            .rev()
            .find(|j| plans[*j].sender == plans[k].sender)
            .map(|j| log[j].id)
    };
    let session = |k: usize| SessionId(if plans[k].sender == 0 { 1 } else { 2 });
    let mut stored = 0usize;
    let mut answered_wants = 0usize;
    for input in inputs {
        match *input {
            Input::Relay(k) => {
                stored = stored.max(k + 1);
                let frame = if plans[k].direct {
                    ServerFrame::Sequenced(Sequenced {
                        room: room(),
                        id: log[k].id,
                        seq: log[k].seq,
                    })
                } else {
                    ServerFrame::Chat(log[k].clone())
                };
                sim.frames(vec![frame]).await;
            }
            Input::Direct(k) => {
                let chat = peer_chat(&log[k], prev(k));
                sim.direct(senders[plans[k].sender], session(k), chat).await;
            }
        }
        // The relay answers joins from what it stored; the senders answer wants.
        loop {
            if let Some(join) = sim.joins.pop() {
                let since = join.since.unwrap_or(0);
                let history: Vec<_> = log[..stored]
                    .iter()
                    .filter(|m| m.seq > since)
                    .cloned()
                    .collect();
                let joined = Joined {
                    room: room(),
                    name: sim.me.name.clone(),
                    members: Vec::new(),
                    history,
                    latest_seq: Seq::try_from(stored).unwrap(),
                    has_more: false,
                    truncated: false,
                };
                sim.frames(vec![ServerFrame::Joined(joined)]).await;
                continue;
            }
            let wants: Vec<_> = sim.to_peers[answered_wants..]
                .iter()
                .filter_map(|(peer, f)| match f {
                    PeerFrame::Want { id, .. } => Some((*peer, *id)),
                    _ => None,
                })
                .collect();
            answered_wants = sim.to_peers.len();
            if wants.is_empty() {
                break;
            }
            for (peer, id) in wants {
                if let Some(k) = log.iter().position(|m| m.id == id) {
                    let chat = peer_chat(&log[k], prev(k));
                    sim.direct(peer, session(k), chat).await;
                }
            }
        }
    }
    // Whatever waits for a direct copy gives up and is fetched.
    sim.run_for(Duration::from_secs(3)).await;
    while let Some(join) = sim.joins.pop() {
        let since = join.since.unwrap_or(0);
        let joined = Joined {
            room: room(),
            name: sim.me.name.clone(),
            members: Vec::new(),
            history: log.iter().filter(|m| m.seq > since).cloned().collect(),
            latest_seq: Seq::try_from(log.len()).unwrap(),
            has_more: false,
            truncated: false,
        };
        sim.frames(vec![ServerFrame::Joined(joined)]).await;
    }
    let expected: Vec<(MessageId, DeviceId)> = log.iter().map(|m| (m.id, m.sender)).collect();
    check_race(&sim, &expected);
    sim
}

/// Each message shown once; each sender's in the order typed; the room's numbers recorded
/// once each, in order.
fn check_race(sim: &Sim, expected: &[(MessageId, DeviceId)]) {
    let shown = sim.shown();
    let unique: HashSet<_> = shown.iter().collect();
    assert_eq!(
        unique.len(),
        shown.len(),
        "a message shown twice: {shown:?}"
    );
    assert_eq!(shown.len(), expected.len(), "a message never shown");
    let position: HashMap<MessageId, usize> =
        shown.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for sender in expected.iter().map(|(_, s)| *s).collect::<HashSet<_>>() {
        let typed: Vec<usize> = expected
            .iter()
            .filter(|(_, s)| *s == sender)
            .map(|(id, _)| position[id])
            .collect();
        assert!(
            typed.windows(2).all(|w| w[0] < w[1]),
            "a sender's messages out of order"
        );
    }
    let numbered: Vec<Seq> = sim
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Recorded(_, seq) => *seq,
            Step::Shown(_) => None,
        })
        .collect();
    let all: Vec<Seq> = (1..=Seq::try_from(expected.len()).unwrap()).collect();
    assert_eq!(numbered, all, "the room's order, each number once");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_and_duplication_of_relay_and_direct_copies_shows_each_message_once_in_order(
        (plans, inputs) in race()
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run_race(&plans, &inputs));
    }
}

#[tokio::test]
async fn the_race_with_every_copy_twice_and_the_relay_last() {
    let plans: Vec<Plan> = (0..6)
        .map(|k| Plan {
            sender: k % 2,
            direct: k != 3,
            lost: k == 4,
        })
        .collect();
    let mut inputs = Vec::new();
    for k in (0..6).rev() {
        if plans[k].direct && !plans[k].lost {
            inputs.push(Input::Direct(k));
            inputs.push(Input::Direct(k));
        }
    }
    inputs.extend((0..6).map(Input::Relay));
    inputs.extend((0..6).map(Input::Relay));
    run_race(&plans, &inputs).await;
}
