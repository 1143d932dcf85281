//! The bytes of every SSE event the mock sends, written straight into a reusable buffer.
//! The mock must stay under ~2 µs of CPU per chunk while sharing a core with the load
//! generator, so chunks are copied from a per-stream prefix and pre-escaped words instead
//! of being built as JSON values.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

/// Which delta field an output chunk's words go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaField {
    Content,
    Reasoning,
}

/// Encodes one stream's events. `head` is everything before `"choices"`, rendered once
/// per stream: `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,`.
#[derive(Debug)]
pub(crate) struct ChunkEncoder {
    head: Vec<u8>,
}

const CHOICE_OPEN: &[u8] = b"\"choices\":[{\"index\":0,\"delta\":";
const CHOICE_CLOSE: &[u8] = b",\"logprobs\":null,\"finish_reason\":null}]}\n\n";

impl ChunkEncoder {
    /// `model_json` is the model name already JSON-encoded, quotes included.
    pub(crate) fn new(id: u64, created: u64, model_json: &str) -> Self {
        let mut head = String::with_capacity(96 + model_json.len());
        let _ = write!(
            head,
            "data: {{\"id\":\"chatcmpl-mock-{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model_json},"
        );
        ChunkEncoder { head: head.into_bytes() }
    }

    fn choice(&self, buf: &mut BytesMut, delta: &[u8]) {
        buf.put_slice(&self.head);
        buf.put_slice(CHOICE_OPEN);
        buf.put_slice(delta);
        buf.put_slice(CHOICE_CLOSE);
    }

    /// vLLM's first event: the role, with empty content.
    pub(crate) fn role(&self, buf: &mut BytesMut) {
        self.choice(buf, b"{\"role\":\"assistant\",\"content\":\"\"}");
    }

    /// An output chunk carrying `words`, each followed by a space. Words are from
    /// [`crate::content::WORDS`], which need no escaping.
    pub(crate) fn tokens<'w>(&self, buf: &mut BytesMut, field: DeltaField, words: impl Iterator<Item = &'w str>) {
        buf.put_slice(&self.head);
        buf.put_slice(CHOICE_OPEN);
        buf.put_slice(match field {
            DeltaField::Content => b"{\"content\":\"",
            DeltaField::Reasoning => b"{\"reasoning_content\":\"",
        });
        for word in words {
            buf.put_slice(word.as_bytes());
            buf.put_u8(b' ');
        }
        buf.put_slice(b"\"}");
        buf.put_slice(CHOICE_CLOSE);
    }

    /// A zero-token output chunk.
    pub(crate) fn empty(&self, buf: &mut BytesMut) {
        self.choice(buf, b"{\"content\":\"\"}");
    }

    pub(crate) fn finish(&self, buf: &mut BytesMut) {
        buf.put_slice(&self.head);
        buf.put_slice(b"\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n");
    }

    /// OpenAI's usage chunk: empty `choices`, then the counts.
    pub(crate) fn usage(&self, buf: &mut BytesMut, prompt: u64, completion: u64) {
        buf.put_slice(&self.head);
        let total = prompt + completion;
        let _ = write!(
            buf,
            "\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{total}}}}}\n\n"
        );
    }
}

pub(crate) fn ping(buf: &mut BytesMut) {
    buf.put_slice(b": ping\n\n");
}

pub(crate) fn done(buf: &mut BytesMut) {
    buf.put_slice(b"data: [DONE]\n\n");
}

pub(crate) fn error_event(buf: &mut BytesMut) {
    buf.put_slice(b"data: {\"error\":{\"message\":\"mock error\",\"type\":\"server_error\"}}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::WORDS;
    use serde_json::Value;

    /// Splits `buf` into events and parses each `data:` payload.
    fn events(buf: &BytesMut) -> Vec<Value> {
        let text = std::str::from_utf8(buf).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split_terminator("\n\n")
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn every_word_makes_valid_chunks() {
        let enc = ChunkEncoder::new(7, 1_700_000_000, &serde_json::to_string("m\"odel\u{1}").unwrap());
        for word in WORDS {
            for field in [DeltaField::Content, DeltaField::Reasoning] {
                let mut buf = BytesMut::new();
                enc.tokens(&mut buf, field, [word, word].into_iter());
                let ev = &events(&buf)[0];
                let key = if field == DeltaField::Content { "content" } else { "reasoning_content" };
                assert_eq!(ev["choices"][0]["delta"][key], format!("{word} {word} "));
                assert_eq!(ev["model"], "m\"odel\u{1}");
                assert_eq!(ev["id"], "chatcmpl-mock-7");
                assert_eq!(ev["object"], "chat.completion.chunk");
                assert_eq!(ev["created"], 1_700_000_000u64);
                assert_eq!(ev["choices"][0]["finish_reason"], Value::Null);
            }
        }
    }

    #[test]
    fn control_chunks_are_valid_json() {
        let enc = ChunkEncoder::new(1, 2, "\"m\"");
        let mut buf = BytesMut::new();
        enc.role(&mut buf);
        enc.empty(&mut buf);
        enc.finish(&mut buf);
        enc.usage(&mut buf, 3, 4);
        error_event(&mut buf);
        let evs = events(&buf);
        assert_eq!(evs[0]["choices"][0]["delta"], serde_json::json!({"role": "assistant", "content": ""}));
        assert_eq!(evs[1]["choices"][0]["delta"], serde_json::json!({"content": ""}));
        assert_eq!(evs[2]["choices"][0]["finish_reason"], "length");
        assert_eq!(evs[3]["choices"], serde_json::json!([]));
        assert_eq!(evs[3]["usage"], serde_json::json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}));
        assert_eq!(evs[4]["error"]["type"], "server_error");
    }
}
