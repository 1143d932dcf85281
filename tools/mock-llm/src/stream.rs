//! The streaming answer as a hyper body that is its own scheduler: each poll either sleeps
//! until the next chunk's absolute instant or hands hyper the bytes due at that instant.
//! One timer per stream, reset per chunk, and one reused buffer keep the cost per chunk to
//! a timer reset and a copy. hyper drops the body when the client goes away, which ends the
//! stream at once and is counted by the [`StreamGuard`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

use crate::config::is_every;
use crate::content::{Schedule, TokenPlan, word};
use crate::encode::{self, ChunkEncoder, DeltaField};
use crate::stats::StreamGuard;
use crate::timer::ChunkTimer;

/// How one stream is shaped: the per-request reading of [`crate::Config`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamShape {
    pub role_chunk: bool,
    pub empty_every: Option<u32>,
    pub ping_every: Option<u32>,
    pub reasoning_chunks: u32,
    /// Chunks leave by the precise timer (`crate::timer`), else by tokio's.
    pub precise_timer: bool,
    /// The prompt's token count when the stream ends with a usage chunk.
    pub usage_prompt_tokens: Option<u64>,
    pub fault: Option<StreamFault>,
}

/// A fault that ends a stream early, at the slot of output chunk `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFault {
    Cut { after: u32 },
    ErrorEvent { after: u32 },
}

impl StreamFault {
    fn after(self) -> u64 {
        match self {
            StreamFault::Cut { after } | StreamFault::ErrorEvent { after } => u64::from(after),
        }
    }
}

/// Where the words come from: token i is `word(seed, messages_hash, i)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Words {
    pub seed: u64,
    pub messages_hash: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Role,
    Output,
    Done,
}

#[derive(Debug)]
pub(crate) struct SseStream {
    encoder: ChunkEncoder,
    schedule: Schedule,
    plan: TokenPlan,
    shape: StreamShape,
    words: Words,
    phase: Phase,
    next_chunk: u64,
    next_token: u64,
    sleep: ChunkTimer,
    flushed_before_cut: bool,
    buf: BytesMut,
    guard: StreamGuard,
}

impl SseStream {
    pub(crate) fn new(
        encoder: ChunkEncoder,
        schedule: Schedule,
        plan: TokenPlan,
        shape: StreamShape,
        words: Words,
        guard: StreamGuard,
    ) -> Self {
        SseStream {
            sleep: ChunkTimer::new(schedule.due(0), shape.precise_timer),
            encoder,
            schedule,
            plan,
            shape,
            words,
            phase: Phase::Role,
            next_chunk: 0,
            next_token: 0,
            flushed_before_cut: false,
            // Room for a few chunks; hyper hands the frozen part back (drops it) once
            // written, so `reserve` reclaims the same allocation for later chunks.
            buf: BytesMut::with_capacity(2048),
            guard,
        }
    }

    fn take(&mut self) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        Poll::Ready(Some(Ok(Frame::data(self.buf.split().freeze()))))
    }

    fn tokens_left(&self) -> u64 {
        self.plan.max_tokens - self.next_token
    }

    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        ready!(self.sleep.poll(cx));
        let k = self.next_chunk;
        if let Some(fault) = self.shape.fault
            && (k == fault.after() || self.tokens_left() == 0)
        {
            return self.fire(fault, cx);
        }
        self.write_output_chunk(k);
        self.next_chunk += 1;
        if self.tokens_left() == 0 && self.shape.fault.is_none() {
            self.write_end();
        } else {
            let due = self.schedule.due(self.next_chunk);
            self.sleep.reset(due);
        }
        self.take()
    }

    /// Ends the stream as `fault` says, at the slot of output chunk `after`.
    fn fire(&mut self, fault: StreamFault, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if let StreamFault::Cut { .. } = fault
            && !self.flushed_before_cut
        {
            // hyper flushes what it has buffered only when the body is pending, and an
            // error drops that buffer. A slot already past due (a late wake-up) would
            // never be pending, so yield once to let the chunks before the cut go out.
            self.flushed_before_cut = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.phase = Phase::Done;
        self.guard.complete();
        match fault {
            // An error from the body makes hyper abort the connection without the
            // terminating zero-length chunk.
            StreamFault::Cut { .. } => Poll::Ready(Some(Err(io::Error::other("mock fault: stream cut")))),
            StreamFault::ErrorEvent { .. } => {
                encode::error_event(&mut self.buf);
                self.take()
            }
        }
    }

    /// Output chunk `k` and the extras due at its instant: the empty chunk, then the ping.
    fn write_output_chunk(&mut self, k: u64) {
        let n = self.plan.tokens_in_chunk(k, self.tokens_left());
        let field =
            if k < u64::from(self.shape.reasoning_chunks) { DeltaField::Reasoning } else { DeltaField::Content };
        let Words { seed, messages_hash } = self.words;
        let first = self.next_token;
        self.encoder.tokens(&mut self.buf, field, (first..first + n).map(|i| word(seed, messages_hash, i)));
        self.next_token += n;
        let mut chunks = 1;
        if is_every(self.shape.empty_every, k) {
            self.encoder.empty(&mut self.buf);
            chunks += 1;
        }
        if is_every(self.shape.ping_every, k) {
            encode::ping(&mut self.buf);
        }
        self.guard.stats().count_chunks(chunks);
    }

    /// The finish chunk, the usage chunk if any, and `[DONE]`, all at the last chunk's instant.
    fn write_end(&mut self) {
        self.encoder.finish(&mut self.buf);
        if let Some(prompt) = self.shape.usage_prompt_tokens {
            self.encoder.usage(&mut self.buf, prompt, self.plan.max_tokens);
        }
        encode::done(&mut self.buf);
        self.phase = Phase::Done;
        self.guard.complete();
    }
}

/// Every response body the mock sends: a complete buffer or a stream.
#[derive(Debug)]
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    Sse(Box<SseStream>),
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match self.get_mut() {
            MockBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Sse(stream) => match stream.phase {
                Phase::Role => {
                    stream.phase = Phase::Output;
                    if stream.shape.role_chunk {
                        stream.encoder.role(&mut stream.buf);
                        return stream.take();
                    }
                    stream.poll_output(cx)
                }
                Phase::Output => stream.poll_output(cx),
                Phase::Done => Poll::Ready(None),
            },
        }
    }

    /// True right after the last frame, so hyper writes the terminating chunk with it.
    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(bytes) => bytes.is_none(),
            MockBody::Sse(stream) => stream.phase == Phase::Done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            MockBody::Sse(_) => SizeHint::default(),
        }
    }
}
