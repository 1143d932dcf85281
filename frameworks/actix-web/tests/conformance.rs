//! The shared conformance corpus and shutdown checks against the real `fw-actix-web` binary.

fw_common::conformance_tests!("fw-actix-web");
