//! The harness survives targets that misbehave: one that never gets ready, one whose port is
//! taken, one whose binary is missing, one that answers wrongly, one that dies mid-run and
//! one that ignores SIGTERM. The real `harness` binary runs them as a subprocess, from a
//! temporary workspace holding only their manifests; after it (and after a SIGINT sent to
//! it mid-run) no process of ours may survive. Bad command lines and manifests get one
//! line and exit code 2.
//!
//! Every process the harness starts inherits a unique environment marker, so survivors are
//! found by scanning /proc for it, whoever their parent is by then.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MARKER_VAR: &str = "MLAPI_FAULTY_TARGETS_MARKER";

/// A temporary workspace: `Cargo.toml` and `frameworks/<name>/framework.toml` per target.
struct Workspace {
    root: PathBuf,
    marker: String,
}

impl Workspace {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let marker = format!("{tag}-{}-{nanos}", std::process::id());
        let root = std::env::temp_dir().join(format!("mlapi-faulty-{marker}"));
        std::fs::create_dir_all(root.join("frameworks")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "# a workspace root for the harness to find\n").unwrap();
        Workspace { root, marker }
    }

    fn target(&self, name: &str, start: &str) {
        let dir = self.root.join("frameworks").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let toml = format!(
            "name = {name:?}\nlanguage = \"test\"\ndisplay_name = {name:?}\nframework_crate = \"none\"\n\
             framework_version = \"0\"\nbuild = \"true\"\nstart = {start:?}\nreadiness_path = \"/health\"\n\
             server_setup = \"test double\"\n"
        );
        std::fs::write(dir.join("framework.toml"), toml).unwrap();
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        path
    }

    fn harness(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
        cmd.args(args).current_dir(&self.root).env(MARKER_VAR, &self.marker).env_remove("CARGO");
        cmd.env_remove("RUST_BACKTRACE").env_remove("RUST_LIB_BACKTRACE");
        cmd
    }

    /// Processes (other than zombies) that carry this workspace's marker.
    fn survivors(&self) -> Vec<String> {
        let needle = format!("{MARKER_VAR}={}", self.marker);
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
            .filter(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .filter(|e| {
                std::fs::read(e.path().join("environ"))
                    .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .map(|e| {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                format!("{}: {}", e.file_name().to_string_lossy(), String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect()
    }

    fn assert_no_survivors(&self) {
        // Give the kernel a moment to finish killing what was killed.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.survivors().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(self.survivors().is_empty(), "processes of ours survived: {:#?}", self.survivors());
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn fw_hyper() -> PathBuf {
    let m = common::fw_hyper_debug_manifest();
    PathBuf::from(m.start.split_whitespace().next().unwrap())
}

fn results(out: &Path) -> Value {
    let text = std::fs::read(out.join("results.json")).expect("results.json exists");
    serde_json::from_slice(&text).expect("results.json is valid JSON")
}

fn target<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no {name} in {r}"))
}

fn reason(t: &Value) -> String {
    t["skip_reason"].as_str().unwrap_or_default().to_owned()
}

/// Waits until the harness has recorded the target's verification as passed: the next step
/// is a point. `ended` says why the harness is gone, if it is (then the wait fails).
fn wait_verified(out: &Path, mut ended: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let verified = std::fs::read(out.join("results.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|r| r["targets"][0]["verification"]["passed"] == true);
        if verified {
            return;
        }
        if let Some(why) = ended() {
            panic!("the harness ended early: {why}");
        }
        assert!(Instant::now() < deadline, "the target was never verified");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Target `slow`: a server tree the process group does not cover, a shell that ignores
/// SIGTERM with the real server under it in a session (and group) of its own.
fn detached_server(ws: &Workspace) {
    let server = ws.script(
        "server.sh",
        &format!(
            "trap '' TERM\nsetsid {} --port \"$1\" --workers \"$2\" --upstream \"$3\" &\nwait; wait",
            fw_hyper().display()
        ),
    );
    ws.target("slow", &format!("sh {} {{port}} {{workers}} {{upstream}}", server.display()));
}

const QUICK: &[&str] = &[
    "run",
    "--profile",
    "quick",
    "--repeats",
    "1",
    "--no-build",
    "--allow-debug-build",
    "--server-cpus",
    "0",
    "--client-cpus",
    "1",
    "--ready-timeout",
    "8",
    "--stop-timeout",
    "1",
];

#[test]
fn every_faulty_target_is_recorded_and_the_run_goes_on_without_orphans() {
    let _exclusive = common::exclusive();
    let ws = Workspace::new("run");
    let fw = fw_hyper();
    let fw = fw.display();
    ws.target("never-ready", "sleep 30 # {port} {workers}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    ws.target(
        "port-taken",
        &format!("{fw} --port {taken_port} --workers {{workers}} --upstream {{upstream}} # {{port}}"),
    );
    ws.target("missing-binary", "/nonexistent/mlapi/fw-missing --port {port} --workers {workers}");
    // Ready, but every answer is /health's: fails the contract.
    let wrong = ws.root.join("wrong.py");
    std::fs::write(&wrong, common::WRONG_ANSWERS_PY).unwrap();
    ws.target("wrong-answers", &format!("python3 {} {{port}} # {{workers}}", wrong.display()));
    // Healthy for verification and the first workload (starts 1 and 2), then started for
    // the second workload it dies 1.5 s in with exit status 7.
    let dies = ws.script(
        "dies.sh",
        &format!(
            "n=$(cat \"$0.count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0.count\"\n\
             if [ \"$n\" -lt 3 ]; then exec {fw} --port \"$1\" --workers \"$2\" --upstream \"$3\"; fi\n\
             {fw} --port \"$1\" --workers \"$2\" --upstream \"$3\" & pid=$!\n\
             sleep 1.5; kill -9 $pid; echo 'fake target: dying on purpose' >&2; exit 7"
        ),
    );
    ws.target("dies-mid-run", &format!("sh {} {{port}} {{workers}} {{upstream}}", dies.display()));
    // A shell that ignores SIGTERM in front of a good server: stopping it takes SIGKILL.
    let deaf = ws.script(
        "deaf.sh",
        &format!("trap '' TERM\n{fw} --port \"$1\" --workers \"$2\" --upstream \"$3\" &\nwait; wait"),
    );
    ws.target("ignores-sigterm", &format!("sh {} {{port}} {{workers}} {{upstream}}", deaf.display()));

    let out = ws.root.join("out");
    let names = "never-ready,port-taken,missing-binary,wrong-answers,dies-mid-run,ignores-sigterm";
    let started = Instant::now();
    let output: Output = ws
        .harness(QUICK)
        .args(["--framework", names, "--workload", "health,predict", "--duration", "0.2"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    drop(taken);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context =
        format!("exit {:?} after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status, started.elapsed());
    assert_eq!(output.status.code(), Some(3), "a failed target makes the exit code non-zero: {context}");
    assert!(!stderr.contains("panicked"), "{context}");

    let r = results(&out);
    assert!(r["finished_at"].is_string(), "{context}");
    let manifest = |name: &str| format!("frameworks/{name}/framework.toml");

    let t = target(&r, "never-ready");
    assert_eq!(t["status"], "skipped");
    assert!(reason(t).contains("did not answer /health with 200 within 8s"), "{t}");
    assert!(reason(t).contains(&manifest("never-ready")), "{t}");

    let t = target(&r, "port-taken");
    assert_eq!(t["status"], "skipped");
    assert!(reason(t).contains("exited (exit status: 1) before answering /health"), "{t}");
    assert!(reason(t).contains("Address already in use") && reason(t).contains(&manifest("port-taken")), "{t}");

    let t = target(&r, "missing-binary");
    assert_eq!(t["status"], "skipped");
    assert!(reason(t).contains("/nonexistent/mlapi/fw-missing does not exist"), "{t}");
    assert!(reason(t).contains(&manifest("missing-binary")), "{t}");

    let t = target(&r, "wrong-answers");
    assert_eq!(t["status"], "skipped");
    assert!(reason(t).contains("failed verification"), "{t}");
    assert_eq!(t["verification"]["passed"], false);
    assert!(t["points"].as_array().unwrap().is_empty(), "a target that fails verification gets no numbers");

    let t = target(&r, "dies-mid-run");
    assert_eq!(t["status"], "failed", "{t}");
    assert!(reason(t).contains("exited mid-run (exit status: 7)"), "{t}");
    assert!(reason(t).contains("fake target: dying on purpose"), "the stderr tail is in the reason: {t}");
    let points = t["points"].as_array().unwrap();
    assert!(points.iter().any(|p| p["workload"] == "health"), "completed points are kept: {t}");

    let t = target(&r, "ignores-sigterm");
    assert_eq!(t["status"], "measured", "{t}");
    assert!(t["shutdown"].as_str().unwrap().contains("killed after 1s without exiting on SIGTERM"), "{t}");

    // The final table names each failed target and why.
    for name in ["never-ready", "port-taken", "missing-binary", "wrong-answers", "dies-mid-run"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in the table: {context}"));
        assert!(line.contains("skipped:") || line.contains("failed:"), "{line}");
    }
    ws.assert_no_survivors();
}

#[test]
fn sigint_mid_run_stops_every_server_and_leaves_valid_results() {
    let _exclusive = common::exclusive();
    let ws = Workspace::new("sigint");
    let fw = fw_hyper();
    // A shell in front of the server that ignores SIGTERM: only the process-group SIGKILL
    // reaches both.
    let deaf = ws.script(
        "deaf.sh",
        &format!("trap '' TERM\n{} --port \"$1\" --workers \"$2\" --upstream \"$3\" &\nwait; wait", fw.display()),
    );
    ws.target("slow", &format!("sh {} {{port}} {{workers}} {{upstream}}", deaf.display()));
    let out = ws.root.join("out");
    let mut child = ws
        .harness(QUICK)
        .args([
            "--framework",
            "slow",
            "--workload",
            "health,predict",
            "--duration",
            "30",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a point is being measured: the target has been verified.
    wait_verified(&out, || child.try_wait().unwrap().map(|s| s.to_string()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!ws.survivors().is_empty(), "the server should be running now");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the harness did not exit within 20 s of SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let r = results(&out);
    assert_eq!(r["targets"][0]["name"], "slow", "results.json stays valid and complete up to the interrupt");
    assert_eq!(r["targets"][0]["status"], "interrupted", "{r}");
    // The signal came while the verification instance was being stopped (its shell ignores
    // SIGTERM, so that takes the 1 s stop timeout).
    assert_eq!(r["interrupted"]["during"], "stopping", "{r}");
    ws.assert_no_survivors();
}

fn one_line_exit_2(output: Output, must_mention: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.contains(must_mention), "{must_mention:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn bad_command_lines_get_one_line_and_exit_code_2() {
    let ws = Workspace::new("cli");
    ws.target("ok", "true {port} {workers}");
    one_line_exit_2(ws.harness(&["--no-such-flag"]).output().unwrap(), "--no-such-flag");
    one_line_exit_2(ws.harness(&["run", "--profile", "huge"]).output().unwrap(), "huge");
    one_line_exit_2(ws.harness(&["run", "--stop-timeout", "soon", "--allow-debug-build"]).output().unwrap(), "soon");
    let bad_cpus = ws.harness(&["run", "--server-cpus", "x", "--allow-debug-build"]).output().unwrap();
    one_line_exit_2(bad_cpus, "bad CPU");
    let bad_workload = ws.harness(&["run", "--workload", "nap", "--allow-debug-build"]).output().unwrap();
    one_line_exit_2(bad_workload, "unknown workload");
    one_line_exit_2(ws.harness(&["verify", "--framework", "nope"]).output().unwrap(), "no target named \"nope\"");
    ws.assert_no_survivors();
}

#[test]
fn bad_manifests_get_one_line_naming_the_manifest_and_exit_code_2() {
    let ws = Workspace::new("manifest");
    let dir = ws.root.join("frameworks/broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("framework.toml"), "name = \"broken\"\nlanguage = \n").unwrap();
    let out = ws.harness(&["list"]).output().unwrap();
    one_line_exit_2(out, "frameworks/broken/framework.toml is not a valid manifest: line 2: ");

    std::fs::write(dir.join("framework.toml"), "name = \"other\"\n").unwrap();
    let out = ws.harness(&["verify"]).output().unwrap();
    one_line_exit_2(out, "frameworks/broken/framework.toml");
}

/// How the terminal ends the run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// The user presses Ctrl-C: 0x03 written to the pty, so the line discipline sends SIGINT
    /// to the foreground process group (the harness and `tee` alike).
    CtrlC,
    /// The terminal closes: the pty's master is closed, the session leader gets SIGHUP and,
    /// as it exits, the kernel sends SIGHUP to the foreground job.
    Hangup,
}

/// How the harness was started.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Launch {
    /// As `cargo run --release` leaves it: cargo execs the harness (on Unix), so the process
    /// in the pipeline is the harness itself.
    Release,
    /// As `cargo run` (debug) leaves it: the debug harness re-runs itself through `$CARGO run
    /// --release` and waits. `$CARGO` here is a stand-in that execs the harness, as cargo does
    /// after building (real cargo would rebuild in release inside the test run).
    DebugRerun,
}

/// A pty session as a user has one: bash with job control leads it, and the job
/// `harness … 2>&1 | tee log` is its foreground process group.
struct Terminal {
    master: Option<std::fs::File>,
    shell: std::process::Child,
    status: PathBuf,
    screen: Vec<u8>,
}

impl Terminal {
    #[allow(unsafe_code)]
    fn start(ws: &Workspace, harness: Command) -> Terminal {
        use nix::fcntl::OFlag;
        use std::os::unix::process::CommandExt;
        // O_CLOEXEC from the start: a master inherited by a child another test forks would
        // keep the terminal open after we close it.
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let slave_path = nix::pty::ptsname_r(&master).unwrap();
        let master: std::fs::File = std::os::fd::OwnedFd::from(master).into();
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(&slave_path).unwrap();
        let status = ws.root.join("harness.exit-status");
        // The brace group only records the harness's exit status; it ignores INT and HUP so
        // that it outlives the harness (which installs its own handlers, replacing the
        // inherited dispositions). tee keeps the default ones, so it dies as tee does.
        let script = "set -m\n{ trap '' INT HUP; \"$@\"; echo $? > \"$STATUS\"; } 2>&1 | tee \"$LOG\"\n";
        let program = harness.get_program().to_owned();
        let args: Vec<_> = harness.get_args().map(|a| a.to_owned()).collect();
        let mut shell = Command::new("bash");
        shell.arg("-c").arg(script).arg("bash").arg(program).args(args);
        for (k, v) in harness.get_envs() {
            match v {
                Some(v) => shell.env(k, v),
                None => shell.env_remove(k),
            };
        }
        if let Some(dir) = harness.get_current_dir() {
            shell.current_dir(dir);
        }
        shell.env("STATUS", &status).env("LOG", ws.root.join("tee.log")).env("TERM", "dumb");
        shell.stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
        // SAFETY: setsid(2), ioctl(2) and signal(2) are async-signal-safe; nothing is
        // allocated.
        unsafe {
            shell.pre_exec(|| {
                // A terminal's shell starts with the default dispositions. Under `nohup` (or
                // any parent that ignores SIGHUP) the test's process would pass SIG_IGN on,
                // and a non-interactive bash cannot reset a signal ignored on entry: it would
                // then outlive the hangup, the kernel would never send SIGHUP to the job, and
                // the harness would run its point to the end (exit 0 after 32 s).
                use nix::sys::signal::Signal;
                for sig in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
                    nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl)
                        .map_err(std::io::Error::from)?;
                }
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let shell = shell.spawn().unwrap();
        Terminal { master: Some(master), shell, status, screen: Vec::new() }
    }

    /// Reads what the terminal shows so far (tee blocks once the pty's buffer is full).
    fn drain(&mut self) {
        use std::io::Read;
        let Some(m) = self.master.as_mut() else { return };
        let mut buf = [0u8; 8192];
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.screen.extend_from_slice(&buf[..n]);
        }
    }

    fn end(&mut self, how: Ending) {
        match how {
            Ending::CtrlC => {
                use std::io::Write;
                self.master.as_mut().unwrap().write_all(&[0x03]).unwrap();
            }
            Ending::Hangup => drop(self.master.take()),
        }
    }

    fn exit_status(&self) -> Option<String> {
        std::fs::read_to_string(&self.status).ok().filter(|s| s.ends_with('\n')).map(|s| s.trim().to_owned())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// Runs a measured point with the harness in a terminal job `… 2>&1 | tee log`, ends it the
/// way `how` says, and checks the bounds of issue 13: exit 130 within 1 s after the last
/// process of the server's tree is gone and within the stop grace plus 2 s of the signal,
/// nothing of ours left, and the target recorded as interrupted at the point it was in.
fn interrupt_in_a_terminal(how: Ending, launch: Launch) {
    let _exclusive = common::exclusive();
    let ws = Workspace::new(&format!("tty-{how:?}-{launch:?}").to_lowercase());
    detached_server(&ws);
    let out = ws.root.join("out");
    let grace = Duration::from_secs(1);
    let mut args: Vec<&str> = QUICK.to_vec();
    args.extend(["--framework", "slow", "--workload", "health", "--duration", "30", "--out", out.to_str().unwrap()]);
    let mut harness = ws.harness(&args);
    if launch == Launch::DebugRerun {
        // Drop --allow-debug-build so that the debug harness re-runs itself; the stand-in
        // cargo puts it back when it execs the harness, as the release build needs none.
        let args: Vec<&str> = args.iter().copied().filter(|a| *a != "--allow-debug-build").collect();
        harness = ws.harness(&args);
        let cargo = ws.script(
            "cargo",
            &format!(
                "# stands in for `cargo run --release -p harness -- ARGS`: exec, as cargo does\n\
                 while [ \"$1\" != \"--\" ]; do shift; done; shift\n\
                 exec {} \"$@\" --allow-debug-build",
                env!("CARGO_BIN_EXE_harness")
            ),
        );
        std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        harness.env("CARGO", &cargo);
    }
    let mut term = Terminal::start(&ws, harness);
    let server_procs = || -> Vec<String> {
        ws.survivors().into_iter().filter(|p| p.contains("fw-hyper") || p.contains("server.sh")).collect()
    };
    // Wait until a point is being measured: the target has been verified.
    wait_verified(&out, || {
        term.drain();
        let screen = String::from_utf8_lossy(&term.screen).into_owned();
        term.exit_status().map(|s| format!("exit {s}; the terminal shows:\n{screen}"))
    });
    // Into the health point's measured window (warm-up 1 s in the quick profile).
    std::thread::sleep(Duration::from_millis(1500));
    term.drain();
    assert!(!server_procs().is_empty(), "the server should be running now");
    let signalled = Instant::now();
    term.end(how);
    let mut last_server_seen = signalled;
    let (status, exited) = loop {
        term.drain();
        if !server_procs().is_empty() {
            last_server_seen = Instant::now();
        }
        if let Some(s) = term.exit_status() {
            break (s, Instant::now());
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(40),
            "no exit within 40 s of {how:?}; the terminal shows:\n{}",
            String::from_utf8_lossy(&term.screen)
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let screen = String::from_utf8_lossy(&term.screen).into_owned();
    let log = std::fs::read_to_string(ws.root.join("tee.log")).unwrap_or_default();
    let context = format!(
        "{how:?}, {launch:?}: exit {status} {:?} after the signal, {:?} after the server's tree was last seen\n\
         terminal:\n{screen}\ntee.log:\n{log}",
        exited - signalled,
        exited.saturating_duration_since(last_server_seen)
    );
    eprintln!(
        "{how:?}, {launch:?}: exit {status} {:?} after the signal, {:?} after the server's tree was last seen",
        exited - signalled,
        exited.saturating_duration_since(last_server_seen)
    );
    assert_eq!(status, "130", "{context}");
    assert!(exited - signalled <= grace + Duration::from_secs(2), "later than the stop grace plus 2 s: {context}");
    assert!(
        exited.saturating_duration_since(last_server_seen) <= Duration::from_secs(1),
        "more than 1 s after the server's tree was gone: {context}"
    );
    assert!(server_procs().is_empty(), "{context}");
    assert!(!log.contains("panicked"), "{context}");
    let r = results(&out);
    let t = target(&r, "slow");
    assert_eq!(t["status"], "interrupted", "{context}\n{t}");
    assert_eq!(t["interrupted"]["point"], "health closed c=64", "{context}\n{t}");
    assert!(t["interrupted"]["repeat"].as_u64().is_some(), "{t}");
    assert_eq!(t["interrupted"]["during"], "measuring", "{t}");
    assert_eq!(t["interrupted"]["recorded_by"], "harness", "the main thread stopped at its safe point: {t}");
    assert!(t["interrupted"]["at"].is_string(), "{t}");
    assert!(r["interrupted"]["at"].is_string(), "the run is marked interrupted: {r}");
    assert!(r["finished_at"].is_null(), "{r}");
    drop(term);
    ws.assert_no_survivors();
}

#[test]
fn ctrl_c_in_a_terminal_under_tee_stops_the_release_harness_within_bounds() {
    interrupt_in_a_terminal(Ending::CtrlC, Launch::Release);
}

#[test]
fn ctrl_c_in_a_terminal_under_tee_stops_the_debug_rerun_within_bounds() {
    interrupt_in_a_terminal(Ending::CtrlC, Launch::DebugRerun);
}

#[test]
fn a_closed_terminal_stops_the_release_harness_within_bounds() {
    interrupt_in_a_terminal(Ending::Hangup, Launch::Release);
}

#[test]
fn a_closed_terminal_stops_the_debug_rerun_within_bounds() {
    interrupt_in_a_terminal(Ending::Hangup, Launch::DebugRerun);
}

/// A signal while the main thread is in a step that does not stop at once (here the hostile
/// checks: slowloris holds its connections for 10 s): the watchdog takes over one second
/// later, records the interruption in the last results saved, stops the server tree and
/// exits 130, within the stop grace plus 2 s.
#[test]
fn a_signal_in_a_step_that_cannot_stop_is_recorded_and_ended_by_the_watchdog() {
    let _exclusive = common::exclusive();
    let ws = Workspace::new("watchdog");
    detached_server(&ws);
    let out = ws.root.join("out");
    let mut child = ws
        .harness(QUICK)
        .args(["--framework", "slow", "--workload", "health", "--hostile", "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_verified(&out, || child.try_wait().unwrap().map(|s| s.to_string()));
    // Into the slowloris check (the hostile corpus before it takes about a second).
    std::thread::sleep(Duration::from_secs(3));
    let signalled = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    eprintln!("watchdog: exit {:?} {took:?} after SIGTERM", status.code());
    assert_eq!(status.code(), Some(130), "{stderr}");
    // Grace 1 s (--stop-timeout), plus 2 s.
    assert!(took <= Duration::from_secs(3), "{took:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let r = results(&out);
    let t = target(&r, "slow");
    assert_eq!(t["status"], "interrupted", "{t}");
    assert_eq!(t["interrupted"]["during"], "robustness", "{t}");
    assert_eq!(t["interrupted"]["recorded_by"], "watchdog", "{t}");
    assert_eq!(r["interrupted"], t["interrupted"], "{r}");
    ws.assert_no_survivors();
}

/// A second Ctrl-C does not wait for the stop grace: the servers are killed and the harness
/// exits at once, and the interruption is on record either way.
#[test]
fn a_second_signal_kills_the_servers_and_exits_at_once() {
    let _exclusive = common::exclusive();
    let ws = Workspace::new("twice");
    detached_server(&ws);
    let out = ws.root.join("out");
    // The shell ignores SIGTERM, so an orderly stop would take the whole 3 s grace.
    let mut args: Vec<&str> = QUICK.to_vec();
    let grace = args.iter().position(|a| *a == "--stop-timeout").unwrap() + 1;
    args[grace] = "3";
    let mut child = ws
        .harness(&args)
        .args(["--framework", "slow", "--workload", "health"])
        .args(["--duration", "30", "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_verified(&out, || child.try_wait().unwrap().map(|s| s.to_string()));
    // Past the verification instance's stop (the whole 3 s grace) into the health point.
    std::thread::sleep(Duration::from_millis(5000));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(second.elapsed() < Duration::from_secs(10), "no exit within 10 s of the second SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = second.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    eprintln!("second signal: exit {:?} {took:?} after it", status.code());
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_secs(1), "the second signal waited {took:?} (the grace is 3 s): {stderr}");
    let r = results(&out);
    let t = target(&r, "slow");
    assert_eq!(t["status"], "interrupted", "{t}");
    assert_eq!(t["interrupted"]["point"], "health closed c=64", "{t}");
    // The first signal's record, written before its orderly stop began, is the one kept.
    assert_eq!(t["interrupted"]["recorded_by"], "harness", "{t}");
    ws.assert_no_survivors();
}

/// A run interrupted mid-point and resumed (`harness run --resume`) ends with every
/// planned point exactly once, each with every planned round exactly once, and a
/// results.json that matches the schema; the resume is recorded, and a second resume of a
/// finished run is refused.
#[test]
fn an_interrupted_run_resumed_holds_every_planned_step_once() {
    let _exclusive = common::exclusive();
    let ws = Workspace::new("resume");
    let fw = fw_hyper();
    for name in ["a", "b"] {
        ws.target(name, &format!("{} --port {{port}} --workers {{workers}} --upstream {{upstream}}", fw.display()));
    }
    let out = ws.root.join("out");
    let o = out.to_str().unwrap();
    let args = [
        "run",
        "--profile",
        "quick",
        "--repeats",
        "3",
        "--duration",
        "0.4",
        "--no-build",
        "--allow-debug-build",
        "--server-cpus",
        "0",
        "--client-cpus",
        "1",
        "--framework",
        "a,b",
        "--workload",
        "health,predict",
        "--out",
        o,
    ];
    let mut child = ws.harness(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Interrupt once a few rounds are in the journal: a point is then cut mid-way.
    let deadline = Instant::now() + Duration::from_secs(60);
    let rounds = || std::fs::read_to_string(out.join("rounds.jsonl")).map_or(0, |t| t.lines().count());
    while rounds() < 3 {
        assert!(child.try_wait().unwrap().is_none(), "the harness ended before it was interrupted");
        assert!(Instant::now() < deadline, "no rounds recorded within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let cut = results(&out);
    assert!(cut["interrupted"].is_object(), "{cut}");
    let before: usize = cut["targets"].as_array().unwrap().iter().map(|t| t["points"].as_array().unwrap().len()).sum();
    assert!(before < 8, "the interrupt came before the run ended: {before} points");

    // As if the run had been started on another machine: refused, saying what differs...
    let mut moved = cut.clone();
    moved["invocation"]["machine"]["hostname"] = "elsewhere".into();
    std::fs::write(out.join("results.json"), serde_json::to_vec(&moved).unwrap()).unwrap();
    one_line_exit_2(
        ws.harness(&["run", "--resume", o, "--allow-debug-build"]).output().unwrap(),
        "hostname: elsewhere",
    );
    assert_eq!(results(&out), moved, "a refused resume changes nothing");
    // ... and resumed with --force, which records the difference.
    let resumed = ws.harness(&["run", "--resume", o, "--force", "--allow-debug-build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    let r = results(&out);
    assert!(r["interrupted"].is_null() && r["finished_at"].is_string(), "{r}");
    assert_eq!(r["resumes"].as_array().unwrap().len(), 1, "{r}");
    assert!(r["resumes"][0]["after"].is_object(), "the resume records what it resumed from");
    let forced = r["resumes"][0]["forced_differences"].as_array().unwrap();
    assert!(forced.len() == 1 && forced[0].as_str().unwrap().starts_with("hostname: elsewhere then"), "{forced:?}");
    let planned = ["health closed 64", "predict closed 64", "predict open 256 0.5 x max", "predict open 256 absolute"];
    for name in ["a", "b"] {
        let t = target(&r, name);
        assert_eq!(t["status"], "measured", "{t}");
        let points: Vec<String> = t["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let basis = p["rate_basis"].as_str().map(|b| b.split(" (").next().unwrap().to_owned());
                let mut s =
                    format!("{} {} {}", p["workload"].as_str().unwrap(), p["mode"].as_str().unwrap(), p["connections"]);
                if let Some(b) = basis {
                    s = format!("{s} {b}");
                }
                s
            })
            .collect();
        assert_eq!(points, planned, "{name}: every planned point once, in plan order");
        for p in t["points"].as_array().unwrap() {
            let rounds: Vec<u64> =
                p["repeats"].as_array().unwrap().iter().map(|x| x["round"].as_u64().unwrap()).collect();
            assert_eq!(rounds, [1, 2, 3], "{name} {}: every round once", p["workload"]);
        }
    }
    // Every round of every point ran both targets.
    for round in r["order"]["rounds"].as_array().unwrap() {
        let mut t: Vec<&str> = round["targets"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        t.sort_unstable();
        assert_eq!(t, ["a", "b"], "{round}");
    }
    let schema: Value =
        serde_json::from_slice(&std::fs::read(common::workspace().join("docs/results.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&r).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json does not match the schema:\n{}", errors.join("\n"));
    // A finished run has nothing to resume.
    one_line_exit_2(ws.harness(&["run", "--resume", o, "--allow-debug-build"]).output().unwrap(), "nothing to resume");
    ws.assert_no_survivors();
}
