//! Names bound to keys and private rooms in the real app, against a real relay, with the
//! other people on engines: a member's safety number (the same 60 digits their phone shows)
//! marked verified, the mark on their name and messages, the warning when their name comes
//! back with another key; a private room whose invite carries its key, read by the member
//! who took it and by nobody else (the relay's database holds no word of it), a sealed
//! message without its key shown by its notice, and the owner removing a member.

use std::path::Path;

use festival_core::router::PreferredRoute;
use festival_core::{Delivered, Engine, EngineConfig, Event, Events, Privacy};
use festival_proto::{Fingerprint, Invite};
use serde_json::json;
use tokio::sync::mpsc;

use super::browser::{WAIT, control};
use super::{LAST_MESSAGE, MESSAGE, ONE_APP_AT_A_TIME, SEND, Shots, launch_app, relay_at};

/// Every message an engine shows, with what it could read of it.
type Seen = mpsc::Receiver<(Delivered, Privacy)>;

/// An engine on the relay only (so that nothing reaches the app but through the relay), its
/// data in `dir/data`, and its messages as it shows them.
async fn person(url: String, dir: &Path, data: &str, name: &str) -> (Engine, Seen) {
    let mut config = EngineConfig::new(url, dir.join(data)).with_name(name);
    config.p2p.preferred = PreferredRoute::Relay;
    let (engine, events) = Engine::start(config).await.unwrap();
    (engine, seen(events))
}

fn seen(mut events: Events) -> Seen {
    let (tx, rx) = mpsc::channel(10_000);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Event::Message {
                message, privacy, ..
            } = event
                && tx.send((message, privacy)).await.is_err()
            {
                return;
            }
        }
    });
    rx
}

