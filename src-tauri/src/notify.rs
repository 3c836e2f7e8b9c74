//! Notifications per room: a new message or someone joining, raised only when the person is
//! not looking at that room (the window is hidden, or another room or the room list is on
//! screen), never for a muted room, never for one's own messages or for history replayed on
//! a join, and at most a few per room in a burst.
//!
//! What to raise is decided by [`Notifications`], a state machine with time passed in; how
//! it is shown is a [`Notifier`]: on Linux the freedesktop notification service, whose
//! clicks open the notification's room ([`clicks`] decides which); elsewhere Tauri's
//! notification plugin; or (when `FESTIVAL_NOTIFY_LOG` names a file) a recorder that an
//! end-to-end test reads.

#[cfg(target_os = "linux")]
mod clicks;
#[cfg(target_os = "linux")]
mod freedesktop;
/// The fake notification service the end-to-end test runs, for the notifier's own test.
#[cfg(all(test, target_os = "linux"))]
#[path = "../tests/e2e/notification_service.rs"]
mod notification_service;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use festival_core::Event;
use festival_proto::{DeviceId, PresenceChange, RoomName, TokenBucket};
use serde::Serialize;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::rooms::Rooms;

/// The environment variable naming the file notifications are recorded to instead of shown.
pub(crate) const NOTIFY_LOG_ENV: &str = "FESTIVAL_NOTIFY_LOG";
/// A message sent longer ago than this is history (replayed on a join), not news.
const NEWS_MS: i64 = 2 * 60 * 1000;
/// Notifications one room may raise at once, then one a second: a burst of a thousand
/// messages is a handful of notifications, not a thousand.
const BURST: u32 = 4;

/// One notification, as shown and as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Notification {
    /// The room it is about (opened when the notification is clicked, where supported).
    pub(crate) room: RoomName,
    pub(crate) title: String,
    pub(crate) body: String,
}

/// Shows notifications.
pub(crate) trait Notifier: Send + Sync {
    /// Shows `notification`; failures are logged, never raised (a notification is a hint).
    fn notify(&self, notification: &Notification);
}

/// The desktop's (or phone's) notifications, through Tauri's notification plugin (no click
/// reaches the app: on Linux, `freedesktop::Freedesktop` is used instead).
pub(crate) struct Desktop(pub(crate) AppHandle);

impl Notifier for Desktop {
    fn notify(&self, notification: &Notification) {
        let shown = self
            .0
            .notification()
            .builder()
            .title(&notification.title)
            .body(&notification.body)
            .show();
        if let Err(e) = shown {
            tracing::debug!("notification: {e}");
        }
    }
}

/// Appends each notification as a JSON line to a file: the test double of [`Desktop`].
pub(crate) struct Recorder(pub(crate) PathBuf);

impl Notifier for Recorder {
    fn notify(&self, notification: &Notification) {
        let line = serde_json::to_string(notification).unwrap_or_default();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(e) = written {
            tracing::warn!("recording a notification: {e}");
        }
    }
}

/// The notifier this run uses: the recorder when `FESTIVAL_NOTIFY_LOG` is set; on Linux the
/// freedesktop service when the session bus has one; otherwise the plugin. Made once, when
/// the app starts (on Linux it connects to the session bus).
pub(crate) fn notifier(app: &AppHandle) -> Box<dyn Notifier> {
    if let Some(path) = std::env::var_os(NOTIFY_LOG_ENV) {
        return Box::new(Recorder(PathBuf::from(path)));
    }
    #[cfg(target_os = "linux")]
    {
        let handle = app.clone();
        let connected =
            tauri::async_runtime::block_on(freedesktop::Freedesktop::session(move |room| {
                open_room(&handle, &room)
            }));
        match connected {
            Ok((notifier, listener)) => {
                tauri::async_runtime::spawn(listener);
                return Box::new(notifier);
            }
            Err(e) => tracing::info!("notifications cannot open their room when clicked: {e}"),
        }
    }
    Box::new(Desktop(app.clone()))
}

/// A notification about `room` was clicked: the window comes to the front and the UI opens
/// the room.
#[cfg(target_os = "linux")]
fn open_room(app: &AppHandle, room: &RoomName) {
    use tauri::Emitter;
    crate::bring_to_front(app);
    if let Err(e) = app.emit(crate::OPEN_ROOM_EVENT, room) {
        tracing::warn!("opening a notification's room: {e}");
    }
}

/// What the person sees now, as far as notifications care.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Looking<'a> {
    /// This device (its own messages raise nothing).
    pub(crate) me: DeviceId,
    /// The rooms, with the one on screen and the muted ones.
    pub(crate) rooms: &'a Rooms,
    /// Whether the window is on screen (not hidden, not minimised).
    pub(crate) window_shown: bool,
}

/// Decides which engine events become notifications.
#[derive(Debug, Default)]
pub(crate) struct Notifications {
    budgets: HashMap<RoomName, TokenBucket>,
}

