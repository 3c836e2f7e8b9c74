//! Notifications through the freedesktop notification service on the session D-Bus (Linux),
//! so that a click on one opens its room: each is shown with a `default` action, and the
//! service's `ActionInvoked` signal for it is the click. Tauri's notification plugin shows
//! notifications here too, but tells the app nothing of a click.
//!
//! [`Freedesktop::new`] subscribes to the service's signals before anything is shown, so no
//! click can come before its listener; the listener it returns runs for as long as the bus
//! connection, and [`Clicks`] decides which room a click opens (also for a click read before
//! the answer that numbered its notification).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use festival_proto::RoomName;
use futures_util::StreamExt;
use zbus::proxy::SignalStream;
use zbus::zvariant::Value;

use super::clicks::{Clicks, DEFAULT_ACTION};
use super::{Notification, Notifier};

/// The service's well-known bus name, which is also its interface's (the specification's).
const SERVICE: &str = "org.freedesktop.Notifications";
/// The object the service serves the interface at.
const PATH: &str = "/org/freedesktop/Notifications";
/// The name the service shows the notifications under.
const APP_NAME: &str = "Festival Chat";
/// The label of the default action: most services show none for it (a click on the
/// notification is the action), a few show it as a button.
const OPEN: &str = "Open";
/// How long the app's start waits for the bus and the service: a bus that does not answer
/// costs notifications their click, not the app its window.
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// "The server decides": how long a notification stays is the desktop's policy.
const SERVER_TIMEOUT: i32 = -1;

