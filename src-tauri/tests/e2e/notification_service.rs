//! A fake freedesktop notification service, as a desktop runs one, for the tests of the
//! app's notifications on Linux: it records each `Notify` call and sends the signals a
//! desktop sends when a notification is clicked (`ActionInvoked`) or closed
//! (`NotificationClosed`). Shared by the notifier's unit test (`src/notify/freedesktop.rs`)
//! and the end-to-end test, which run it on a private `dbus-daemon`.

use std::collections::HashMap;

use tokio::sync::mpsc;
use zbus::zvariant::OwnedValue;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// What the service was asked to show, under the id it answered.
#[derive(Debug)]
pub(crate) struct Shown {
    pub(crate) id: u32,
    pub(crate) app_name: String,
    pub(crate) summary: String,
    pub(crate) body: String,
    pub(crate) actions: Vec<String>,
}

struct Service {
    shown: mpsc::Sender<Shown>,
    next_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Service {
    fn get_capabilities(&self) -> Vec<String> {
        ["actions", "body", "body-markup"]
            .map(String::from)
            .to_vec()
    }

    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &mut self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        let shown = Shown {
            id,
            app_name,
            summary,
            body,
            actions,
        };
        // A test that stopped reading has its answer already.
        let _ = self.shown.send(shown).await;
        id
    }
}

/// The service on the bus at `address`; each notification it is asked to show comes out of
/// the receiver.
pub(crate) async fn serve(address: &str) -> (NotificationService, mpsc::Receiver<Shown>) {
    let (shown, receiver) = mpsc::channel(64);
    let connection = zbus::connection::Builder::address(address)
        .and_then(|b| b.name(SERVICE))
        .and_then(|b| b.serve_at(PATH, Service { shown, next_id: 0 }))
        .expect("a valid bus address")
        .build()
        .await
        .expect("the fake notification service on the bus");
    (NotificationService(connection), receiver)
}

/// The running service (it leaves the bus when dropped).
pub(crate) struct NotificationService(zbus::Connection);

impl NotificationService {
    /// The person invokes `action` on notification `id` (`"default"`: a click on it).
    pub(crate) async fn invoke(&self, id: u32, action: &str) {
        self.signal("ActionInvoked", &(id, action)).await;
    }

    /// The notification `id` goes away unclicked (2: dismissed by the person).
    pub(crate) async fn close(&self, id: u32) {
        self.signal("NotificationClosed", &(id, 2u32)).await;
    }

    /// Sends signal `name` to every listener, as a desktop does.
    async fn signal<B>(&self, name: &str, body: &B)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.0
            .emit_signal(None::<&str>, PATH, SERVICE, name, body)
            .await
            .expect("a signal on the bus");
    }
}
