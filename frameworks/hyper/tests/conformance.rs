//! That `cargo test` builds the real `fw-hyper` binary, and that it starts and stops: the
//! contract itself is checked for every target in `harness/tests/servers/contract.rs`.

fw_common::conformance_tests!("fw-hyper");
