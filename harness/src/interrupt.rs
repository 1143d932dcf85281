//! Ctrl-C (SIGINT), SIGTERM and SIGHUP, however the harness is run (in a terminal, under
//! `| tee`, from `cargo run`, with the terminal closed): stop every server this process
//! started, keep an honest record, exit with 130. Without this, a signal would end the
//! harness and leave the servers to the parent-death signal, which reaches direct children
//! only (not, say, gunicorn's workers).
//!
//! **Who does what.** The signal handler only records the signal, cancels the load driver
//! ([`PROCESS`]) and starts a watchdog; it prints one line, through [`crate::errln!`], which
//! never panics (under `| tee`, the same Ctrl-C kills `tee`, so a print fails with EPIPE).
//! The main thread notices within 0.5 s (the driver returns [`Interrupted`]), [`claim`]s the
//! shutdown, records the target as `interrupted` with the point and repeat it was in,
//! writes results.json, stops its server and exits with 130.
//!
//! **Bounds.** When the main thread is somewhere it cannot notice soon (a build, `pip`, the
//! hostile corpus), the watchdog takes over [`CLAIM_WITHIN`] after the signal: it records the
//! interruption in the last results it was given ([`save`]), stops every registered server
//! tree and exits with 130. Either way the harness is gone within the stop grace
//! (`--stop-timeout`) plus 2 s; a backstop SIGKILLs what is left at the grace plus
//! [`BACKSTOP_AFTER_GRACE`]. A second signal stops the servers with SIGKILL and exits at once.
//!
//! **Gone means gone.** Stopping walks `/proc` for the whole process tree, again and again
//! while it waits, and waits until none of it is left: some servers' children lead process
//! groups (or sessions) of their own, which a process-group kill does not reach.
//!
//! The handler is installed once, at the start of a run, *before* goose (the `mixed`
//! workload) starts: goose tries to install its own Ctrl-C handler, whose second press calls
//! `process::exit` without stopping anything; the `ctrlc` crate allows one handler per
//! process, so goose's attempt fails harmlessly (it logs and carries on) and ours stays.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::results::{Interruption, Results};
use crate::sampler::is_alive;

/// How long a server may take to exit after SIGTERM before SIGKILL, unless `--stop-timeout`
/// says otherwise (its own grace period is 10 s).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(12);
/// How long the watchdog waits for the main thread to take the shutdown over.
pub const CLAIM_WITHIN: Duration = Duration::from_secs(1);
/// After the signal, the stop grace plus this, whatever is left is killed and the harness exits.
pub const BACKSTOP_AFTER_GRACE: Duration = Duration::from_millis(1800);
/// How long stopping waits for SIGKILLed processes to leave `/proc`.
const REAP_WAIT: Duration = Duration::from_millis(800);

/// A cancellation the load driver waits on beside its windows. [`PROCESS`] is the one a
/// signal cancels; tests make their own.
#[derive(Debug)]
pub struct Cancel {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cancel {
    pub const fn new() -> Self {
        Cancel { flag: AtomicBool::new(false), notify: tokio::sync::Notify::const_new() }
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            // Created before the check: `notify_waiters` reaches a `Notified` from its creation.
            let woken = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

/// Cancelled by the first signal.
pub static PROCESS: Cancel = Cancel::new();

/// Runs `f` unless a signal comes first; then `f` is dropped and this is [`Interrupted`].
pub async fn unless_signalled<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    tokio::select! {
        r = f => Ok(r?),
        () = PROCESS.cancelled() => Err(Interrupted.into()),
    }
}

/// The error a cancelled step returns; the main thread then [`claim`]s the shutdown.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

const RUNNING: u8 = 0;
/// A signal came; nobody has taken the shutdown yet.
const SIGNALLED: u8 = 1;
/// The main thread is recording the interruption and stopping its servers.
const MAIN_STOPPING: u8 = 2;
/// The watchdog is stopping everything; the main thread must not touch results any more.
const WATCHDOG_STOPPING: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(RUNNING);
/// When the first signal came (and as RFC 3339), and where the run was then.
static SIGNALLED_AT: Mutex<Option<(Instant, String, Position)>> = Mutex::new(None);
/// `--stop-timeout` of the run, in ms.
static GRACE_MS: AtomicU64 = AtomicU64::new(DEFAULT_GRACE.as_millis() as u64);
/// Where the run is, for the record.
static POSITION: Mutex<Position> = Mutex::new(Position::new());
/// The results last written, and where: the watchdog records the interruption in them.
static LAST_SAVED: Mutex<Option<(PathBuf, Results)>> = Mutex::new(None);
/// Held while results.json is written, so two writers never share its temporary file.
static WRITING: Mutex<()> = Mutex::new(());

/// Servers running now (their root pids).
static SERVERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Held from just before a server is forked until it is registered. Whoever stops the
/// servers on a signal takes it first, so the process never exits between a fork and its
/// registration: an exit there would leave the server's own children (a shell's background
/// job, gunicorn's workers) to no one, since the parent-death signal reaches the direct
/// child only.
static SPAWNING: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the run is doing, as the record of an interruption states it.
#[derive(Debug, Clone, Default)]
struct Position {
    target: Option<String>,
    during: Option<&'static str>,
    point: Option<String>,
    repeat: Option<(usize, usize)>,
}

impl Position {
    const fn new() -> Self {
        Position { target: None, during: None, point: None, repeat: None }
    }
}

/// The target now being worked on (clears the step).
pub fn at_target(name: &str) {
    *lock(&POSITION) = Position { target: Some(name.to_owned()), ..Position::new() };
}

/// The step of the current target: `building`, `starting`, `verifying`, `robustness`,
/// `stopping` (an instance, before the next workload's fresh one), `measuring` (with a
/// point) or `startup runs`.
pub fn at_step(during: &'static str, point: Option<String>) {
    let mut p = lock(&POSITION);
    p.during = Some(during);
    p.point = point;
    p.repeat = None;
}

/// Repeat `i` (1-based) of `n` of the current point.
pub fn at_repeat(i: usize, n: usize) {
    lock(&POSITION).repeat = Some((i, n));
}

/// The record of this run's interruption: where the run was when the first signal came
/// (`None` before any signal).
pub fn interruption(recorded_by: &str) -> Option<Interruption> {
    let (_, at, p) = lock(&SIGNALLED_AT).clone()?;
    Some(Interruption {
        at,
        target: p.target,
        during: p.during.map(str::to_owned),
        point: p.point,
        repeat: p.repeat.map(|(i, _)| i),
        repeats: p.repeat.map(|(_, n)| n),
        recorded_by: recorded_by.to_owned(),
    })
}

/// Installs the handler; a second call (e.g. from tests running several plans in one
/// process) is a no-op.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ctrlc::set_handler(on_signal) {
            crate::errln!(
                "harness: warning: cannot install the Ctrl-C handler ({e}); an interrupt may leave servers behind"
            );
        }
    });
}

