//! The shared conformance corpus and shutdown checks against the real `fw-hyper` binary.

fw_common::conformance_tests!("fw-hyper");
