//! The mlapi-bench contract in code: what every target must accept, reject and answer.
//!
//! This crate has no web framework and no async runtime (except the optional `http`
//! conformance runner), so every target, benchmark and checker links the same rules.
//! See `docs/contract.md` for the prose version.

pub mod conformance;
pub mod contract;
pub mod error;
pub mod hostile;
pub mod http;
pub mod model;
pub mod payloads;
pub mod sse;
pub mod tokens;

pub use contract::{BODY_LIMIT, decode_chat, decode_generate, decode_infer, decode_predict, predict, to_json};
pub use error::{ApiError, LocSeg, Violation};
