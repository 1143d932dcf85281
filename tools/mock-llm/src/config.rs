//! What a mock-llm instance does, as one plain value: the schedule, the chunk shapes, the
//! usage policy and the fault to inject. Tests build it directly; the binary builds it from
//! flags, so the two can never disagree about defaults.

use std::str::FromStr;
use std::time::Duration;

/// How a server answers `POST /v1/chat/completions`. Every `Option<u32>` "every N" field
/// treats `Some(0)` like `None`.
#[derive(Clone, Debug)]
pub struct Config {
    /// From the request's headers being read (t0) to the first output chunk.
    pub ttft: Duration,
    /// Gap between output chunks, on an absolute schedule: chunk k is due at t0 + ttft + k·itl.
    pub itl: Duration,
    /// Send vLLM's role-only chunk (`{"role":"assistant","content":""}`) at t0.
    pub role_chunk: bool,
    /// Every Nth output chunk (the Nth, 2Nth, …) carries two tokens instead of one.
    pub two_token_every: Option<u32>,
    /// After every Nth output chunk, an extra `{"content":""}` chunk at the same instant.
    pub empty_every: Option<u32>,
    /// After every Nth output chunk, an SSE comment `: ping`.
    pub ping_every: Option<u32>,
    /// The first N output chunks carry `reasoning_content` instead of `content`.
    pub reasoning_chunks: u32,
    /// When a stream ends with OpenAI's usage chunk.
    pub usage: UsageMode,
    /// Mixed with a hash of the messages to choose each token's word.
    pub seed: u64,
    /// Served by `/v1/models` and echoed in chunks when the request names no model.
    pub model: String,
    /// Tokens per answer when the request has neither `max_tokens` nor `max_completion_tokens`.
    pub default_max_tokens: u64,
    /// The fault injected into every `fault_every`th valid chat request.
    pub fault: Option<Fault>,
    /// 1 faults every request, 2 every second one, … (0 is read as 1).
    pub fault_every: u32,
    /// Chunks leave by the mock's precise timer thread (within tens of µs of their instant);
    /// `false` uses tokio's timer, up to about 1 ms late (`crate::timer`).
    pub precise_timer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttft: Duration::from_millis(60),
            itl: Duration::from_millis(10),
            role_chunk: true,
            two_token_every: None,
            empty_every: None,
            ping_every: None,
            reasoning_chunks: 0,
            usage: UsageMode::Request,
            seed: 0,
            model: "mock-llm".to_owned(),
            default_max_tokens: 16,
            fault: None,
            fault_every: 1,
            precise_timer: true,
        }
    }
}

/// When a stream carries the usage chunk (non-streaming answers always carry usage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageMode {
    Never,
    /// Only when the request has `"stream_options": {"include_usage": true}`, as OpenAI does.
    Request,
    Always,
}

/// A failure the mock injects, for testing how clients cope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without answering, right after reading the request.
    Refuse,
    /// Answer 500 with an OpenAI-style error body.
    Status500,
    /// After `after` output chunks, end the connection abruptly: no `[DONE]`, no final
    /// zero-length chunk. Fires when output chunk `after` would have been due.
    Cut { after: u32 },
    /// After `after` output chunks, send an SSE error event and end the body normally,
    /// without `[DONE]`. Fires when output chunk `after` would have been due.
    ErrorEvent { after: u32 },
    /// Answer 200 with a plain JSON body even to a streaming request.
    NonSse,
}

/// A flag value that names no [`UsageMode`] or [`Fault`].
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("unknown usage mode {0:?} (expected never, request or always)")]
    Usage(String),
    #[error("unknown fault {0:?} (expected refuse, 500, cut:N, error:N or non-sse)")]
    Fault(String),
}

impl FromStr for UsageMode {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(UsageMode::Never),
            "request" => Ok(UsageMode::Request),
            "always" => Ok(UsageMode::Always),
            _ => Err(ParseError::Usage(s.to_owned())),
        }
    }
}

impl FromStr for Fault {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError::Fault(s.to_owned());
        let after = |n: &str| n.parse::<u32>().map_err(|_| bad());
        match s.split_once(':') {
            None => match s {
                "refuse" => Ok(Fault::Refuse),
                "500" => Ok(Fault::Status500),
                "non-sse" => Ok(Fault::NonSse),
                _ => Err(bad()),
            },
            Some(("cut", n)) => Ok(Fault::Cut { after: after(n)? }),
            Some(("error", n)) => Ok(Fault::ErrorEvent { after: after(n)? }),
            Some(_) => Err(bad()),
        }
    }
}

/// Whether output chunk `k` (0-based) is the Nth, 2Nth, … one.
pub(crate) fn is_every(every: Option<u32>, k: u64) -> bool {
    matches!(every, Some(n) if n > 0 && (k + 1).is_multiple_of(u64::from(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_their_flag_spelling() {
        assert_eq!("refuse".parse::<Fault>().unwrap(), Fault::Refuse);
        assert_eq!("500".parse::<Fault>().unwrap(), Fault::Status500);
        assert_eq!("non-sse".parse::<Fault>().unwrap(), Fault::NonSse);
        assert_eq!("cut:3".parse::<Fault>().unwrap(), Fault::Cut { after: 3 });
        assert_eq!("error:0".parse::<Fault>().unwrap(), Fault::ErrorEvent { after: 0 });
        for bad in ["", "cut", "cut:", "cut:x", "error:-1", "boom:1", "404"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn usage_modes_parse() {
        assert_eq!("never".parse::<UsageMode>().unwrap(), UsageMode::Never);
        assert_eq!("request".parse::<UsageMode>().unwrap(), UsageMode::Request);
        assert_eq!("always".parse::<UsageMode>().unwrap(), UsageMode::Always);
        assert!("sometimes".parse::<UsageMode>().is_err());
    }

    #[test]
    fn every_n_counts_one_based() {
        let hits: Vec<u64> = (0..12).filter(|&k| is_every(Some(4), k)).collect();
        assert_eq!(hits, [3, 7, 11]);
        assert!(!(0..12).any(|k| is_every(None, k) || is_every(Some(0), k)));
    }
}
