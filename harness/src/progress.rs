//! Progress during a run: an indicatif bar over the targets with the current target, point
//! and its last req/s and errors when stderr is a terminal; plain log lines otherwise (CI,
//! pipes), so logs stay readable and greppable.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Progress {
    /// `enabled` false prints nothing; bars only when stderr is a terminal.
    pub fn new(enabled: bool, targets: usize) -> Self {
        Self::with_terminal(enabled, targets, std::io::stderr().is_terminal())
    }

    fn with_terminal(enabled: bool, targets: usize, terminal: bool) -> Self {
        let bar = (enabled && terminal).then(|| {
            let b = ProgressBar::new(targets as u64);
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:24}] {pos}/{len} targets  {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            b
        });
        Progress { bar, enabled }
    }

    /// A log line: above the bar on a terminal, plain on stderr otherwise.
    pub fn line(&self, text: &str) {
        match (&self.bar, self.enabled) {
            (Some(b), _) => b.println(text),
            (None, true) => crate::errln!("{text}"),
            (None, false) => {}
        }
    }

    /// The current target and point, with the last figures seen.
    pub fn point(&self, target: &str, point: &str, rps: f64, errors: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{target}: {point}: {rps:.0} req/s, {errors} errors"));
        }
    }

    pub fn target_done(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_without_a_terminal() {
        let p = Progress::with_terminal(true, 4, false);
        assert!(!p.is_bar());
        p.line("axum: verified");
        p.point("axum", "health closed c=64", 1.0, 0);
        p.target_done();
        p.finish();
    }

    #[test]
    fn a_bar_on_a_terminal_and_nothing_when_disabled() {
        let p = Progress::with_terminal(true, 2, true);
        assert!(p.is_bar());
        p.point("axum", "predict open 2000 req/s", 1984.0, 0);
        p.target_done();
        p.finish();
        assert!(!Progress::with_terminal(false, 2, true).is_bar());
    }
}
