//! The shared conformance corpus and shutdown checks against the real `fw-poem` binary.

fw_common::conformance_tests!("fw-poem");