impl Notifications {
    /// The notification `event` raises, if any, at `now` (`now_ms`: the wall clock, to tell
    /// news from history).
    pub(crate) fn decide(
        &mut self,
        event: &Event,
        looking: Looking<'_>,
        now: Instant,
        now_ms: i64,
    ) -> Option<Notification> {
        let notification = match event {
            Event::Message {
                message, privacy, ..
            } if message.sender != looking.me
                && now_ms.saturating_sub(message.sent_at) <= NEWS_MS =>
            {
                Notification {
                    room: message.room.clone(),
                    title: format!("{} in {}", message.from, message.room),
                    // A sealed message without a readable text: what it is, never its bytes.
                    body: privacy
                        .notice()
                        .map_or_else(|| message.body.clone(), str::to_owned),
                }
            }
            Event::Presence {
                room,
                change: PresenceChange::Joined,
                member,
                ..
            } if member.device != looking.me => Notification {
                room: room.clone(),
                title: room.to_string(),
                body: format!("{} joined", member.name),
            },
            _ => return None,
        };
        let rooms = looking.rooms;
        let seen = looking.window_shown && rooms.current.as_ref() == Some(&notification.room);
        if seen || rooms.muted.contains(&notification.room) || !rooms.is_joined(&notification.room)
        {
            return None;
        }
        if !self
            .budgets
            .entry(notification.room.clone())
            .or_insert_with(|| TokenBucket::new(1, BURST, now))
            .try_take(now)
        {
            return None;
        }
        Some(notification)
    }

    /// Forgets the budget of a room that was left.
    pub(crate) fn forget(&mut self, room: &RoomName) {
        self.budgets.remove(room);
    }
}

#[cfg(test)]
mod tests {
    // The tests read the clock once for a starting instant, then move time by hand.
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)]

    use std::time::Duration;

    use festival_core::{Authenticity, Delivered, Privacy, Route};
    use festival_proto::{DeviceKey, DisplayName, Member, MessageId};

    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn message(from: DeviceId, to: &str, sent_at: i64) -> Event {
        Event::Message {
            message: Delivered {
                room: room(to),
                id: MessageId::new(),
                seq: Some(1),
                sender: from,
                from: DisplayName::parse("Bob").unwrap(),
                body: "at the bar".into(),
                sealed: None,
                sent_at,
                stored_at: Some(sent_at),
                prev: None,
                key: None,
                sig: None,
            },
            route: Route::Relay,
            authenticity: Authenticity::Verified,
            privacy: Privacy::Public,
        }
    }

    fn two_rooms() -> Rooms {
        let mut rooms = Rooms::default();
        rooms.open(&room("Camp"));
        rooms.open(&room("Main Stage"));
        rooms
    }

    #[test]
    fn only_rooms_not_on_screen_notify() {
        let (me, bob) = (DeviceId::random(), DeviceId::random());
        let rooms = two_rooms();
        let mut notifications = Notifications::default();
        let now = Instant::now();
        let mut decide = |event: &Event, shown: bool| {
            let looking = Looking {
                me,
                rooms: &rooms,
                window_shown: shown,
            };
            notifications.decide(event, looking, now, NOW_MS)
        };
        let in_camp = message(bob, "Camp", NOW_MS);
        let shown = decide(&in_camp, true).unwrap();
        assert_eq!(shown.room, room("Camp"));
        assert_eq!(shown.title, "Bob in Camp");
        assert_eq!(shown.body, "at the bar");
        assert_eq!(decide(&message(bob, "Main Stage", NOW_MS), true), None);
        assert!(decide(&message(bob, "Main Stage", NOW_MS), false).is_some());
        assert_eq!(decide(&message(me, "Camp", NOW_MS), false), None);
        assert_eq!(
            decide(&message(bob, "Camp", NOW_MS - NEWS_MS - 1), false),
            None
        );
        assert_eq!(decide(&message(bob, "Not joined", NOW_MS), false), None);
        let joined = Event::Presence {
            room: room("Camp"),
            change: PresenceChange::Joined,
            member: Member {
                device: bob,
                name: DisplayName::parse("Bob").unwrap(),
                key: DeviceKey::generate().public(),
            },
            online: 2,
        };
        assert_eq!(decide(&joined, true).unwrap().body, "Bob joined");
    }

    #[test]
    fn a_muted_room_is_silent_and_a_burst_is_a_handful() {
        let (me, bob) = (DeviceId::random(), DeviceId::random());
        let mut rooms = two_rooms();
        rooms.show_list();
        rooms.set_muted(&room("Camp"), true);
        let mut notifications = Notifications::default();
        let now = Instant::now();
        let mut shown = |rooms: &Rooms, to: &str, now: Instant| {
            let looking = Looking {
                me,
                rooms,
                window_shown: true,
            };
            notifications
                .decide(&message(bob, to, NOW_MS), looking, now, NOW_MS)
                .is_some()
        };
        assert!(!shown(&rooms, "Camp", now));
        let burst = (0..1000)
            .filter(|_| shown(&rooms, "Main Stage", now))
            .count();
        assert_eq!(burst, BURST as usize);
        assert!(shown(&rooms, "Main Stage", now + Duration::from_secs(1)));
        rooms.set_muted(&room("Camp"), false);
        assert!(shown(&rooms, "Camp", now));
    }
}
