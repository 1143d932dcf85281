//! The `mock-llm` process as launchers see it: one `listening on` line, traffic, a clean
//! exit on SIGTERM, and `mock-llm: …` on failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mock-llm");

#[test]
fn announces_serves_and_exits_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--itl-ms", "2.5", "--fault", "cut:1", "--fault-every", "3", "--usage", "always"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("announced {line:?}"));
    assert!(addr.starts_with("127.0.0.1:"));

    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("{\"status\":\"ok\"}"), "{reply}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn bind_failure_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(&format!("mock-llm: cannot bind 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn bad_flags_are_refused() {
    for args in [["--fault", "cut"], ["--usage", "sometimes"], ["--itl-ms", "-1"], ["--two-token-every", "0"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
    }
}