/// Waits for the first message `matches` takes.
async fn wait_seen(
    seen: &mut Seen,
    what: &str,
    matches: impl Fn(&Delivered, Privacy) -> bool,
) -> (Delivered, Privacy) {
    tokio::time::timeout(WAIT, async {
        loop {
            let (message, privacy) = seen.recv().await.expect("the engine stopped");
            if matches(&message, privacy) {
                return (message, privacy);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never saw {what}"))
}

/// Whether the message whose text is `body` carries the verified mark beside its sender.
fn marked(body: &str) -> String {
    format!(
        "const li = [...document.querySelectorAll('#messages li')] \
           .find((li) => li.querySelector('.body').textContent === {body:?}); \
         if (!li) return null; \
         return li.querySelector('.from [role=img][aria-label=verified]') ? 'marked' : 'plain';"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_verified_in_person_is_marked_until_their_name_comes_with_another_key() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let (bob, _bob_seen) = person(relay.ws_url(), dir.path(), "bob", "Bob").await;
    bob.join("Camp").await.unwrap();
    let (app, _processes) = launch_app(dir.path(), &relay.ws_url(), &[]).await;
    let mut shots = Shots::default();

    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(control("textbox", "Room or code"), "Camp")
        .await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Camp")).await;
    bob.send("Camp", "hi from Bob").await.unwrap();
    app.until("Bob's first message", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?.contains("hi from Bob").then_some(())
    })
    .await;
    assert_eq!(app.script(&marked("hi from Bob"), json!([])).await, "plain");

    // Bob's details, from the members list: his key's fingerprint, and the safety number his
    // own phone shows for the two of them, in twelve groups of five digits, with its QR code.
    app.click(control("button", "2 online")).await;
    // By the keyboard: Enter on his name.
    let bob_in_list = app.wait_for(control("button", "Bob")).await;
    app.keys(&bob_in_list, "\u{E007}").await;
    app.wait_for(control("region", "Details of Bob")).await;
    assert_eq!(
        app.script("return document.activeElement.id;", json!([]))
            .await,
        "member-panel",
        "focus follows into his details"
    );
    let groups = app
        .script(
            "return [...document.querySelectorAll('#safety-number li')].map((li) => li.textContent);",
            json!([]),
        )
        .await;
    let groups: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 12, "{groups:?}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
    );
    let on_bobs_phone = bob.whois("Camp", "Alice").await.unwrap();
    assert_eq!(groups.concat(), on_bobs_phone.safety_number.digits());
    assert_eq!(groups.concat().len(), 60);
    let fingerprint = app
        .script(
            "return document.getElementById('member-fingerprint').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(
        fingerprint,
        Fingerprint::of(&bob.identity().key.public()).to_string()
    );
    app.wait_for(control("img", "Safety number QR code")).await;
    assert_eq!(
        app.script(
            "return !!document.querySelector('#member-qr svg');",
            json!([])
        )
        .await,
        true
    );
    shots.take(&app, "11-member-details").await;
    app.script(
        "document.getElementById('member-qr').scrollIntoView({ block: 'center' });",
        json!([]),
    )
    .await;
    // Drawn before the picture is taken: two frames.
    app.script(
        "return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
        json!([]),
    )
    .await;
    app.screenshot("11-member-details-qr").await;

    // Compared in person: marked, in his details, in the members list and on his messages
    // (those shown already and the next one).
    app.click(control("button", "Mark as verified")).await;
    app.wait_for(control("heading", "Bob verified")).await;
    app.click(control("button", "Back to members")).await;
    app.wait_for(control("button", "Bob verified")).await;
    app.until_script(
        "the mark on Bob's first message",
        &format!("return {} === 'marked';", marked_expr("hi from Bob")),
    )
    .await;
    bob.send("Camp", "compared in person").await.unwrap();
    app.until_script(
        "the mark on Bob's next message",
        &format!("return {} === 'marked';", marked_expr("compared in person")),
    )
    .await;
    shots.take(&app, "12-verified").await;

    // "Bob" comes back with another key (a new phone, or someone else): the room says so, a
    // screen reader hears it, and the mark is not on him.
    bob.shutdown().await;
    app.wait_for(control("button", "1 online")).await;
    let (new_bob, _new_seen) = person(relay.ws_url(), dir.path(), "bob-new-phone", "Bob").await;
    new_bob.join("Camp").await.unwrap();
    app.wait_for(control("button", "Check Bob")).await;
    let warning = app
        .script(
            "return document.getElementById('key-warnings').textContent;",
            json!([]),
        )
        .await;
    assert!(
        warning
            .as_str()
            .unwrap()
            .contains("Bob's key changed: verify again"),
        "{warning}"
    );
    app.until_script(
        "the warning said to a screen reader",
        "return document.getElementById('announcer').textContent.includes(\"Bob's key changed: verify again\");",
    )
    .await;
    app.wait_for(control("button", "Bob")).await;
    assert!(
        app.find(control("button", "Bob verified")).await.is_none(),
        "the mark stayed on a new key"
    );
    new_bob.send("Camp", "it's me, new phone").await.unwrap();
    app.until_script(
        "the new key's message, unmarked",
        &format!("return {} === 'plain';", marked_expr("it's me, new phone")),
    )
    .await;
    shots.take(&app, "13-key-changed").await;
    // His details say it is not the key verified before.
    app.click(control("button", "Check Bob")).await;
    app.wait_for(control("region", "Details of Bob")).await;
    app.wait_for(control("button", "Mark as verified")).await;
    let status = app
        .script(
            "return document.getElementById('member-status').textContent;",
            json!([]),
        )
        .await;
    assert!(
        status.as_str().unwrap().starts_with("Not the key you knew"),
        "{status}"
    );

    app.quit().await;
    new_bob.shutdown().await;
    shots.assert_accessible();
}

/// The script expression of [`marked`], for `until_script`.
fn marked_expr(body: &str) -> String {
    format!("(() => {{ {} }})()", marked(body))
}

/// Whether any of the relay's database files (the WAL too) holds `text`.
fn relay_db_holds(dir: &Path, text: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("relay.db"))
        })
        .any(|path| {
            let bytes = std::fs::read(&path).unwrap();
            bytes
                .windows(text.len())
                .any(|window| window == text.as_bytes())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_read_by_its_invites_holders_and_by_no_one_else() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let url = relay.ws_url();
    // Carol will take the invite; Dave only knows the room's name. (Starting an engine also
    // installs the TLS provider the WebDriver client needs.)
    let (carol, mut carol_seen) = person(url.clone(), dir.path(), "carol", "Carol").await;
    let (dave, mut dave_seen) = person(url.clone(), dir.path(), "dave", "Dave").await;
    let (app, _processes) = launch_app(dir.path(), &url, &[]).await;
    let mut shots = Shots::default();

    // Alice makes a private room from the join form.
    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(control("textbox", "Room or code"), "Backstage")
        .await;
    app.click(control("checkbox", "Private room")).await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Backstage")).await;
    app.wait_for(control("img", "private room")).await;

    // Its invite carries the key after the #, and says what that means.
    app.click(control("button", "Invite")).await;
    app.wait_for(control("region", "Invite")).await;
    let link = app
        .script(
            "return document.getElementById('invite-link').value;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.contains("#key="), "{link}");
    let said = app
        .script(
            "const p = document.getElementById('invite-private'); return !p.hidden && p.textContent;",
            json!([]),
        )
        .await;
    assert!(
        said.as_str()
            .is_some_and(|s| s.contains("whoever has this link")),
        "{said}"
    );
    app.wait_for(control("img", "Invite QR code")).await;
    shots.take(&app, "14-private-invite").await;
    app.click(control("button", "Invite")).await;

    // Carol takes the invite; Dave joins by the room's name.
    let invite = Invite::parse(&link).unwrap();
    let private = invite.private.clone().expect("the link carries the key");
    carol
        .add_private(invite.room.as_str(), &private)
        .await
        .unwrap();
    carol.join(invite.room.as_str()).await.unwrap();
    dave.join("Backstage").await.unwrap();
    app.wait_for(control("button", "3 online")).await;

    let secret = "meet behind the sound desk at nine";
    app.type_into(MESSAGE, secret).await;
    app.click(SEND).await;
    let (got, privacy) = wait_seen(
        &mut carol_seen,
        "Alice's sealed message at Carol's",
        |m, _| m.body == secret,
    )
    .await;
    assert_eq!((got.from.as_str(), privacy), ("Alice", Privacy::Private));
    let (shut, privacy) = wait_seen(&mut dave_seen, "Alice's message at Dave's", |m, _| {
        m.from.as_str() == "Alice"
    })
    .await;
    assert_eq!(
        (shut.body.as_str(), privacy),
        ("", Privacy::NoKey),
        "read without the key"
    );
    let reply = "on my way, bringing the passes";
    carol
        .send("Backstage", reply)
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    app.until("Carol's reply", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?.contains(reply).then_some(())
    })
    .await;
    shots.take(&app, "15-private-room").await;

    // The relay stored both, and no word of either: what it holds is sealed. (Dave's words,
    // typed without the key, are plain: the relay's file does hold those.)
    let plain = "dave has no key and says so in plain";
    dave.send("Backstage", plain)
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    assert!(
        relay_db_holds(dir.path(), plain),
        "the search finds plain text"
    );
    app.until_script(
        "Dave's plain words marked as not sealed",
        "return [...document.querySelectorAll('#messages li')].some((li) => \
           li.textContent.includes('dave has no key') && \
           li.textContent.includes('not sealed: the relay could read it'));",
    )
    .await;
    for sentence in [secret, reply] {
        assert!(
            !relay_db_holds(dir.path(), sentence),
            "the relay's database holds {sentence:?}"
        );
    }

    // A private room whose key this device lacks: its messages are shown by the engine's
    // notice, never by their bytes.
    carol.make_private("Carol's Tent").await.unwrap();
    carol.join("Carol's Tent").await.unwrap();
    carol
        .send("Carol's Tent", "the tent code is 4471")
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    app.click(control("button", "Rooms")).await;
    app.type_into(control("textbox", "Room or code"), "Carol's Tent")
        .await;
    assert_eq!(
        app.script(
            "return document.getElementById('private').checked;",
            json!([])
        )
        .await,
        false,
        "the tick that made Backstage private is not left for the next room"
    );
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Carol's Tent")).await;
    let notice = app
        .until_script(
            "the notice of a message without its key",
            "const b = document.querySelector('#messages li .body.notice'); return b && b.textContent;",
        )
        .await;
    assert_eq!(notice, "encrypted message (no key for this room)");
    app.screenshot("15-sealed-notice").await;
    let page = app
        .script("return document.body.textContent;", json!([]))
        .await;
    assert!(!page.as_str().unwrap().contains("4471"), "the text leaked");
    assert!(
        app.find(control("img", "private room")).await.is_none(),
        "not private here: this device holds no key for it"
    );

    // Carol's invite opened in the app (the path a clicked festival:// link takes): its key
    // is taken before the room opens, and what Carol says from then on reads as text.
    let tent = Invite {
        room: festival_proto::RoomName::parse("Carol's Tent").unwrap(),
        relay: Some(url.clone()),
        private: carol.private_room("Carol's Tent").unwrap(),
    }
    .to_link();
    app.click(control("button", "Rooms")).await;
    app.type_into(control("textbox", "Invite link"), &tent)
        .await;
    app.click(control("button", "Open invite")).await;
    app.wait_for(control("heading", "Carol's Tent")).await;
    app.wait_for(control("img", "private room")).await;
    let opened = "now you hold the key too";
    carol
        .send("Carol's Tent", opened)
        .await
        .unwrap()
        .acked()
        .await
        .unwrap();
    app.until("Carol's message opened with the invite's key", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?.contains(opened).then_some(())
    })
    .await;
    assert!(!relay_db_holds(dir.path(), opened));

    // Errors about members come back by code.
    let error = app
        .script(
            "return window.__TAURI__.core.invoke('whois', { room: 'Backstage', name: 'Zed' }) \
               .then(() => null, (e) => e.code);",
            json!([]),
        )
        .await;
    assert_eq!(error, "no_such_member");

    // Alice, the owner, removes Carol: what is typed next is sealed with a key Carol lacks.
    app.click(control("button", "Rooms")).await;
    app.type_into(control("textbox", "Room or code"), "Backstage")
        .await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Backstage")).await;
    app.click(control("button", "3 online")).await;
    app.click(control("button", "Carol")).await;
    app.wait_for(control("region", "Details of Carol")).await;
    shots.take(&app, "16-member-removable").await;
    app.click(control("button", "Remove from private room"))
        .await;
    // Asked once more; Cancel leaves Carol in, then the removal is confirmed.
    app.wait_for(control("group", "Remove Carol? The room gets a new key that Carol does not get: they keep what they have read, and read nothing new. Only a new invite lets them back.")).await;
    shots.take(&app, "17-remove-confirm").await;
    app.click(control("button", "Cancel")).await;
    app.click(control("button", "Remove from private room"))
        .await;
    app.click(control("button", "Remove Carol")).await;
    app.until_script(
        "the removal confirmed",
        "return document.getElementById('member-result').textContent.startsWith('Carol was removed');",
    )
    .await;
    let after = "new key, Carol is out";
    app.type_into(MESSAGE, after).await;
    app.click(SEND).await;
    wait_seen(
        &mut carol_seen,
        "a message sealed with the new key at Carol's",
        |m, privacy| m.from.as_str() == "Alice" && privacy == Privacy::NoKey,
    )
    .await;
    assert!(!relay_db_holds(dir.path(), after));
    // The invite now carries the new key: the old link no longer reads the room.
    app.click(control("button", "Invite")).await;
    app.until("the invite with the new key", async || {
        let link = app
            .script(
                "return document.getElementById('invite-link').value;",
                json!([]),
            )
            .await;
        let epoch = Invite::parse(link.as_str()?).ok()?.private?.epoch;
        (epoch == 1).then_some(())
    })
    .await;

    app.quit().await;
    for engine in [carol, dave] {
        engine.shutdown().await;
    }
    shots.assert_accessible();
}