/// The stop grace (`--stop-timeout`) the shutdown on a signal allows each server.
pub fn set_grace(grace: Duration) {
    GRACE_MS.store(grace.as_millis() as u64, Ordering::SeqCst);
}

/// The stop grace in force (`--stop-timeout` of the run, else [`DEFAULT_GRACE`]).
pub fn grace() -> Duration {
    Duration::from_millis(GRACE_MS.load(Ordering::SeqCst))
}

fn on_signal() {
    // Signals are handled one at a time on ctrlc's thread, and only this function leaves
    // RUNNING: the record is complete before the main thread can see SIGNALLED and claim.
    if STATE.load(Ordering::SeqCst) == RUNNING {
        let position = lock(&POSITION).clone();
        *lock(&SIGNALLED_AT) = Some((Instant::now(), crate::results::now_rfc3339(), position));
        STATE.store(SIGNALLED, Ordering::SeqCst);
        PROCESS.cancel();
        crate::errln!("harness: interrupted; stopping the servers (interrupt again to kill them at once)");
        if std::thread::Builder::new().name("interrupt-watchdog".into()).spawn(watchdog).is_err() {
            // No watchdog: do its work here rather than risk no bound at all.
            watchdog();
        }
        return;
    }
    crate::errln!("harness: interrupted again; killing the servers");
    let _no_more_spawns = lock(&SPAWNING);
    stop_all(Duration::ZERO);
    // The main thread may not have written its record yet; one already written stays.
    record_in_last_saved("second signal");
    std::process::exit(130);
}

fn watchdog() {
    let since = lock(&SIGNALLED_AT).as_ref().map_or_else(Instant::now, |s| s.0);
    std::thread::sleep(CLAIM_WITHIN.saturating_sub(since.elapsed()));
    if STATE.compare_exchange(SIGNALLED, WATCHDOG_STOPPING, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        let _no_more_spawns = lock(&SPAWNING);
        record_in_last_saved("watchdog");
        stop_all(grace());
        std::process::exit(130);
    }
    // The main thread took over; if it overruns its bound, end it here.
    std::thread::sleep((grace() + BACKSTOP_AFTER_GRACE).saturating_sub(since.elapsed()));
    let _no_more_spawns = lock(&SPAWNING);
    crate::errln!("harness: the shutdown overran its bound; killing what is left");
    stop_all(Duration::ZERO);
    std::process::exit(130);
}

/// Marks the last results written as interrupted and writes them again.
fn record_in_last_saved(recorded_by: &str) {
    let Some(i) = interruption(recorded_by) else { return };
    let Some((dir, mut results)) = lock(&LAST_SAVED).take() else { return };
    results.mark_interrupted(&i);
    let _writing = lock(&WRITING);
    if let Err(e) = crate::results::write_atomic(&dir, &results) {
        crate::errln!("harness: cannot record the interruption in {}: {e}", dir.display());
    }
}

/// Whether a signal has started the shutdown.
pub fn interrupted() -> bool {
    STATE.load(Ordering::SeqCst) != RUNNING
}

