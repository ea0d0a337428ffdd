//! Persisted results: one JSON file per result under the local storage folder
//! (`$WEIR_LOCAL_STORAGE_PATH`, `$PREFECT_LOCAL_STORAGE_PATH`, else `$WEIR_HOME/storage`).
//!
//! A file is a result record in Prefect's layout — `{"metadata": {...}, "result": ...}` with the
//! JSON serializer — named after the cache key, or a fresh id when the result is persisted
//! without caching. Writes go to a temporary file renamed into place, so a reader never sees half
//! a record. The metadata is also what a COMPLETED state carries as its `data`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use weir_core::{env, Timestamp};

/// Where a result lives and until when it may be reused; a state's `data` for a persisted result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultMetadata {
    pub storage_key: String,
    pub expiration: Option<Timestamp>,
    pub serializer: Value,
    pub prefect_version: String,
    pub storage_block_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ResultRecord {
    metadata: ResultMetadata,
    result: Value,
}

/// A folder of result records.
#[derive(Clone, Debug)]
pub(crate) struct ResultStore {
    dir: PathBuf,
}

impl ResultStore {
    /// The store the environment names.
    pub(crate) fn local() -> ResultStore {
        let dir = env::first_set(&[
            env::WEIR_LOCAL_STORAGE_PATH,
            env::PREFECT_LOCAL_STORAGE_PATH,
        ])
        .map(PathBuf::from)
        .unwrap_or_else(|| env::weir_home().join("storage"));
        ResultStore { dir }
    }

    #[cfg(test)]
    pub(crate) fn at(dir: &std::path::Path) -> ResultStore {
        ResultStore {
            dir: dir.to_owned(),
        }
    }

    /// The result stored under `name` with its metadata, unless missing, unreadable or expired.
    pub(crate) fn read(&self, name: &str) -> Option<(Value, ResultMetadata)> {
        let path = self.dir.join(name);
        let text = std::fs::read(&path).ok()?;
        let record: ResultRecord = match serde_json::from_slice(&text) {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring an unreadable result record");
                return None;
            }
        };
        if let Some(expiration) = &record.metadata.expiration {
            if expiration.seconds_since(&Timestamp::now()) <= 0.0 {
                return None;
            }
        }
        Some((record.result, record.metadata))
    }

    /// Stores `value` under `name`, valid for `expires_in` seconds (forever when `None`).
    pub(crate) fn write(
        &self,
        name: &str,
        value: Value,
        expires_in: Option<f64>,
    ) -> std::io::Result<ResultMetadata> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(name);
        let metadata = ResultMetadata {
            storage_key: path.display().to_string(),
            expiration: expires_in.map(|s| Timestamp::now().plus_seconds(s)),
            serializer: serde_json::json!({"type": "json"}),
            prefect_version: weir_core::PREFECT_COMPAT_VERSION.to_owned(),
            storage_block_id: None,
        };
        let record = ResultRecord {
            metadata: metadata.clone(),
            result: value,
        };
        let temporary = self
            .dir
            .join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        std::fs::write(&temporary, serde_json::to_vec(&record)?)?;
        std::fs::rename(&temporary, &path)?;
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip_until_they_expire() {
        let dir = std::env::temp_dir().join(format!("weir-results-{}", uuid::Uuid::new_v4()));
        let store = ResultStore::at(&dir);
        assert!(store.read("k").is_none());
        let metadata = store.write("k", json!({"rows": 3}), None).unwrap();
        assert!(metadata.storage_key.ends_with("/k"));
        let (value, read) = store.read("k").unwrap();
        assert_eq!(value, json!({"rows": 3}));
        assert_eq!(read, metadata);
        store.write("old", json!(1), Some(0.0)).unwrap();
        assert!(store.read("old").is_none(), "an expired record is a miss");
        std::fs::write(dir.join("bad"), "{not json").unwrap();
        assert!(store.read("bad").is_none());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