/// Why notifications cannot go through the service (the app then uses the plugin's).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BusError {
    /// No session bus could be reached (no desktop session, or no
    /// `DBUS_SESSION_BUS_ADDRESS`).
    #[error("no session D-Bus: {0}")]
    Connect(#[source] zbus::Error),
    /// The notification service refused a call or is not there to answer it.
    #[error("the notification service: {0}")]
    Service(#[source] zbus::Error),
    /// The bus or the service did not answer in time.
    #[error("the session D-Bus did not answer within {0:?}")]
    Timeout(Duration),
}

/// Shows notifications through the service and remembers each one's room for a click (a
/// clone shares both).
#[derive(Clone)]
pub(crate) struct Freedesktop {
    proxy: zbus::Proxy<'static>,
    clicks: Arc<Mutex<Clicks>>,
    /// What a click does: called by the listener, or by [`Freedesktop::show`] for a click
    /// read before the service's answer.
    on_click: Arc<dyn Fn(RoomName) + Send + Sync>,
    /// The service renders a little markup in bodies (`body-markup`): a message's text is
    /// escaped for it, so that `<b>` or `<img src=…>` in a message shows as typed.
    markup: bool,
}

impl Freedesktop {
    /// Connects to the session bus named by `DBUS_SESSION_BUS_ADDRESS`, giving up after
    /// [`CONNECT_WAIT`]; see [`Freedesktop::new`].
    pub(crate) async fn session(
        on_click: impl Fn(RoomName) + Send + Sync + 'static,
    ) -> Result<(Self, impl Future<Output = ()> + Send + 'static), BusError> {
        let connect = async {
            let connection = zbus::Connection::session()
                .await
                .map_err(BusError::Connect)?;
            Self::new(connection, on_click).await
        };
        tokio::time::timeout(CONNECT_WAIT, connect)
            .await
            .map_err(|_| BusError::Timeout(CONNECT_WAIT))?
    }

    /// A notifier on `connection`, and the listener to spawn: it calls `on_click` with the
    /// room of each of this app's notifications clicked.
    pub(crate) async fn new(
        connection: zbus::Connection,
        on_click: impl Fn(RoomName) + Send + Sync + 'static,
    ) -> Result<(Self, impl Future<Output = ()> + Send + 'static), BusError> {
        let proxy = zbus::Proxy::new(&connection, SERVICE, PATH, SERVICE)
            .await
            .map_err(BusError::Service)?;
        let signals = proxy
            .receive_all_signals()
            .await
            .map_err(BusError::Service)?;
        let capabilities: Vec<String> = proxy
            .call("GetCapabilities", &())
            .await
            .map_err(BusError::Service)?;
        let notifier = Self {
            proxy,
            clicks: Arc::new(Mutex::new(Clicks::default())),
            on_click: Arc::new(on_click),
            markup: capabilities.iter().any(|c| c == "body-markup"),
        };
        let listener = listen(
            signals,
            Arc::clone(&notifier.clicks),
            Arc::clone(&notifier.on_click),
        );
        Ok((notifier, listener))
    }

    /// Shows `notification` with its `default` action and remembers its room for a click.
    pub(crate) async fn show(&self, notification: &Notification) -> Result<(), BusError> {
        let body = if self.markup {
            escaped(&notification.body)
        } else {
            notification.body.clone()
        };
        let actions = [DEFAULT_ACTION, OPEN];
        let hints: HashMap<&str, Value<'_>> = HashMap::new();
        let call = (
            APP_NAME,
            0u32,
            "",
            &notification.title,
            body,
            &actions[..],
            hints,
            SERVER_TIMEOUT,
        );
        let id: u32 = self
            .proxy
            .call("Notify", &call)
            .await
            .map_err(BusError::Service)?;
        let clicked = lock(&self.clicks).shown(id, notification.room.clone());
        if let Some(room) = clicked {
            (self.on_click)(room);
        }
        Ok(())
    }
}

impl Notifier for Freedesktop {
    fn notify(&self, notification: &Notification) {
        let (this, notification) = (self.clone(), notification.clone());
        tauri::async_runtime::spawn(async move {
            if let Err(e) = this.show(&notification).await {
                tracing::debug!("notification: {e}");
            }
        });
    }
}

/// Reads the service's signals: a click opens its room, a close forgets the notification.
/// A signal that does not decode is skipped (the bus is shared with every application).
async fn listen(
    mut signals: SignalStream<'static>,
    clicks: Arc<Mutex<Clicks>>,
    on_click: Arc<dyn Fn(RoomName) + Send + Sync>,
) {
    while let Some(signal) = signals.next().await {
        let header = signal.header();
        let body = signal.body();
        let clicked = match header.member().map(|m| m.as_str()) {
            Some("ActionInvoked") => body
                .deserialize::<(u32, &str)>()
                .ok()
                .and_then(|(id, action)| lock(&clicks).invoked(id, action)),
            Some("NotificationClosed") => {
                if let Ok((id, _reason)) = body.deserialize::<(u32, u32)>() {
                    lock(&clicks).closed(id);
                }
                None
            }
            _ => None,
        };
        if let Some(room) = clicked {
            on_click(room);
        }
    }
}

fn lock(clicks: &Mutex<Clicks>) -> std::sync::MutexGuard<'_, Clicks> {
    clicks.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `text` with the three characters the specification's body markup gives meaning to
/// escaped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use tokio::sync::mpsc;

    use super::*;
    use crate::notify::notification_service;

    /// Longest wait for anything over the bus.
    const WAIT: Duration = Duration::from_secs(10);

    /// A private session bus (`dbus-daemon`), stopped when dropped.
    struct Bus {
        daemon: Child,
        address: String,
    }

    impl Bus {
        /// Starts the daemon and reads the address it prints once it listens.
        fn start(dir: &std::path::Path) -> Self {
            let mut daemon = Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--nopidfile", "--print-address"])
                .arg(format!("--address=unix:dir={}", dir.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon is installed");
            let mut address = String::new();
            BufReader::new(daemon.stdout.take().unwrap())
                .read_line(&mut address)
                .unwrap();
            Self {
                daemon,
                address: address.trim().to_owned(),
            }
        }

        async fn connect(&self) -> zbus::Connection {
            zbus::connection::Builder::address(self.address.as_str())
                .unwrap()
                .build()
                .await
                .unwrap()
        }
    }

    impl Drop for Bus {
        fn drop(&mut self) {
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
        }
    }

    async fn next<T>(receiver: &mut mpsc::Receiver<T>, what: &str) -> T {
        tokio::time::timeout(WAIT, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap()
    }

    fn notification(room: &str, body: &str) -> Notification {
        Notification {
            room: RoomName::parse(room).unwrap(),
            title: format!("Bob in {room}"),
            body: body.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_click_on_a_shown_notification_opens_its_room() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::start(dir.path());
        let (service, mut shown) = notification_service::serve(&bus.address).await;
        let (opened_tx, mut opened) = mpsc::channel(8);
        let (notifier, listener) = Freedesktop::new(bus.connect().await, move |room| {
            opened_tx.try_send(room).unwrap();
        })
        .await
        .unwrap();
        tokio::spawn(listener);

        notifier
            .show(&notification("Camp", "<b>at</b> the bar & more"))
            .await
            .unwrap();
        notifier
            .show(&notification("Main Stage", "on stage"))
            .await
            .unwrap();
        let camp = next(&mut shown, "Notify for Camp").await;
        assert_eq!(camp.app_name, APP_NAME);
        assert_eq!(camp.summary, "Bob in Camp");
        assert_eq!(camp.body, "&lt;b&gt;at&lt;/b&gt; the bar &amp; more");
        assert_eq!(camp.actions, [DEFAULT_ACTION, OPEN]);
        let stage = next(&mut shown, "Notify for Main Stage").await;

        // Another application's click, a button that is not the default action, and a
        // notification closed unclicked open nothing; the click on Camp opens Camp, and the
        // signals arrive in order, so nothing came before it.
        service.invoke(stage.id + 100, DEFAULT_ACTION).await;
        service.invoke(camp.id, "reply").await;
        service.close(stage.id).await;
        service.invoke(stage.id, DEFAULT_ACTION).await;
        service.invoke(camp.id, DEFAULT_ACTION).await;
        assert_eq!(
            next(&mut opened, "click").await,
            RoomName::parse("Camp").unwrap()
        );
        assert!(opened.try_recv().is_err(), "one click, one room");
    }

    #[tokio::test]
    async fn no_notification_service_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::start(dir.path());
        let connection = bus.connect().await;
        let made = tokio::time::timeout(WAIT, Freedesktop::new(connection, |_| ()))
            .await
            .expect("an answer from the bus");
        assert!(matches!(made, Err(BusError::Service(_))));
    }

    #[test]
    fn markup_in_a_message_shows_as_typed() {
        assert_eq!(
            escaped("<img src=\"x\"> & <a href='y'>"),
            "&lt;img src=\"x\"&gt; &amp; &lt;a href='y'&gt;"
        );
        assert_eq!(escaped("plain"), "plain");
    }
}
