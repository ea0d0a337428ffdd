//! One watcher per cluster and namespace for every Job and pod of a worker's pool.
//!
//! Each namespace gets two kube-runtime watchers (Jobs, pods), selected server-side by the
//! `prefect.io/flow-run-id` label and the pool's label, however many runs are going: the watcher
//! resumes from its last resourceVersion, relists on 410 Gone, and backs off on errors. Every
//! change is filed under its flow run; a run's supervisor holds a `watch` receiver of that run's
//! [`RunView`] and wakes only for its own objects. A relist replaces what a namespace holds, so an
//! object deleted while the watch was down disappears too.

use crate::manifest::{slugify_label_value, FLOW_RUN_ID_LABEL, WORK_POOL_LABEL};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use uuid::Uuid;

/// What the cluster holds for one flow run.
#[derive(Clone, Debug, Default)]
pub struct RunView {
    /// The run's Jobs by `namespace/name` (one, unless something went wrong).
    pub jobs: BTreeMap<String, Job>,
    /// The run's pods by `namespace/name`.
    pub pods: BTreeMap<String, Pod>,
    /// The namespaces whose first listing has completed: absence there is meaningful.
    pub listed: HashSet<String>,
}

struct Entry {
    view: watch::Sender<RunView>,
}

/// The shared watchers of one cluster.
pub struct Observer {
    client: kube::Client,
    selector: String,
    runs: Mutex<HashMap<Uuid, Entry>>,
    namespaces: Mutex<HashSet<String>>,
    /// Namespaces whose watchers have listed at least once.
    listed: Mutex<HashSet<String>>,
    /// The last error of any watcher, for health reporting.
    last_error: Mutex<Option<String>>,
}

impl Observer {
    /// An observer of the Jobs and pods of `pool`'s flow runs.
    pub fn new(client: kube::Client, pool: &str) -> Arc<Observer> {
        Arc::new(Observer {
            client,
            selector: format!(
                "{FLOW_RUN_ID_LABEL},{WORK_POOL_LABEL}={}",
                slugify_label_value(pool)
            ),
            runs: Mutex::new(HashMap::new()),
            namespaces: Mutex::new(HashSet::new()),
            listed: Mutex::new(HashSet::new()),
            last_error: Mutex::new(None),
        })
    }

    /// The label selector the watchers use.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// Starts watching `namespace` unless already watched.
    pub fn watch_namespace(self: &Arc<Self>, namespace: &str) {
        let new = self
            .namespaces
            .lock()
            .map(|mut n| n.insert(namespace.to_owned()))
            .unwrap_or(false);
        if !new {
            return;
        }
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        tokio::spawn(self.clone().follow(jobs, namespace.to_owned(), Kind::Job));
        tokio::spawn(self.clone().follow(pods, namespace.to_owned(), Kind::Pod));
    }

    /// The view of one run, kept current until [`Observer::forget`].
    pub fn subscribe(&self, run: Uuid) -> watch::Receiver<RunView> {
        let mut runs = self.runs.lock().expect("observer lock");
        self.entry(&mut runs, run).view.subscribe()
    }

    /// Drops a run's view once nobody follows it and it holds nothing.
    pub fn forget(&self, run: Uuid) {
        if let Ok(mut runs) = self.runs.lock() {
            if runs.get(&run).is_some_and(|e| e.view.receiver_count() <= 1) {
                runs.remove(&run);
            }
        }
    }

