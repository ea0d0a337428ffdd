//! The object store: every object of every resource type, a global resourceVersion counter and the
//! bounded history of changes that watches resume from.
//!
//! Writes happen under one mutex, so resourceVersions are strictly ordered across all types, like
//! etcd revisions. The store enforces storage rules (names, uid, generation, optimistic concurrency,
//! removal once finalizers are gone) but no API policy: validation, RBAC and defaulting live in the
//! API layer, so controllers can write through the same methods.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, Notify};

use crate::clock::Clock;
use crate::error::{ApiError, Result};
use crate::meta;
use crate::resources::ResourceType;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed from storage.
    Deleted,
}

impl EventType {
    /// The watch event type name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the store's history.
#[derive(Debug)]
pub struct Change {
    /// The resourceVersion of this change.
    pub rv: u64,
    /// The resource type changed.
    pub resource: &'static ResourceType,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (the last state for deletions).
    pub object: Arc<Value>,
    /// The object before a modification.
    pub previous: Option<Arc<Value>>,
}

/// How `generateName` behaves when the generated name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenerateNameMode {
    /// Retry with another suffix, like Kubernetes 1.31+ (`RetryGenerateName`).
    #[default]
    Retry,
    /// Answer 409 AlreadyExists, like Kubernetes 1.30 and earlier.
    Collide,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteScope {
    /// The main resource: status changes are ignored where a status subresource exists.
    Main,
    /// The `status` subresource: only status changes are kept.
    Status,
    /// A controller write: everything is kept.
    Internal,
}

type Key = (String, String);

/// A subscription to every change after a point.
pub type Changes = broadcast::Receiver<Arc<Change>>;

struct Inner {
    rv: u64,
    objects: HashMap<(&'static str, &'static str), BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    compacted: u64,
    window: usize,
}

/// The simulator's storage.
pub struct Store {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
    pub(crate) changed: Notify,
    pub(crate) clock: Arc<Clock>,
    generate_name: Mutex<GenerateNameMode>,
    forced_suffixes: Mutex<VecDeque<String>>,
}

fn key_of(rt: &ResourceType) -> (&'static str, &'static str) {
    (rt.group, rt.plural)
}

impl Store {
    /// An empty store keeping `window` changes of history.
    pub fn new(clock: Arc<Clock>, window: usize) -> Self {
        let (changes, _) = broadcast::channel(8192);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: HashMap::new(),
                history: VecDeque::new(),
                compacted: 1,
                window: window.max(1),
            }),
            changes,
            changed: Notify::new(),
            clock,
            generate_name: Mutex::new(GenerateNameMode::Retry),
            forced_suffixes: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Switches how `generateName` collisions behave.
    pub fn set_generate_name_mode(&self, mode: GenerateNameMode) {
        *self.generate_name.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// Makes the next `generateName` suffixes `suffixes`, in order, so tests can force collisions.
    pub fn force_name_suffixes(&self, suffixes: &[&str]) {
        let mut queue = self
            .forced_suffixes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queue.extend(suffixes.iter().map(|s| s.to_string()));
    }

    fn next_suffix(&self) -> String {
        let forced = self
            .forced_suffixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        forced.unwrap_or_else(meta::random_suffix)
    }

    /// Changes the number of changes kept for watch resumption.
    pub fn set_history_window(&self, window: usize) {
        let mut inner = self.lock();
        inner.window = window.max(1);
        inner.trim();
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// The oldest resourceVersion a watch may still resume from.
    pub fn compacted(&self) -> u64 {
        self.lock().compacted
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        let inner = self.lock();
        inner
            .objects
            .get(&key_of(rt))?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a type, in one namespace or all of them, sorted by namespace and name.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(&key_of(rt))
            .map(|m| {
                m.iter()
                    .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, inner.rv)
    }

    /// Every stored object with its type, for garbage collection.
    pub fn all(&self) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.all_where(|_| true)
    }

    /// Every stored object of the types `keep` accepts.
    pub fn all_where(
        &self,
        keep: impl Fn(&ResourceType) -> bool,
    ) -> Vec<(&'static ResourceType, Arc<Value>)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for rt in crate::resources::RESOURCES
            .iter()
            .filter(|r| r.stored && keep(r))
        {
            if let Some(m) = inner.objects.get(&key_of(rt)) {
                out.extend(m.values().map(|v| (rt, v.clone())));
            }
        }
        out
    }

    /// Subscribes to changes after `from`, returning the retained history after it.
    ///
    /// Fails with 410 Expired when `from` is older than the retained history.
    pub fn watch_from(&self, from: u64) -> Result<(Vec<Arc<Change>>, Changes)> {
        let inner = self.lock();
        if from < inner.compacted {
            return Err(ApiError::expired(format!(
                "too old resource version: {from} ({})",
                inner.compacted
            )));
        }
        let backlog = inner
            .history
            .iter()
            .filter(|c| c.rv > from)
            .cloned()
            .collect();
        Ok((backlog, self.changes.subscribe()))
    }

    /// Subscribes to changes from now on, returning a consistent snapshot of one type.
    pub fn snapshot_and_watch(
        &self,
        rt: &ResourceType,
    ) -> (Vec<Arc<Value>>, u64, broadcast::Receiver<Arc<Change>>) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(&key_of(rt))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        (items, inner.rv, self.changes.subscribe())
    }

    /// Creates an object. `admit` runs under the lock once the name, uid and creationTimestamp are
    /// set, so defaulting that depends on them (a Job's selector) sees the final values.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        mut obj: Value,
        dry_run: bool,
        admit: impl FnOnce(&mut Value) -> Result<()>,
    ) -> Result<Arc<Value>> {
        let mode = *self.generate_name.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let mut inner = self.lock();
        let ns = if rt.namespaced {
            meta::namespace(&obj).to_string()
        } else {
            String::new()
        };
        let mut name = meta::name(&obj).to_string();
        if name.is_empty() {
            let prefix = meta::str_at(&obj, "metadata.generateName").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    rt,
                    "",
                    &[crate::error::FieldError::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
            let objects = inner.objects.entry(key_of(rt)).or_default();
            for attempt in 0..8 {
                name = format!("{prefix}{}", self.next_suffix());
                let taken = objects.contains_key(&(ns.clone(), name.clone()));
                if !taken {
                    break;
                }
                if mode == GenerateNameMode::Collide || attempt == 7 {
                    return Err(ApiError::already_exists(rt, &name));
                }
            }
        }
        if inner
            .objects
            .get(&key_of(rt))
            .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())))
        {
            return Err(ApiError::already_exists(rt, &name));
        }
        {
            let m = meta::metadata_mut(&mut obj);
            m.insert("name".into(), name.clone().into());
            if rt.namespaced {
                m.insert("namespace".into(), ns.clone().into());
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
            m.insert("creationTimestamp".into(), meta::time(now).into());
            m.insert("generation".into(), 1.into());
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
        }
        obj["kind"] = rt.kind.into();
        obj["apiVersion"] = rt.api_version().into();
        admit(&mut obj)?;
        if dry_run {
            return Ok(Arc::new(obj));
        }
        let rv = inner.rv + 1;
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), rv.to_string().into());
        let obj = Arc::new(obj);
        inner
            .objects
            .entry(key_of(rt))
            .or_default()
            .insert((ns, name), obj.clone());
        self.record(&mut inner, rt, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Updates an object. `change` gets the current object and returns the proposed one; the store
    /// then applies the scope, concurrency and finalizer rules. A write that changes nothing keeps the
    /// resourceVersion, like the apiserver.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        scope: WriteScope,
        dry_run: bool,
        change: impl FnOnce(&Value) -> Result<Value>,
    ) -> Result<Arc<Value>> {
        let mut inner = self.lock();
        let key = (ns.to_string(), name.to_string());
        let current = inner
            .objects
            .get(&key_of(rt))
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let proposed = change(&current)?;
        let wanted_rv = meta::resource_version(&proposed);
        if scope != WriteScope::Internal
            && !wanted_rv.is_empty()
            && wanted_rv != meta::resource_version(&current)
        {
            return Err(ApiError::stale(rt, name));
        }
        let mut next = match scope {
            WriteScope::Status => {
                let mut next = (*current).clone();
                next["status"] = proposed.get("status").cloned().unwrap_or(Value::Null);
                next
            }
            WriteScope::Main if rt.has_status() => {
                let mut next = proposed;
                match current.get("status") {
                    Some(s) => next["status"] = s.clone(),
                    None => {
                        if let Some(m) = next.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                next
            }
            _ => proposed,
        };
        if let Some(m) = next.as_object_mut() {
            if m.get("status").is_some_and(Value::is_null) {
                m.remove("status");
            }
        }
        // Fields only the server sets are carried over from the stored object.
        {
            let old_meta = current.get("metadata").cloned().unwrap_or_default();
            let m = meta::metadata_mut(&mut next);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                match old_meta.get(field) {
                    Some(v) => m.insert(field.into(), v.clone()),
                    None => m.remove(field),
                };
            }
            if scope != WriteScope::Internal {
                for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
                    match old_meta.get(field) {
                        Some(v) => m.insert(field.into(), v.clone()),
                        None => m.remove(field),
                    };
                }
            }
            m.insert(
                "resourceVersion".into(),
                meta::resource_version(&current).into(),
            );
        }
        next["kind"] = rt.kind.into();
        next["apiVersion"] = rt.api_version().into();
        if meta::is_deleting(&current) && scope != WriteScope::Internal {
            let old = meta::finalizers(&current);
            if meta::finalizers(&next).iter().any(|f| !old.contains(f)) {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    &[crate::error::FieldError::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        if next == *current {
            return Ok(current);
        }
        if spec_changed(&current, &next) {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            meta::metadata_mut(&mut next).insert("generation".into(), generation.into());
        }
        if dry_run {
            return Ok(Arc::new(next));
        }
        let rv = inner.rv + 1;
        meta::metadata_mut(&mut next).insert("resourceVersion".into(), rv.to_string().into());
        let next = Arc::new(next);
        let gone = ready_to_remove(&next);
        if gone {
            if let Some(m) = inner.objects.get_mut(&key_of(rt)) {
                m.remove(&key);
            }
            self.record(
                &mut inner,
                rt,
                EventType::Deleted,
                next.clone(),
                Some(current),
            );
        } else {
            inner
                .objects
                .entry(key_of(rt))
                .or_default()
                .insert(key, next.clone());
            self.record(
                &mut inner,
                rt,
                EventType::Modified,
                next.clone(),
                Some(current),
            );
        }
        Ok(next)
    }

    /// Gives an object a new resourceVersion without changing it, as if another writer had just
    /// updated it; returns whether it exists.
    pub fn touch(&self, rt: &'static ResourceType, ns: &str, name: &str) -> bool {
        let mut inner = self.lock();
        let key = (ns.to_string(), name.to_string());
        let Some(current) = inner
            .objects
            .get(&key_of(rt))
            .and_then(|m| m.get(&key))
            .cloned()
        else {
            return false;
        };
        let mut next = (*current).clone();
        let rv = inner.rv + 1;
        meta::metadata_mut(&mut next).insert("resourceVersion".into(), rv.to_string().into());
        let next = Arc::new(next);
        inner
            .objects
            .entry(key_of(rt))
            .or_default()
            .insert(key, next.clone());
        self.record(&mut inner, rt, EventType::Modified, next, Some(current));
        true
    }

    /// Removes an object from storage at once, recording a DELETED change.
    pub fn remove(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        let mut inner = self.lock();
        let old = inner
            .objects
            .get_mut(&key_of(rt))?
            .remove(&(ns.to_string(), name.to_string()))?;
        let rv = inner.rv + 1;
        let mut last = (*old).clone();
        meta::metadata_mut(&mut last).insert("resourceVersion".into(), rv.to_string().into());
        let last = Arc::new(last);
        self.record(&mut inner, rt, EventType::Deleted, last.clone(), Some(old));
        Some(last)
    }

    fn record(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        kind: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        inner.rv += 1;
        let change = Arc::new(Change {
            rv: inner.rv,
            resource: rt,
            kind,
            object,
            previous,
        });
        inner.history.push_back(change.clone());
        inner.trim();
        // Nobody listening is fine.
        let _ = self.changes.send(change);
        self.changed.notify_one();
    }
}

impl Inner {
    fn trim(&mut self) {
        while self.history.len() > self.window {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
    }
}

/// Whether anything besides metadata and status differs.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// An object being deleted is removed once no finalizer holds it and, for pods, the kubelet has
/// finished (grace period zero).
fn ready_to_remove(obj: &Value) -> bool {
    if !meta::is_deleting(obj) || !meta::finalizers(obj).is_empty() {
        return false;
    }
    // Namespaces are held by `spec.finalizers` until the namespace controller empties them.
    if obj["spec"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        return false;
    }
    let grace = obj["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(0);
    grace == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::known;
    use serde_json::json;

    fn store(window: usize) -> Store {
        Store::new(Arc::new(Clock::new(1.0)), window)
    }

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "data": {"a": "1"}})
    }

    #[test]
    fn resource_versions_grow_and_no_op_writes_keep_them() {
        let s = store(100);
        let a = s
            .create(known::configmaps(), cm("a"), false, |_| Ok(()))
            .unwrap();
        let b = s
            .create(known::configmaps(), cm("b"), false, |_| Ok(()))
            .unwrap();
        let rv = |o: &Value| meta::resource_version(o).parse::<u64>().unwrap();
        assert!(rv(&b) > rv(&a));
        let same = s
            .update(
                known::configmaps(),
                "default",
                "a",
                WriteScope::Main,
                false,
                |cur| Ok(cur.clone()),
            )
            .unwrap();
        assert_eq!(rv(&same), rv(&a));
        let changed = s
            .update(
                known::configmaps(),
                "default",
                "a",
                WriteScope::Main,
                false,
                |cur| {
                    let mut next = cur.clone();
                    next["data"]["a"] = "2".into();
                    Ok(next)
                },
            )
            .unwrap();
        assert!(rv(&changed) > rv(&b));
        assert_eq!(changed["metadata"]["generation"], 2);
    }

    #[test]
    fn stale_writes_conflict() {
        let s = store(100);
        let a = s
            .create(known::configmaps(), cm("a"), false, |_| Ok(()))
            .unwrap();
        let mut stale = (*a).clone();
        meta::metadata_mut(&mut stale).insert("resourceVersion".into(), "1".into());
        let err = s
            .update(
                known::configmaps(),
                "default",
                "a",
                WriteScope::Main,
                false,
                |_| Ok(stale),
            )
            .unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
    }

    #[test]
    fn history_window_expires_old_versions() {
        let s = store(2);
        let first = s.resource_version();
        for name in ["a", "b", "c"] {
            s.create(known::configmaps(), cm(name), false, |_| Ok(()))
                .unwrap();
        }
        assert_eq!(s.watch_from(first).unwrap_err().code, 410);
        let (backlog, _) = s.watch_from(s.resource_version() - 1).unwrap();
        assert_eq!(backlog.len(), 1);
    }

    #[test]
    fn objects_go_once_their_finalizers_are_removed() {
        let s = store(100);
        let mut obj = cm("held");
        obj["metadata"]["finalizers"] = json!(["example.com/x"]);
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        s.create(known::configmaps(), obj, false, |o| {
            o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            Ok(())
        })
        .unwrap();
        s.update(
            known::configmaps(),
            "default",
            "held",
            WriteScope::Internal,
            false,
            |cur| {
                let mut next = cur.clone();
                meta::set_finalizers(&mut next, Vec::new());
                Ok(next)
            },
        )
        .unwrap();
        assert!(s.get(known::configmaps(), "default", "held").is_none());
    }
}
