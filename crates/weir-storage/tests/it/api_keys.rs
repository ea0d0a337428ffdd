//! API keys: issued keys are stored as hashes, names are unique among unrevoked keys, revocation
//! is visible to the next lookup.

use weir_core::api_keys::{self, KeyStatus};
use weir_core::Timestamp;
use weir_storage::Error;
use weir_testkit::storage_test;

storage_test!(
    issued_keys_are_found_by_key_id_and_store_only_a_hash,
    |store| {
        let (api_key, key) = store.issue_api_key("worker", None).await.unwrap();
        let parsed = api_keys::parse(&key).expect("a well-formed key");
        assert_eq!(api_key.prefix, format!("weir_{}", parsed.key_id));
        assert_eq!(api_key.expires, None);
        let found = store
            .find_api_key_credentials(parsed.key_id)
            .await
            .unwrap()
            .expect("the key is stored");
        assert_eq!(found.api_key, api_key);
        assert_eq!(found.secret_hash, api_keys::hash_secret(parsed.secret));
        assert!(!found.secret_hash.contains(parsed.secret));
        assert!(store
            .find_api_key_credentials("0000000000000000")
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.read_api_key(api_key.id).await.unwrap(), api_key);
    }
);

storage_test!(
    names_are_unique_until_revoked_and_revoking_is_immediate,
    |store| {
        let (first, key) = store.issue_api_key("ci", Some(3_600)).await.unwrap();
        let expires = first.expires.expect("an expiry");
        let in_an_hour = first.created.plus_seconds(3_600.0);
        assert_eq!(expires, in_an_hour);
        let err = store.issue_api_key("ci", None).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("\"ci\"")),
            "{err}"
        );
        let revoked = store.revoke_api_key(first.id).await.unwrap();
        let when = revoked.revoked.expect("revoked");
        assert_eq!(revoked.status(&Timestamp::now()), KeyStatus::Revoked);
        let key_id = api_keys::parse(&key).unwrap().key_id;
        let found = store
            .find_api_key_credentials(key_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.api_key.revoked, Some(when));
        // Revoking again keeps the first revocation time.
        assert_eq!(
            store.revoke_api_key(first.id).await.unwrap().revoked,
            Some(when)
        );
        let (second, _) = store.issue_api_key("ci", None).await.unwrap();
        let names: Vec<_> = store
            .list_api_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.id, k.revoked.is_some()))
            .collect();
        assert_eq!(names, vec![(first.id, true), (second.id, false)]);
        assert!(matches!(
            store.revoke_api_key(uuid::Uuid::new_v4()).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            store.issue_api_key(" ", None).await,
            Err(Error::Invalid(ref m)) if m.starts_with("name: ")
        ));
    }
);
