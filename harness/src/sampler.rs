//! Samples the server's process tree (RSS and CPU time of all its processes and threads,
//! dead threads included) and the harness's own CPU time, every 100 ms, from /proc and
//! getrusage; the tree's PSS (`/proc/<pid>/smaps_rollup`, which costs milliseconds per
//! process) at most once a second and when a window opens or closes ([`request_pss`]).
//! The sampler's own CPU time is recorded with every sample. The figures per point are
//! derived from the samples inside its window.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Sampling period.
pub const PERIOD: Duration = Duration::from_millis(100);
/// PSS is read at most this often (besides the window edges).
pub const PSS_PERIOD: Duration = Duration::from_secs(1);

/// Set by the driver when a window opens or closes: the sampler reads PSS at its next tick.
static PSS_WANTED: AtomicBool = AtomicBool::new(false);

/// Asks every running sampler for a PSS reading at its next tick (a window's edge).
pub fn request_pss() {
    PSS_WANTED.store(true, Ordering::Relaxed);
}
/// /proc reports CPU time in clock ticks (10 ms). A window in which the server used less
/// than this much CPU gets no CPU figure: with under 5 ticks the quantisation error alone
/// would exceed 20% (docs/metrics.md, "Server CPU per response").
pub const MIN_SERVER_CPU_S: f64 = 0.05;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime of the server's processes, in seconds (None when there is no server
    /// process to watch, e.g. with `--url`).
    pub server_cpu_s: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    /// Proportional set size of the server's tree (shared pages divided among the processes
    /// that share them), when read at this sample.
    pub server_pss_bytes: Option<u64>,
    /// utime + stime of the harness process, in seconds.
    pub client_cpu_s: f64,
    /// CPU time the sampler itself has used so far (its thread and its marks), in seconds.
    pub sampler_cpu_s: f64,
}

/// Figures over one measured window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WindowStats {
    /// Server CPU seconds per wall second.
    pub server_cpu_rate: Option<f64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_mean_bytes: Option<u64>,
    /// Mean of the PSS readings in the window.
    pub pss_mean_bytes: Option<u64>,
    /// Harness CPU seconds per wall second, divided by the client CPUs it may use.
    pub client_cpu_share: f64,
    /// The sampler's own CPU seconds per wall second (of one core); part of the harness's.
    pub sampler_cpu_share: f64,
}

