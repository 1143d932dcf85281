//! Integration tests that start no server: the real `harness` binary on results files
//! (compare, report) and the CI workflow's shape. One binary per kind of test, so that the
//! workspace links three test binaries, not one per file.

mod common;

#[path = "pure/compare.rs"]
mod compare;

#[path = "pure/report.rs"]
mod report;

#[path = "pure/workflow.rs"]
mod workflow;
