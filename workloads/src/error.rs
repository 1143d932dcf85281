//! The contract's error answers. Every target renders the same bodies from these types,
//! so a 422 from axum and a 422 from poem differ in nothing but framing.

use serde::Serialize;

/// One step of a `loc` path after the leading `"body"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LocSeg {
    Key(String),
    Index(usize),
}

impl From<&str> for LocSeg {
    fn from(s: &str) -> Self {
        LocSeg::Key(s.to_owned())
    }
}

impl From<usize> for LocSeg {
    fn from(i: usize) -> Self {
        LocSeg::Index(i)
    }
}

/// One entry of `detail`: where, what, and a machine-readable kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Full path, starting with `"body"` (or `"header"` for 415).
    pub loc: Vec<LocSeg>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl Violation {
    pub fn new(loc: Vec<LocSeg>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self { loc, msg: msg.into(), kind }
    }
}

/// A request the contract rejects, with the status it gets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("415 unsupported media type")]
    UnsupportedMediaType,
    #[error("413 body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("400 body is not valid JSON: {msg}")]
    InvalidJson { msg: String },
    #[error("422 {} violation(s), first at {:?}", .0.len(), .0.first().map(|v| &v.loc))]
    Validation(Vec<Violation>),
    /// The gateway's upstream failed before anything was streamed (refused, reset, a status
    /// other than 200, or an answer of the wrong kind).
    #[error("502 upstream failed: {msg}")]
    BadGateway { msg: String },
}

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a [Violation],
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::UnsupportedMediaType => 415,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::InvalidJson { .. } => 400,
            ApiError::Validation(_) => 422,
            ApiError::BadGateway { .. } => 502,
        }
    }

    /// The violations this error reports in `detail`.
    pub fn violations(&self) -> Vec<Violation> {
        match self {
            ApiError::UnsupportedMediaType => vec![Violation::new(
                vec!["header".into(), "content-type".into()],
                "unsupported_media_type",
                "content-type must be application/json",
            )],
            ApiError::PayloadTooLarge { limit } => vec![Violation::new(
                vec!["body".into()],
                "body_too_large",
                format!("request body exceeds {limit} bytes"),
            )],
            ApiError::InvalidJson { msg } => {
                vec![Violation::new(vec!["body".into()], "json_invalid", msg.clone())]
            }
            ApiError::Validation(v) => v.clone(),
            ApiError::BadGateway { msg } => {
                vec![Violation::new(vec!["upstream".into()], "upstream_error", msg.clone())]
            }
        }
    }

    /// `{"detail":[{"loc":[…],"msg":"…","type":"…"}, …]}`, encoded once here for all targets.
    pub fn body(&self) -> Vec<u8> {
        let violations = match self {
            ApiError::Validation(v) => std::borrow::Cow::Borrowed(v.as_slice()),
            other => std::borrow::Cow::Owned(other.violations()),
        };
        serde_json::to_vec(&Detail { detail: &violations }).expect("detail always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_body_has_contract_shape() {
        let e = ApiError::InvalidJson { msg: "EOF".into() };
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(e.status(), 400);
        assert_eq!(v["detail"][0]["loc"], serde_json::json!(["body"]));
        assert_eq!(v["detail"][0]["type"], "json_invalid");
    }

    #[test]
    fn loc_mixes_keys_and_indices() {
        let e = ApiError::Validation(vec![Violation::new(
            vec!["body".into(), "inputs".into(), 3.into(), "features".into(), 7.into()],
            "range",
            "x",
        )]);
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["detail"][0]["loc"], serde_json::json!(["body", "inputs", 3, "features", 7]));
    }
}