#[derive(Debug)]
pub struct Sampler {
    server_pid: Option<i32>,
    samples: Arc<Mutex<Vec<Sample>>>,
    /// CPU µs used by the sampler thread so far, and by marks (on their callers' threads).
    thread_us: Arc<AtomicU64>,
    marks_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `server_pid`'s tree (if any) on a background thread.
    pub fn start(server_pid: Option<i32>) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_us, marks_us) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            let (thread_us, marks_us) = (thread_us.clone(), marks_us.clone());
            std::thread::Builder::new()
                .name("sampler".into())
                .spawn(move || {
                    let mut last_pss: Option<Instant> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let pss = PSS_WANTED.swap(false, Ordering::Relaxed)
                            || last_pss.is_none_or(|t| t.elapsed() >= PSS_PERIOD);
                        if pss {
                            last_pss = Some(Instant::now());
                        }
                        let mut s = take_sample(server_pid, pss);
                        let own = thread_cpu_us();
                        thread_us.store(own, Ordering::Relaxed);
                        s.sampler_cpu_s = (own + marks_us.load(Ordering::Relaxed)) as f64 / 1e6;
                        samples.lock().expect("sampler lock").push(s);
                        std::thread::sleep(PERIOD);
                    }
                })
                .expect("spawn sampler thread")
        };
        Self { server_pid, samples, thread_us, marks_us, stop, thread: Some(thread) }
    }

    /// The process whose tree is sampled (none for a `--url` target).
    pub fn server_pid(&self) -> Option<i32> {
        self.server_pid
    }

    /// Takes one extra sample now, PSS included (window edges get exact readings, not the
    /// nearest tick); its CPU time counts as the sampler's.
    pub fn mark(&self) {
        let before = thread_cpu_us();
        let mut s = take_sample(self.server_pid, true);
        let spent = thread_cpu_us().saturating_sub(before);
        let marks = self.marks_us.fetch_add(spent, Ordering::Relaxed) + spent;
        s.sampler_cpu_s = (self.thread_us.load(Ordering::Relaxed) + marks) as f64 / 1e6;
        self.samples.lock().expect("sampler lock").push(s);
    }

    /// Figures for the samples between `start` and `end` (inclusive).
    pub fn window(&self, start: Instant, end: Instant, client_cpus: usize) -> WindowStats {
        let mut inside: Vec<Sample> = self
            .samples
            .lock()
            .expect("sampler lock")
            .iter()
            .filter(|s| s.at >= start && s.at <= end)
            .copied()
            .collect();
        inside.sort_by_key(|s| s.at);
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
            return WindowStats::default();
        };
        let wall = (last.at - first.at).as_secs_f64();
        let rate = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if wall > 0.0 => Some((b - a) / wall),
            _ => None,
        };
        let rss: Vec<u64> = inside.iter().filter_map(|s| s.server_rss_bytes).collect();
        let pss: Vec<u64> = inside.iter().filter_map(|s| s.server_pss_bytes).collect();
        let server_cpu = match (first.server_cpu_s, last.server_cpu_s) {
            (Some(a), Some(b)) if b - a >= MIN_SERVER_CPU_S => Some(b),
            _ => None,
        };
        WindowStats {
            server_cpu_rate: rate(first.server_cpu_s, server_cpu),
            rss_peak_bytes: rss.iter().max().copied(),
            rss_mean_bytes: (!rss.is_empty()).then(|| rss.iter().sum::<u64>() / rss.len() as u64),
            pss_mean_bytes: (!pss.is_empty()).then(|| pss.iter().sum::<u64>() / pss.len() as u64),
            client_cpu_share: rate(Some(first.client_cpu_s), Some(last.client_cpu_s)).unwrap_or(0.0)
                / client_cpus.max(1) as f64,
            sampler_cpu_share: rate(Some(first.sampler_cpu_s), Some(last.sampler_cpu_s)).unwrap_or(0.0),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn take_sample(server_pid: Option<i32>, with_pss: bool) -> Sample {
    let tree = server_pid.map(process_tree);
    Sample {
        at: Instant::now(),
        server_cpu_s: tree.as_ref().map(|pids| pids.iter().filter_map(|&p| cpu_seconds(p)).sum()),
        server_rss_bytes: tree.as_ref().map(|pids| pids.iter().filter_map(|&p| rss_bytes(p)).sum()),
        server_pss_bytes: tree
            .as_ref()
            .filter(|_| with_pss)
            .map(|pids| pids.iter().filter_map(|&p| pss_bytes(p)).sum()),
        client_cpu_s: own_cpu_seconds(),
        sampler_cpu_s: 0.0,
    }
}

/// CPU time of the calling thread, in µs.
fn thread_cpu_us() -> u64 {
    rusage_cpu_us(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// User + system CPU time of `who` (this process, or the calling thread), in µs; 0 when
/// getrusage fails.
fn rusage_cpu_us(who: nix::sys::resource::UsageWho) -> u64 {
    match nix::sys::resource::getrusage(who) {
        Ok(u) => {
            let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
            us(u.user_time()) + us(u.system_time())
        }
        Err(_) => 0,
    }
}

/// Proportional set size of a process (`Pss:` of /proc/<pid>/smaps_rollup), in bytes.
pub fn pss_bytes(pid: i32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = rollup.lines().find(|l| l.starts_with("Pss:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// A server's process tree at idle: memory, what it started, and the CPU it burns unloaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Idle {
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub processes: usize,
    pub threads: usize,
    /// CPU seconds of the tree over the window ÷ the window: cores busy at idle.
    pub cpu_cores: f64,
    pub window: std::time::Duration,
}

/// Threads of a process (its `/proc/<pid>/task` entries).
pub fn thread_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// [`Idle`] of `pid`'s tree over `window` of no load: CPU from the tree's CPU time at both
/// ends (processes that left in between are not counted), memory and counts at the end.
pub fn idle(pid: i32, window: std::time::Duration) -> Option<Idle> {
    let cpu = |tree: &[i32]| tree.iter().filter_map(|&p| cpu_seconds(p)).sum::<f64>();
    let before = cpu(&process_tree(pid));
    let started = std::time::Instant::now();
    std::thread::sleep(window);
    let tree = process_tree(pid);
    let after = cpu(&tree);
    let elapsed = started.elapsed();
    Some(Idle {
        rss_bytes: tree.iter().filter_map(|&p| rss_bytes(p)).sum(),
        pss_bytes: tree.iter().filter_map(|&p| pss_bytes(p)).sum(),
        processes: tree.iter().filter(|&&p| is_alive(p)).count(),
        threads: tree.iter().map(|&p| thread_count(p)).sum(),
        cpu_cores: ((after - before) / elapsed.as_secs_f64()).max(0.0),
        window: elapsed,
    })
    .filter(|i| i.processes > 0)
}

/// Whether `pid` is a live process: /proc lists it and it is not a zombie (one that has
/// exited and waits to be reaped).
pub fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// `pid` and all its descendants (multi-process servers such as gunicorn are one target).
pub fn process_tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(t.path().join("children")) {
                    out.extend(children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
                }
            }
        }
        i += 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as u64
}

/// utime + stime of a process (all its threads, living and dead), in seconds.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks_per_second())
}

/// Resident set size of a process, in bytes.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * page_size())
}

pub fn own_cpu_seconds() -> f64 {
    rusage_cpu_us(nix::sys::resource::UsageWho::RUSAGE_SELF) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert!(rss_bytes(me).unwrap() > 1 << 20);
        assert!(cpu_seconds(me).is_some());
        assert!(process_tree(me).contains(&me));
    }

    #[test]
    fn pss_is_read_and_below_rss() {
        let me = std::process::id() as i32;
        let (pss, rss) = (pss_bytes(me).unwrap(), rss_bytes(me).unwrap());
        assert!(pss > 1 << 20 && pss <= rss + (1 << 20), "PSS {pss} against RSS {rss}");
    }

    /// The sampler's own cost over a window, PSS at 1 Hz and at both edges included, stays
    /// under 2% of one core (docs/metrics.md, "Sampler cost").
    #[test]
    fn the_sampler_costs_under_two_percent_of_a_core_and_records_it() {
        let sampler = Sampler::start(Some(std::process::id() as i32));
        let start = Instant::now();
        sampler.mark();
        std::thread::sleep(Duration::from_millis(2500));
        sampler.mark();
        let w = sampler.window(start, Instant::now(), 1);
        assert!(w.pss_mean_bytes.is_some(), "{w:?}");
        assert!(w.sampler_cpu_share > 0.0 && w.sampler_cpu_share < 0.02, "{w:?}");
        let pss_readings = sampler.samples.lock().unwrap().iter().filter(|s| s.server_pss_bytes.is_some()).count();
        // Two marks, and at most one a second in between (the first tick reads one too).
        assert!((3..=6).contains(&pss_readings), "{pss_readings} PSS readings in 2.5 s");
    }

    #[test]
    fn busy_client_shows_in_its_share() {
        let sampler = Sampler::start(Some(std::process::id() as i32));
        let start = Instant::now();
        sampler.mark();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(400) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        sampler.mark();
        let w = sampler.window(start, Instant::now(), 1);
        assert!(w.client_cpu_share > 0.5, "{w:?}");
    }
}