    /// How many runs have a view (for tests and metrics).
    pub fn tracked_runs(&self) -> usize {
        self.runs.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// The most recent watch error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    async fn follow<K>(self: Arc<Self>, api: Api<K>, namespace: String, kind: Kind)
    where
        K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
        K: Into<Object>,
    {
        let config = watcher::Config::default()
            .labels(&self.selector)
            .page_size(500);
        let mut stream = watcher(api, config).default_backoff().boxed();
        // What a relist found, keyed like the views, to drop what vanished meanwhile.
        let mut relisted: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => relisted = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(object)) => {
                    let object: Object = object.into();
                    if let Some(seen) = relisted.as_mut() {
                        seen.insert(object.key());
                    }
                    self.apply(object);
                }
                Ok(watcher::Event::InitDone) => {
                    let seen = relisted.take().unwrap_or_default();
                    self.finish_listing(&namespace, kind, &seen);
                }
                Ok(watcher::Event::Apply(object)) => self.apply(object.into()),
                Ok(watcher::Event::Delete(object)) => self.delete(object.into()),
                Err(error) => {
                    let message = match &error {
                        watcher::Error::InitialListFailed(kube::Error::Api(status))
                        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
                            if status.code == 403 =>
                        {
                            format!(
                                "cannot watch {} in namespace {namespace}: {} (the worker's Role \
                                 needs get, list and watch on them)",
                                kind.plural(),
                                status.message
                            )
                        }
                        other => format!("watching {} in {namespace}: {other}", kind.plural()),
                    };
                    tracing::warn!("{message}");
                    if let Ok(mut last) = self.last_error.lock() {
                        *last = Some(message);
                    }
                }
            }
        }
    }

    fn run_of(object: &Object) -> Option<Uuid> {
        object
            .labels()
            .get(FLOW_RUN_ID_LABEL)
            .and_then(|id| Uuid::parse_str(id).ok())
    }

    /// The run's entry, made (knowing the namespaces listed so far) if it has none yet.
    fn entry<'a>(&self, runs: &'a mut HashMap<Uuid, Entry>, run: Uuid) -> &'a mut Entry {
        runs.entry(run).or_insert_with(|| {
            let listed = self.listed.lock().map(|l| l.clone()).unwrap_or_default();
            Entry {
                view: watch::channel(RunView {
                    listed,
                    ..RunView::default()
                })
                .0,
            }
        })
    }

    fn update(&self, run: Uuid, change: impl FnOnce(&mut RunView) -> bool) {
        let mut runs = self.runs.lock().expect("observer lock");
        let entry = self.entry(&mut runs, run);
        entry.view.send_if_modified(change);
        let empty = {
            let view = entry.view.borrow();
            view.jobs.is_empty() && view.pods.is_empty()
        };
        if empty && entry.view.receiver_count() == 0 {
            runs.remove(&run);
        }
    }

    fn apply(&self, object: Object) {
        let Some(run) = Self::run_of(&object) else {
            return;
        };
        let key = object.key();
        self.update(run, |view| {
            match object {
                Object::Job(job) => {
                    view.jobs.insert(key, *job);
                }
                Object::Pod(pod) => {
                    view.pods.insert(key, *pod);
                }
            }
            true
        });
    }

    fn delete(&self, object: Object) {
        let Some(run) = Self::run_of(&object) else {
            return;
        };
        let key = object.key();
        self.update(run, |view| match object {
            Object::Job(_) => view.jobs.remove(&key).is_some(),
            Object::Pod(_) => view.pods.remove(&key).is_some(),
        });
    }

    /// After a (re)list of `kind` in `namespace`: drops what it did not find and marks the
    /// namespace listed in every view.
    fn finish_listing(&self, namespace: &str, kind: Kind, seen: &HashSet<String>) {
        let prefix = format!("{namespace}/");
        let first = self
            .listed
            .lock()
            .map(|mut l| l.insert(format!("{}:{namespace}", kind.plural())))
            .unwrap_or(false);
        let both_listed = self.listed.lock().is_ok_and(|l| {
            l.contains(&format!("jobs:{namespace}")) && l.contains(&format!("pods:{namespace}"))
        });
        if both_listed {
            if let Ok(mut l) = self.listed.lock() {
                l.insert(namespace.to_owned());
            }
        }
        let mut runs = self.runs.lock().expect("observer lock");
        for entry in runs.values_mut() {
            entry.view.send_if_modified(|view| {
                let before = (view.jobs.len(), view.pods.len(), view.listed.len());
                let keep = |key: &String| !key.starts_with(&prefix) || seen.contains(key);
                match kind {
                    Kind::Job => view.jobs.retain(|k, _| keep(k)),
                    Kind::Pod => view.pods.retain(|k, _| keep(k)),
                }
                if both_listed {
                    view.listed.insert(namespace.to_owned());
                }
                before != (view.jobs.len(), view.pods.len(), view.listed.len())
            });
        }
        runs.retain(|_, e| {
            let view = e.view.borrow();
            e.view.receiver_count() > 0 || !view.jobs.is_empty() || !view.pods.is_empty()
        });
        if first {
            tracing::debug!(namespace, kind = kind.plural(), "observer listed");
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Job,
    Pod,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Kind::Job => "jobs",
            Kind::Pod => "pods",
        }
    }
}

/// A watched object of either kind.
pub enum Object {
    Job(Box<Job>),
    Pod(Box<Pod>),
}

impl From<Job> for Object {
    fn from(job: Job) -> Object {
        Object::Job(Box::new(job))
    }
}

impl From<Pod> for Object {
    fn from(pod: Pod) -> Object {
        Object::Pod(Box::new(pod))
    }
}

impl Object {
    fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Object::Job(job) => job.labels(),
            Object::Pod(pod) => pod.labels(),
        }
    }

    fn key(&self) -> String {
        let (namespace, name) = match self {
            Object::Job(job) => (job.namespace(), job.name_any()),
            Object::Pod(pod) => (pod.namespace(), pod.name_any()),
        };
        format!("{}/{name}", namespace.unwrap_or_default())
    }
}
