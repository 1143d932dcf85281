//! The disconnect check has teeth: a server that keeps memory for every dropped stream fails
//! the RSS verdict, however the warm-up cycles went, and one that generates on after the
//! client has gone fails the CPU verdict. The servers are in the test's process, and the
//! check reads that process: so each test runs in a process of its own (this test binary
//! re-run for that one test), where no other test's memory or threads are counted, and its
//! leaked memory and spinning threads end with it.

use crate::common;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::hostile::{DisconnectSpec, disconnect};

/// Memory a leaking server keeps per dropped stream: 50 streams keep 25 MiB a cycle.
const LEAK_PER_STREAM: usize = 512 * 1024;

/// An SSE-ish server: answers each request with a 200 head and an event every 10 ms until
/// the client goes; then, if `leak`, keeps `LEAK_PER_STREAM` bytes it has written to; if
/// `spin`, burns CPU for 3 s (past the 2 s bar) as if generation went on.
fn serve(leak: bool, spin: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    // A fixed pool of threads, more than the check's streams, that live as long as the
    // process: no thread is created or freed per stream, so thread stacks (which glibc
    // caches and trims as threads come and go) do not blur the RSS the check reads.
    for _ in 0..POOL {
        let listener = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                stream(conn, leak, spin);
            }
        });
    }
    authority
}

/// Server threads: the 50 streams of [`spec`] and room for the check's other connections.
const POOL: usize = 64;

fn stream(mut conn: TcpStream, leak: bool, spin: bool) {
    let mut head = [0u8; 4096];
    let _ = conn.read(&mut head);
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n");
    while conn.write_all(b"data: token\n\n").is_ok() {
        std::thread::sleep(Duration::from_millis(10));
    }
    if leak {
        // Written to, so the pages are resident.
        std::mem::forget(vec![0x5au8; LEAK_PER_STREAM]);
    }
    if spin {
        static SINK: AtomicBool = AtomicBool::new(false);
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            SINK.store(!SINK.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

fn spec() -> DisconnectSpec {
    DisconnectSpec { streams: 50, warmup_cycles: 1, judged_cycles: 2, ..DisconnectSpec::default() }
}

#[test]
fn a_server_that_keeps_memory_per_dropped_stream_fails_the_rss_verdict() {
    common::in_own_process(
        module_path!(),
        "a_server_that_keeps_memory_per_dropped_stream_fails_the_rss_verdict",
        || {
            let authority = serve(true, false);
            let d = disconnect(&authority, std::process::id() as i32, spec());
            assert_eq!(d.opened, 50, "{d:?}");
            assert!(d.cycles.iter().all(|c| c.answering > 0), "the streams were streaming: {d:?}");
            assert!(d.judged(), "at least 90% of the streams were live at each drop: {d:?}");
            assert!(!d.rss_ok, "25 MiB kept a cycle must fail: {d:?}");
            assert!(d.rss_change_pct > 10.0, "{d:?}");
            // The judged cycles leaked 2 × 25 MiB; RSS shows at least half of it (thread stacks
            // that glibc caches and reuses blur the per-cycle figures), far above any allocator
            // wobble.
            eprintln!(
                "judged cycles: RSS {} -> {} B, {:+.1}% per cycle",
                d.rss_before_bytes, d.rss_after_bytes, d.rss_change_pct
            );
            assert!(d.rss_after_bytes >= d.rss_before_bytes + (25 << 20), "{:#?}", d.cycles);
            assert!(d.cpu_ok, "this server stops when the client goes: {d:?}");
        },
    );
}

#[test]
fn a_server_that_generates_on_after_the_client_went_fails_the_cpu_verdict() {
    common::in_own_process(
        module_path!(),
        "a_server_that_generates_on_after_the_client_went_fails_the_cpu_verdict",
        || {
            let authority = serve(false, true);
            let d = disconnect(&authority, std::process::id() as i32, DisconnectSpec { judged_cycles: 1, ..spec() });
            assert!(!d.cpu_ok, "3 s of CPU after the drop must fail: {d:?}");
            assert!(d.judged(), "at least 90% of the streams were live at each drop: {d:?}");
        },
    );
}
