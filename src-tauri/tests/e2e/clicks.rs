//! A notification clicked on a Linux desktop opens its room: the real app on a private
//! session bus where a fake freedesktop notification service runs, a message arriving in a
//! room that is not on screen, the service asked to show it with a `default` action, and the
//! click the service reports putting that room on screen with the message.

use festival_core::router::PreferredRoute;
use festival_core::{Engine, EngineConfig};
use serde_json::json;

use super::browser::{WAIT, control};
use super::notification_service::{self, Shown};
use super::{LAST_MESSAGE, ONE_APP_AT_A_TIME, launch_app, messages_of, relay_at, session_bus};

/// Waits for the service to be asked to show a notification titled `summary`.
async fn shown_as(shown: &mut tokio::sync::mpsc::Receiver<Shown>, summary: &str) -> Shown {
    tokio::time::timeout(WAIT, async {
        loop {
            let notification = shown.recv().await.expect("the fake service stopped");
            if notification.summary == summary {
                return notification;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no notification {summary:?} within {WAIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clicked_notification_opens_its_room() {
    let _one = ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    // Bob, relay only (which also installs the TLS provider the WebDriver client needs).
    let mut config = EngineConfig::new(relay.ws_url(), dir.path().join("bob")).with_name("Bob");
    config.p2p.preferred = PreferredRoute::Relay;
    let (bob, bob_events) = Engine::start(config).await.unwrap();
    let _bob_events = messages_of(bob_events);
    bob.join("Camp").await.unwrap();

    let (_bus, bus) = session_bus(dir.path());
    let (service, mut shown) = notification_service::serve(&bus).await;
    // The real notifier (no FESTIVAL_NOTIFY_LOG), on the private bus.
    let (app, _processes) = launch_app(
        dir.path(),
        &relay.ws_url(),
        &[("DBUS_SESSION_BUS_ADDRESS", bus.as_str())],
    )
    .await;

    // Alice is in Camp and Main Stage, Main Stage on screen.
    let room_field = control("textbox", "Room or code");
    app.type_into(control("textbox", "Your name"), "Alice")
        .await;
    app.type_into(room_field, "Camp").await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Camp")).await;
    app.click(control("button", "Rooms")).await;
    app.type_into(room_field, "Main Stage").await;
    app.click(control("button", "Join")).await;
    app.wait_for(control("heading", "Main Stage")).await;

    // Bob writes in Camp: the desktop is asked to show it, clickable.
    bob.send("Camp", "meet at the camp").await.unwrap();
    let notification = shown_as(&mut shown, "Bob in Camp").await;
    assert_eq!(notification.app_name, "Festival Chat");
    assert_eq!(notification.body, "meet at the camp");
    assert!(
        notification.actions.iter().any(|a| a == "default"),
        "not clickable: {notification:?}"
    );

    // The person clicks it: Camp is on screen, with the message.
    service.invoke(notification.id, "default").await;
    app.wait_for(control("heading", "Camp")).await;
    app.until("Bob's message in the room the click opened", async || {
        let last = app.script(LAST_MESSAGE, json!([])).await;
        last.as_str()?.contains("meet at the camp").then_some(())
    })
    .await;
    app.quit().await;
    bob.shutdown().await;
}
