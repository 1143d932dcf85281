//! The shared conformance corpus and shutdown checks against the real `fw-axum` binary.

fw_common::conformance_tests!("fw-axum");
