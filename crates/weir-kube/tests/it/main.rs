//! Integration tests of the Kubernetes worker against the Kubernetes API simulator.

mod cluster;
mod preflight;
