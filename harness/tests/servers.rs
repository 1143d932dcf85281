//! Integration tests that run real servers (fw-hyper, the Python targets, test doubles) and
//! check what the harness records about them. Tests that load the machine hold
//! `common::exclusive()`, so they never share the two cores with each other.

mod common;

#[path = "servers/contract.rs"]
mod contract;

#[path = "servers/lifecycle.rs"]
mod lifecycle;

#[path = "servers/openai_metrics.rs"]
mod openai_metrics;

#[path = "servers/python_targets.rs"]
mod python_targets;

#[path = "servers/robustness.rs"]
mod robustness;

#[path = "servers/smoke.rs"]
mod smoke;
