//! Decoding a chat request into the few facts the mock needs. serde_json parses the body
//! once per request; nothing is kept but counts, a hash and the echoed model, so the
//! per-chunk path never touches JSON values.

use serde_json::Value;

use crate::content::Fnv;

/// The parts of `POST /v1/chat/completions` the mock acts on; other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatRequest {
    pub model: Option<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`, else none.
    pub max_tokens: Option<u64>,
    /// Whitespace-separated words across every message's text.
    pub prompt_tokens: u64,
    pub messages_hash: u64,
}

/// Why a chat request was refused with 400.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("request body is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("request body must be a JSON object")]
    NotObject,
    #[error("`messages` is required and must be a non-empty array")]
    Messages,
    #[error("`{0}` must be a positive integer")]
    MaxTokens(&'static str),
    #[error("`stream` must be a boolean")]
    Stream,
    #[error("`model` must be a string")]
    Model,
}

pub(crate) fn parse(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let value: Value = serde_json::from_slice(body)?;
    let obj = value.as_object().ok_or(RequestError::NotObject)?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => return Err(RequestError::Messages),
    };
    let max_tokens = match positive(obj, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => positive(obj, "max_tokens")?,
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(RequestError::Stream),
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err(RequestError::Model),
    };
    let include_usage = obj.get("stream_options").and_then(|o| o.get("include_usage")) == Some(&Value::Bool(true));
    let (prompt_tokens, messages_hash) = digest(messages);
    Ok(ChatRequest { model, stream, include_usage, max_tokens, prompt_tokens, messages_hash })
}

/// `obj[field]` as a positive integer; absent or null is `None`.
fn positive(obj: &serde_json::Map<String, Value>, field: &'static str) -> Result<Option<u64>, RequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().filter(|&n| n > 0).map(Some).ok_or(RequestError::MaxTokens(field)),
    }
}

/// The prompt's word count and the messages' hash. Content may be a string or OpenAI's
/// array of parts, whose `text` fields count.
fn digest(messages: &[Value]) -> (u64, u64) {
    let mut words = 0u64;
    let mut hash = Fnv::new();
    for message in messages {
        hash.field(message.get("role").and_then(Value::as_str).unwrap_or("").as_bytes());
        let mut add = |text: &str| {
            words += text.split_whitespace().count() as u64;
            hash.field(text.as_bytes());
        };
        match message.get("content") {
            Some(Value::String(text)) => add(text),
            Some(Value::Array(parts)) => {
                parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).for_each(&mut add);
            }
            _ => {}
        }
    }
    (words, hash.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ChatRequest {
        parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn reads_the_fields_it_needs() {
        let r = ok(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":5,
            "messages":[{"role":"system","content":"be  brief"},{"role":"user","content":[{"type":"text","text":"hi there you"}]}],
            "temperature":0.2}"#);
        assert_eq!(r.model.as_deref(), Some("m"));
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(5));
        assert_eq!(r.prompt_tokens, 5);
    }

    #[test]
    fn max_completion_tokens_wins_and_absent_fields_default() {
        let msgs = r#""messages":[{"role":"user","content":"x"}]"#;
        assert_eq!(ok(&format!(r#"{{{msgs},"max_tokens":5,"max_completion_tokens":9}}"#)).max_tokens, Some(9));
        let r = ok(&format!("{{{msgs}}}"));
        assert_eq!((r.max_tokens, r.stream, r.include_usage, r.model), (None, false, false, None));
        assert_eq!(ok(&format!(r#"{{{msgs},"max_tokens":null}}"#)).max_tokens, None);
    }

    #[test]
    fn rejects_bad_requests() {
        let msgs = r#""messages":[{"role":"user","content":"x"}]"#;
        for body in [
            "not json".to_owned(),
            "[1]".to_owned(),
            "{}".to_owned(),
            r#"{"messages":[]}"#.to_owned(),
            r#"{"messages":"hi"}"#.to_owned(),
            format!(r#"{{{msgs},"max_tokens":0}}"#),
            format!(r#"{{{msgs},"max_tokens":-3}}"#),
            format!(r#"{{{msgs},"max_tokens":1.5}}"#),
            format!(r#"{{{msgs},"max_tokens":"8"}}"#),
            format!(r#"{{{msgs},"max_completion_tokens":0,"max_tokens":4}}"#),
            format!(r#"{{{msgs},"stream":"yes"}}"#),
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body} was accepted");
        }
    }

    #[test]
    fn hash_follows_roles_and_text() {
        let a = ok(r#"{"messages":[{"role":"user","content":"hello world"}]}"#).messages_hash;
        let b = ok(r#"{"messages":[{"role":"user","content":"hello world"}],"seed":4}"#).messages_hash;
        let c = ok(r#"{"messages":[{"role":"system","content":"hello world"}]}"#).messages_hash;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
