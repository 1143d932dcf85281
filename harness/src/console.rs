//! Writing to the terminal without dying of it. Under `harness … | tee run.log`, Ctrl-C kills
//! `tee` too, and a closed terminal turns every write into EIO: `println!` would then panic
//! (SIGPIPE stays ignored, as Rust sets it, so a write fails instead of killing the process
//! before it has stopped its servers). What the harness prints is progress for people;
//! `results.json` is the record. So every line on the run's path goes through these macros,
//! which drop a failed write (EPIPE, EIO, anything) and carry on.

use std::io::Write;

/// `println!` that never panics: a line to stdout, dropped when stdout is gone.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics: a line to stderr, dropped when stderr is gone.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub fn out(args: std::fmt::Arguments) {
    let mut s = std::io::stdout().lock();
    let _ = s.write_fmt(args).and_then(|()| s.flush());
}

pub fn err(args: std::fmt::Arguments) {
    let _ = std::io::stderr().lock().write_fmt(args);
}
