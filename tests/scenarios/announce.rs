//! The organisers' announcement with real engines: it reaches every member of three rooms
//! exactly once, as an announcement (never a member's message), also a member that was
//! offline when it was sent and comes back, and also after everyone reconnects.

#![allow(clippy::unwrap_used)]

use festival_core::Event;
use festival_proto::MessageId;
use festival_tests::{Member, TestRelay};
use serde_json::json;

/// Each announcement this member showed: (room, id, body), in order.
fn announcements(member: &Member) -> Vec<(String, MessageId, String)> {
    member
        .events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Message { message, .. } if message.is_announcement() => {
                Some((message.room.to_string(), message.id, message.body.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_reaches_every_member_of_three_rooms_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path()).await;
    let url = relay.url();
    // Ann and Dee in the first room, Bo and Dee in the second, Cy and Eve in the third.
    let rooms = ["Main Stage", "Camp", "Lost and Found"];
    let ann = Member::start(&url, dir.path(), "Ann").await;
    let bo = Member::start(&url, dir.path(), "Bo").await;
    let cy = Member::start(&url, dir.path(), "Cy").await;
    let dee = Member::start(&url, dir.path(), "Dee").await;
    let eve = Member::start(&url, dir.path(), "Eve").await;
    let placed: [(&Member, &[&str]); 5] = [
        (&ann, &[rooms[0]]),
        (&bo, &[rooms[1]]),
        (&cy, &[rooms[2]]),
        (&dee, &[rooms[0], rooms[1]]),
        (&eve, &[rooms[2]]),
    ];
    for (member, joined) in placed {
        for room in joined {
            member.engine.join(room).await.unwrap();
        }
    }
    // One message in each room, so that each has history before the announcement.
    for (member, room) in [(&ann, rooms[0]), (&bo, rooms[1]), (&cy, rooms[2])] {
        let sent = member.engine.send(room, "hello").await.unwrap();
        sent.acked().await.unwrap();
    }
    eve.wait_cursor(rooms[2], 1).await;
    // Eve goes offline before the announcement.
    eve.engine.shutdown().await;

    let answer = relay
        .admin(
            "announce",
            Some(json!({"body": "The main stage is closed until 18:00"})),
        )
        .await;
    let reached = answer["rooms"].as_array().unwrap();
    assert_eq!(reached.len(), 3, "{answer}");
    assert!(reached.iter().all(|r| r["seq"] == 2), "{answer}");

    // Eve comes back, and every room gets one more message after the announcement: once a
    // member shows it, everything before it has been shown.
    let eve = Member::start(&url, dir.path(), "Eve").await;
    eve.engine.join(rooms[2]).await.unwrap();
    for (member, room) in [(&ann, rooms[0]), (&bo, rooms[1]), (&cy, rooms[2])] {
        let sent = member.engine.send(room, "after").await.unwrap();
        sent.acked().await.unwrap();
    }
    let everyone: [(&Member, &[&str]); 5] = [
        (&ann, &[rooms[0]]),
        (&bo, &[rooms[1]]),
        (&cy, &[rooms[2]]),
        (&dee, &[rooms[0], rooms[1]]),
        (&eve, &[rooms[2]]),
    ];
    for (member, joined) in everyone {
        for room in joined {
            member.wait_cursor(room, 3).await;
        }
    }
    // Everyone reconnects: the rejoin replays nothing already shown.
    for (member, _) in everyone {
        member.engine.reconnect().await.unwrap();
    }
    for (member, room) in [(&ann, rooms[0]), (&bo, rooms[1]), (&cy, rooms[2])] {
        let sent = member
            .engine
            .send(room, "after the reconnect")
            .await
            .unwrap();
        sent.acked().await.unwrap();
    }
    for (member, joined) in everyone {
        for room in joined {
            member.wait_cursor(room, 4).await;
        }
        let shown = announcements(member);
        let mut rooms_shown: Vec<&str> = shown.iter().map(|(room, _, _)| room.as_str()).collect();
        rooms_shown.sort_unstable();
        let mut expected = joined.to_vec();
        expected.sort_unstable();
        assert_eq!(
            rooms_shown, expected,
            "once in each of its rooms: {shown:?}"
        );
        assert!(
            shown
                .iter()
                .all(|(_, _, body)| body == "The main stage is closed until 18:00")
        );
        // Kept in the history, as an announcement.
        for room in joined {
            let history = member.engine.history(room, 10).await.unwrap();
            let kept: Vec<_> = history.iter().filter(|m| m.sender.is_nil()).collect();
            assert_eq!(kept.len(), 1, "{room}: {history:?}");
        }
    }
}
