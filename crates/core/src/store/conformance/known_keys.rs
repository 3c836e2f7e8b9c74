//! The conformance test of the keys remembered per name.

use festival_proto::{DeviceKey, DisplayName};

use crate::store::EngineStore;
use crate::trust::{KeyStatus, KnownKeys};

/// One key per name, replaced as a whole (a verified mark goes with the key it was given
/// to), read back as the trust machine left it.
pub(super) async fn known_keys_are_one_per_name_and_read_back_whole(store: impl EngineStore) {
    assert!(store.known_keys().await.unwrap().is_empty());
    let alice = DisplayName::parse("Alice").unwrap();
    let (first, second) = (DeviceKey::generate(), DeviceKey::generate());
    let mut keys = KnownKeys::default();
    let seen = keys.seen(&alice, first.device(), first.public(), true);
    store.remember_key(&seen.remember.unwrap()).await.unwrap();
    let verified = keys.verify(&alice.with_suffix(2), first.public());
    store.remember_key(&verified).await.unwrap();
    assert_eq!(store.known_keys().await.unwrap(), [verified]);

    let replaced = keys.verify(&alice, second.public());
    store.remember_key(&replaced).await.unwrap();
    let bob = keys
        .seen(
            &DisplayName::parse("Bob").unwrap(),
            second.device(),
            second.public(),
            true,
        )
        .remember
        .unwrap();
    store.remember_key(&bob).await.unwrap();
    let mut kept = store.known_keys().await.unwrap();
    kept.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    assert_eq!(kept, keys.all());
    let restarted = KnownKeys::new(kept);
    assert_eq!(
        restarted.status(&alice, &second.public()),
        KeyStatus::Verified
    );
    assert_eq!(
        restarted.status(&alice, &first.public()),
        KeyStatus::Changed,
        "the mark went with the key it was given to"
    );
}
