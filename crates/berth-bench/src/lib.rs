//! Load generation against any OCI distribution registry: the request paths
//! of every benchmark workload, usable from the `berth-bench` runner and
//! from tests.

mod auth;
pub mod client;
pub mod data;
pub mod stats;
pub mod workloads;

pub use client::{BenchError, RegistryClient};
