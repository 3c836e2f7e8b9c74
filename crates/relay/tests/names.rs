//! Names that cannot pass for another: look-alike names share the room's suffix count, and
//! names with invisible characters or a typed suffix never get in.

mod support;

use festival_proto::{ErrorCode, PROTOCOL_VERSION, ServerFrame};
use support::{Client, assert_code, spawn_relay};

const ROOM: &str = "Main Stage";

/// A raw `hello` as any client could send it, with `name` as JSON-escaped text.
fn hello(client: &Client, name: &str) -> String {
    format!(
        r#"{{"type":"hello","v":{PROTOCOL_VERSION},"device":"{}","name":"{name}","key":"{}","proof":"{}"}}"#,
        client.device,
        client.key.public(),
        client.key.prove(&client.nonce)
    )
}

/// Connects and says hello as `name`; returns the connection and the welcome's verdict.
async fn try_hello(url: &str, name: &str) -> (Client, Result<String, ErrorCode>) {
    let mut client = Client::connect(url).await;
    client.send_text(&hello(&client, name)).await;
    let verdict = match client.next().await {
        ServerFrame::Welcome(welcome) => Ok(welcome.name.as_str().to_owned()),
        ServerFrame::Error(error) => {
            assert_code(&error, error.code);
            Err(error.code)
        }
        other => panic!("expected welcome or error, got {other:?}"),
    };
    (client, verdict)
}

#[tokio::test]
async fn look_alike_names_are_suffixed_and_invisible_tricks_are_refused() {
    let relay = spawn_relay().await;
    let (mut alice, _) = Client::hello(&relay.url(), "Alice").await;
    assert_eq!(alice.join(ROOM).await.name.as_str(), "Alice");

    // Latin, Cyrillic А, fullwidth, and Alice again: one name as far as eyes can tell.
    let look_alikes = [
        ("\\u0410lice", "\u{410}lice (2)"),
        (
            "\\uff21\\uff4c\\uff49\\uff43\\uff45",
            "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45} (3)",
        ),
        ("Alice", "Alice (4)"),
    ];
    let mut others = Vec::new();
    for (sent, shown) in look_alikes {
        let (mut client, verdict) = try_hello(&relay.url(), sent).await;
        assert!(verdict.is_ok(), "{sent}: {verdict:?}");
        let joined = client.join(ROOM).await;
        assert_eq!(joined.name.as_str(), shown, "{sent}");
        // What the first Alice sees: the newcomer, suffixed.
        let came = alice
            .next_matching(|f| match f {
                ServerFrame::Presence(p) => Some(p),
                _ => None,
            })
            .await;
        assert_eq!(came.member.name.as_str(), shown);
        assert_eq!(came.member.device, client.device);
        others.push(client);
    }

    // Invisible characters, text-direction controls, nothing visible, a typed suffix.
    let refused = [
        ("Alice\\u200b", ErrorCode::InvisibleCharacter),
        ("\\u202eecilA", ErrorCode::InvisibleCharacter),
        ("\\u200d", ErrorCode::InvisibleCharacter),
        ("Alice (2)", ErrorCode::InvalidName),
        ("Alice (5)", ErrorCode::InvalidName),
    ];
    for (sent, code) in refused {
        let (mut client, verdict) = try_hello(&relay.url(), sent).await;
        assert_eq!(verdict, Err(code), "{sent}");
        // Refused, not closed: the same connection may try a proper name.
        client.send_text(&hello(&client, "Mallory")).await;
        match client.next().await {
            ServerFrame::Welcome(w) => assert_eq!(w.name.as_str(), "Mallory"),
            other => panic!("expected welcome after a fixed name, got {other:?}"),
        }
    }

    let members = alice.join(ROOM).await.members;
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Alice",
            "Alice (4)",
            "\u{410}lice (2)",
            "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45} (3)"
        ]
    );
}

#[tokio::test]
async fn rooms_with_invisible_characters_are_refused() {
    let relay = spawn_relay().await;
    let (mut client, _) = Client::hello(&relay.url(), "Ann").await;
    for room in [
        "Main\\u200bStage",
        "\\u202eegatS niaM",
        "\\u2066Camp\\u2069",
    ] {
        client
            .send_text(&format!(r#"{{"type":"join","room":"{room}"}}"#))
            .await;
        assert_code(&client.error().await, ErrorCode::InvisibleCharacter);
    }
    assert_eq!(client.join("Camp").await.members.len(), 1);
}
