//! The simulated LLM decoder behind `POST /v1/generate`: a deterministic token sequence
//! from `seed`, rendered as SSE events. Frameworks own only the timer between events.

use crate::model::SplitMix64;

/// The 64-word vocabulary, one word per line. Python targets read the same file.
pub const VOCAB_TEXT: &str = include_str!("../data/vocab.txt");

/// The final event of every stream.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

/// `VOCAB_TEXT` split into words, checked once.
pub fn vocab() -> &'static [&'static str; 64] {
    static V: std::sync::LazyLock<[&'static str; 64]> = std::sync::LazyLock::new(|| {
        let words: Vec<&'static str> = VOCAB_TEXT.lines().collect();
        words.try_into().expect("vocab.txt holds exactly 64 words")
    });
    &V
}

/// Yields the `data: {"index":i,"token":"…"}\n\n` events of one stream, then `[DONE]`.
#[derive(Debug, Clone)]
pub struct TokenEvents {
    rng: SplitMix64,
    index: u64,
    max_tokens: u64,
    done_sent: bool,
}

impl TokenEvents {
    pub fn new(seed: u64, max_tokens: u64) -> Self {
        Self { rng: SplitMix64::new(seed), index: 0, max_tokens, done_sent: false }
    }

    /// True while the next event is a token (the caller waits `token_delay_ms` first).
    pub fn next_is_token(&self) -> bool {
        self.index < self.max_tokens
    }
}

/// The token at position `i` of the stream seeded with `seed` (for checkers).
pub fn token_words(seed: u64, max_tokens: u64) -> Vec<&'static str> {
    let mut rng = SplitMix64::new(seed);
    (0..max_tokens).map(|_| vocab()[(rng.next_u64() % 64) as usize]).collect()
}

impl Iterator for TokenEvents {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.index < self.max_tokens {
            let word = vocab()[(self.rng.next_u64() % 64) as usize];
            // Words are [a-z]+ (checked by a test), so no JSON escaping is needed.
            let ev = format!("data: {{\"index\":{},\"token\":\"{}\"}}\n\n", self.index, word);
            self.index += 1;
            Some(ev.into_bytes())
        } else if !self.done_sent {
            self.done_sent = true;
            Some(DONE_EVENT.to_vec())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_64_distinct_lowercase_words() {
        let v = vocab();
        let set: std::collections::BTreeSet<_> = v.iter().collect();
        assert_eq!(set.len(), 64);
        assert!(v.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn events_are_tokens_then_done() {
        let evs: Vec<_> = TokenEvents::new(7, 3).collect();
        assert_eq!(evs.len(), 4);
        let words = token_words(7, 3);
        assert_eq!(evs[0], format!("data: {{\"index\":0,\"token\":\"{}\"}}\n\n", words[0]).into_bytes());
        assert_eq!(evs[3], DONE_EVENT);
    }

    #[test]
    fn seed_zero_first_token_is_hand_checkable() {
        // splitmix64(0) first output 0xE220A8397B1DCDAF; % 64 = 0x2F = 47.
        assert_eq!(token_words(0, 1)[0], vocab()[47]);
    }
}
