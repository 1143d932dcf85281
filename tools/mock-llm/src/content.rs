//! What a mock answer says and when: each token's word (a pure function of the seed, the
//! messages and the token's index, so tests can predict it), how tokens group into chunks,
//! and the absolute instants chunks are due. Both the streaming and the non-streaming path
//! read these, so they agree on token counts and timing by construction.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::is_every;

/// The vocabulary. Words need no JSON escaping (a test checks), so chunks copy them raw;
/// a few are multi-byte UTF-8 so clients' decoding across reads gets exercised.
pub(crate) const WORDS: [&str; 64] = [
    "the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was", "at", "by", "be", "this",
    "from", "or", "an", "are", "not", "but", "have", "we", "can", "all", "one", "they", "more", "will", "time", "data",
    "model", "token", "fast", "slow", "red", "blue", "green", "sun", "moon", "star", "tree", "river", "stone", "cloud",
    "light", "night", "day", "bird", "fish", "code", "test", "wave", "fire", "snow", "rain", "wind", "hill", "café",
    "naïve", "Ω", "résumé",
];

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Token `index`'s word for a request whose messages hash to `messages_hash`.
pub(crate) fn word(seed: u64, messages_hash: u64, index: u64) -> &'static str {
    let h = mix(mix(seed ^ mix(messages_hash)) ^ index);
    WORDS[(h % WORDS.len() as u64) as usize]
}

/// FNV-1a, fed field by field: the stable hash of a request's messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Adds `bytes` followed by a separator, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(&[0xff]) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// How `max_tokens` tokens split into output chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenPlan {
    pub max_tokens: u64,
    pub two_token_every: Option<u32>,
}

impl TokenPlan {
    /// Tokens in output chunk `k` when `left` remain: 2 on every Nth chunk, else 1, never
    /// more than remain.
    pub(crate) fn tokens_in_chunk(&self, k: u64, left: u64) -> u64 {
        let wanted = if is_every(self.two_token_every, k) { 2 } else { 1 };
        wanted.min(left)
    }

    /// The number of output chunks: every group of N chunks carries N + 1 tokens, and the
    /// r < N + 1 tokens left over take r chunks (only a group's last chunk carries two).
    pub(crate) fn chunk_count(&self) -> u64 {
        match self.two_token_every {
            Some(n) if n > 0 => {
                let n = u64::from(n);
                let (groups, rest) = (self.max_tokens / (n + 1), self.max_tokens % (n + 1));
                groups * n + rest
            }
            _ => self.max_tokens,
        }
    }
}

/// The absolute instants of one answer's output chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub t0: Instant,
    pub ttft: Duration,
    pub itl: Duration,
}

impl Schedule {
    /// When output chunk `k` is due: t0 + ttft + k·itl. Computed from t0 every time, never
    /// accumulated, so a late wake-up does not push back later chunks.
    pub(crate) fn due(&self, k: u64) -> Instant {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        self.t0 + self.ttft + self.itl.saturating_mul(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_need_no_json_escaping() {
        for w in WORDS {
            assert!(!w.is_empty() && !w.contains(['"', '\\', ' ']) && !w.chars().any(char::is_control), "{w:?}");
            assert_eq!(serde_json::to_string(w).unwrap(), format!("\"{w}\""));
        }
        assert!(WORDS.iter().any(|w| w.len() > w.chars().count()), "some word must be multi-byte");
    }

    #[test]
    fn words_depend_on_seed_messages_and_index() {
        let a: Vec<_> = (0..32).map(|i| word(0, 7, i)).collect();
        assert_eq!(a, (0..32).map(|i| word(0, 7, i)).collect::<Vec<_>>());
        assert_ne!(a, (0..32).map(|i| word(1, 7, i)).collect::<Vec<_>>());
        assert_ne!(a, (0..32).map(|i| word(0, 8, i)).collect::<Vec<_>>());
        let distinct: std::collections::HashSet<_> = (0..4096).map(|i| word(3, 9, i)).collect();
        assert!(distinct.len() > 60, "hash should reach nearly every word, got {}", distinct.len());
    }

    #[test]
    fn chunk_count_matches_walking_the_plan() {
        for every in [None, Some(0), Some(1), Some(2), Some(4), Some(7)] {
            for max_tokens in 0..60 {
                let plan = TokenPlan { max_tokens, two_token_every: every };
                let (mut left, mut chunks) = (max_tokens, 0);
                while left > 0 {
                    left -= plan.tokens_in_chunk(chunks, left);
                    chunks += 1;
                }
                assert_eq!(plan.chunk_count(), chunks, "max_tokens {max_tokens}, every {every:?}");
            }
        }
        assert_eq!(TokenPlan { max_tokens: 8, two_token_every: Some(4) }.chunk_count(), 7);
    }

    #[test]
    fn schedule_is_absolute() {
        let s = Schedule { t0: Instant::now(), ttft: Duration::from_millis(30), itl: Duration::from_millis(5) };
        assert_eq!(s.due(0) - s.t0, Duration::from_millis(30));
        assert_eq!(s.due(7) - s.t0, Duration::from_millis(65));
    }
}
