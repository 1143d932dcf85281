//! The chunks' precise timer. tokio's timer wakes up to about 1 ms late: its wheel ticks in
//! milliseconds and the runtime parks in `epoll_wait`, whose timeout is whole milliseconds, so
//! a chunk leaves between its due instant and a millisecond after, and two consecutive gaps
//! differ by up to 2 ms. At a 10 ms ITL that is 10% of jitter in what is meant to be the ground
//! truth (a gap's p99 read 11.1 ms). One thread per process sleeps to the earliest due instant
//! (`Condvar::wait_timeout`, a futex with a nanosecond timeout: tens of µs of slack) and wakes
//! every chunk due by then; the chunk's task runs on the mock's runtime as before.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// One registered wake-up: its instant, a tie-break, and whom to wake.
struct Entry {
    due: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

/// The process's timer thread and its queue.
struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
}

fn timer() -> &'static Arc<Timer> {
    static TIMER: OnceLock<Arc<Timer>> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t = Arc::new(Timer { queue: Mutex::new(Queue::default()), wake: Condvar::new() });
        let worker = t.clone();
        std::thread::Builder::new()
            .name("mock-llm-timer".into())
            .spawn(move || worker.run())
            .expect("spawn the mock's timer thread");
        t
    })
}

impl Timer {
    fn register(&self, due: Instant, waker: Waker) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = q.heap.peek().is_none_or(|Reverse(e)| due < e.due);
        q.seq += 1;
        let seq = q.seq;
        q.heap.push(Reverse(Entry { due, seq, waker }));
        drop(q);
        // Only a new earliest instant shortens the thread's sleep.
        if earliest {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut due_now = Vec::new();
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|Reverse(e)| e.due <= now) {
                let Some(Reverse(e)) = q.heap.pop() else { break };
                due_now.push(e.waker);
            }
            if !due_now.is_empty() {
                drop(q);
                for w in due_now.drain(..) {
                    w.wake();
                }
                q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            q = match q.heap.peek().map(|Reverse(e)| e.due) {
                Some(due) => self.wake.wait_timeout(q, due - now).unwrap_or_else(|e| e.into_inner()).0,
                None => self.wake.wait(q).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// A future that is ready at `due`, woken by the timer thread.
#[derive(Debug)]
pub(crate) struct PreciseSleep {
    due: Instant,
    /// The instant registered with the timer, so a poll before it fires does not register again.
    registered: Option<Instant>,
}

impl PreciseSleep {
    pub(crate) fn until(due: Instant) -> Self {
        PreciseSleep { due, registered: None }
    }

    pub(crate) fn reset(&mut self, due: Instant) {
        self.due = due;
    }
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            self.registered = None;
            return Poll::Ready(());
        }
        // Registered once per instant; a spurious poll (another frame's readiness) keeps it.
        if self.registered != Some(self.due) {
            self.registered = Some(self.due);
            timer().register(self.due, cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A stream's chunk timer: the precise one (the default), or tokio's (`--tokio-timer`: about
/// 1 ms of jitter, for comparison).
#[derive(Debug)]
pub(crate) enum ChunkTimer {
    Precise(PreciseSleep),
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl ChunkTimer {
    pub(crate) fn new(due: tokio::time::Instant, precise: bool) -> Self {
        if precise {
            ChunkTimer::Precise(PreciseSleep::until(due.into_std()))
        } else {
            ChunkTimer::Tokio(Box::pin(tokio::time::sleep_until(due)))
        }
    }

    pub(crate) fn reset(&mut self, due: tokio::time::Instant) {
        match self {
            ChunkTimer::Precise(s) => s.reset(due.into_std()),
            ChunkTimer::Tokio(s) => s.as_mut().reset(due),
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            ChunkTimer::Precise(s) => Pin::new(s).poll(cx),
            ChunkTimer::Tokio(s) => s.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Each wake-up lands within a fraction of a millisecond of its instant, never before.
    #[test]
    fn wakes_at_its_instant_within_a_fraction_of_a_millisecond() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let late: Vec<Duration> = rt.block_on(async {
            let mut late = Vec::new();
            let start = Instant::now();
            let mut sleep = PreciseSleep::until(start);
            for k in 1..=50u32 {
                let due = start + Duration::from_micros(2_300) * k;
                sleep.reset(due);
                (&mut sleep).await;
                late.push(Instant::now() - due);
            }
            late
        });
        let mut sorted = late.clone();
        sorted.sort();
        assert!(sorted[25] < Duration::from_micros(300), "median lateness {:?}", sorted[25]);
        assert!(sorted[45] < Duration::from_micros(900), "90th lateness {:?}", sorted[45]);
    }
}
