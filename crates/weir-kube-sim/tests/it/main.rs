//! Integration tests of the simulator: through kube-rs in-process, and through the real kubectl and
//! Python `kubernetes` clients on a loopback port.

mod common;
mod crud;
mod deployments;
mod events;
mod faults;
mod jobs;
mod kubectl;
mod kubelet;
mod python;
mod rbac;
mod watch;