/// The main thread takes the shutdown over: `true` when a signal came (the caller records
/// the interruption, stops its servers and exits with 130). When the watchdog has already
/// taken it, this never returns: the watchdog is about to exit the process.
pub fn claim() -> bool {
    match STATE.compare_exchange(SIGNALLED, MAIN_STOPPING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => true,
        Err(MAIN_STOPPING) => true,
        Err(WATCHDOG_STOPPING) => park_forever(),
        Err(_) => false,
    }
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Writes results.json atomically and keeps a copy for the watchdog. Once the watchdog
/// has taken the shutdown, the main thread stops here for good: the record is the
/// watchdog's to write.
pub fn save(dir: &Path, results: &Results) -> std::io::Result<()> {
    if STATE.load(Ordering::SeqCst) == WATCHDOG_STOPPING {
        park_forever();
    }
    let _writing = lock(&WRITING);
    crate::results::write_atomic(dir, results)?;
    *lock(&LAST_SAVED) = Some((dir.to_path_buf(), results.clone()));
    Ok(())
}

/// Permission to start a server: `None` once a signal has started the shutdown. Hold the
/// guard until the server is [`register`]ed.
pub fn spawn_guard() -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = lock(&SPAWNING);
    (!interrupted()).then_some(guard)
}

pub fn register(pid: i32) {
    lock(&SERVERS).push(pid);
    if interrupted() {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

pub fn unregister(pid: i32) {
    lock(&SERVERS).retain(|&p| p != pid);
}

/// Stops every registered server tree: SIGTERM to every process of it, SIGKILL to what is
/// left after `grace`, and back only when none of it is left in `/proc` (or after a short
/// wait for the kernel to reap).
pub fn stop_all(grace: Duration) {
    let roots: Vec<i32> = lock(&SERVERS).clone();
    let mut tree = Tree::default();
    for &root in &roots {
        tree.add(root);
    }
    tree.signal(Signal::SIGTERM);
    tree.wait_gone(Instant::now() + grace);
    // Servers registered since the snapshot above are included.
    for root in lock(&SERVERS).iter().copied() {
        tree.add(root);
    }
    tree.kill(&roots);
}

/// A server's processes: every descendant ever seen of the roots. A descendant whose parent
/// has exited is reparented away (to init or a subreaper), so it is remembered from the
/// walks before, not found again.
#[derive(Debug, Default)]
pub struct Tree {
    pids: BTreeSet<i32>,
}

impl Tree {
    pub fn of(root: i32) -> Self {
        let mut t = Tree::default();
        t.add(root);
        t
    }

    /// Adds `root` and its descendants as they are now.
    pub fn add(&mut self, root: i32) {
        self.pids.extend(crate::sampler::process_tree(root));
    }

    /// Walks again from every known process, to catch children started since.
    pub fn refresh(&mut self) {
        let known: Vec<i32> = self.alive();
        for p in known {
            self.add(p);
        }
    }

    /// The processes still alive (zombies are gone: they only wait to be reaped).
    pub fn alive(&self) -> Vec<i32> {
        self.pids.iter().copied().filter(|&p| is_alive(p)).collect()
    }

    pub fn signal(&self, sig: Signal) {
        for p in self.alive() {
            let _ = kill(Pid::from_raw(p), sig);
        }
    }

    /// Waits until no process of the tree is alive, or `deadline`; `true` when none is.
    pub fn wait_gone(&mut self, deadline: Instant) -> bool {
        loop {
            self.refresh();
            if self.alive().is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL to every process still alive and to the process groups `groups` lead (which
    /// also reaches members the walks never saw), then waits for them to leave `/proc`.
    pub fn kill(&mut self, groups: &[i32]) {
        self.refresh();
        self.signal(Signal::SIGKILL);
        for &g in groups {
            let _ = nix::sys::signal::killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
        self.wait_gone(Instant::now() + REAP_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_wakes_a_waiter_and_one_already_cancelled_returns_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let c: &'static Cancel = Box::leak(Box::new(Cancel::new()));
        rt.block_on(async {
            let waiter = tokio::spawn(c.cancelled());
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiter.is_finished());
            c.cancel();
            tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
            tokio::time::timeout(Duration::from_millis(10), c.cancelled()).await.unwrap();
        });
    }

    #[test]
    fn a_tree_remembers_a_child_whose_parent_exited_and_kills_it() {
        // sh starts a child in a session of its own and exits: the child is reparented away
        // from the tree, and leads no group the root led.
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "setsid sleep 30 & echo $!; sleep 0.3"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(sh.stdout.take().unwrap()), &mut line).unwrap();
        let child: i32 = line.trim().parse().unwrap();
        let mut tree = Tree::of(sh.id() as i32);
        assert!(tree.alive().contains(&child), "{:?} lacks {child}", tree.alive());
        sh.wait().unwrap();
        tree.refresh();
        assert_eq!(tree.alive(), vec![child], "the parent is gone, the child is remembered");
        tree.kill(&[]);
        assert!(tree.alive().is_empty());
        assert!(!is_alive(child));
    }
}
