//! A Kubernetes API simulator for Weir's tests.
//!
//! No kube-apiserver can run where Weir is built, so this crate serves the Kubernetes REST API
//! itself, faithfully enough that kube-rs, kubectl and the Python `kubernetes` client behave as
//! against a cluster: a store with a global resourceVersion, watches with history and 410s,
//! generateName, Status errors, selectors, paging, patches, deletion with finalizers and garbage
//! collection, a Job controller and a fake kubelet driven by scenarios, RBAC from one rule table,
//! and fault injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = weir_kube_sim::Simulator::new();
//! // In-process: `kube::Client::new(sim.router(), "default")` needs no socket.
//! let addr = sim.listen(0).await?; // or on 127.0.0.1 for kubectl
//! let kubeconfig = weir_kube_sim::Simulator::kubeconfig(addr, "admin");
//! # let _ = kubeconfig; Ok(()) }
//! ```
//!
//! It is test support only and is never shipped in the `weir` binary.

mod api;
pub mod clock;
mod controllers;
mod discovery;
pub mod error;
mod events;
pub mod faults;
mod fields;
pub mod kubectl;
mod logs;
pub mod meta;
mod patch;
pub mod podfiles;
mod podlog;
mod process;
mod protobuf;
pub mod rbac;
pub mod resources;
pub mod scenario;
pub mod selectors;
mod sim;
pub mod store;
mod table;
mod tls;
mod validate;
mod watch;

pub use clock::Clock;
pub use error::ApiError;
pub use faults::{Fault, FaultRule, Faults};
pub use rbac::{Rbac, Rule, User};
pub use scenario::{Scenario, ScenarioTable};
pub use sim::{Config, JobConditionOrder, Simulator};
pub use store::GenerateNameMode;
pub use tls::tls_proxy;
