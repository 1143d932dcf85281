//! Integration tests whose assertions are about time (latencies, bounds after a signal,
//! memory under load): each holds `common::exclusive()`, so none shares the cores with
//! another test of this binary.

mod common;

#[path = "support/refserver.rs"]
mod refserver;

#[path = "timing/chat.rs"]
mod chat;

#[path = "timing/coordinated_omission.rs"]
mod coordinated_omission;

#[path = "timing/disconnect_leak.rs"]
mod disconnect_leak;

#[path = "timing/driver_vs_wrk.rs"]
mod driver_vs_wrk;

#[path = "timing/estimators.rs"]
mod estimators;

#[path = "timing/faulty_targets.rs"]
mod faulty_targets;

#[path = "timing/known_latency.rs"]
mod known_latency;

#[path = "timing/send_lag.rs"]
mod send_lag;

#[path = "timing/slow_inference.rs"]
mod slow_inference;

#[path = "timing/stale_connections.rs"]
mod stale_connections;

#[path = "timing/streaming.rs"]
mod streaming;
