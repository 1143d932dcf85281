//! `harness`: see `harness --help` and the README.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match harness::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap prints them; a bad command line is one line.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad command line").trim_start_matches("error: ");
            harness::errln!("harness: error: {first} (see `harness --help`)");
            return ExitCode::from(2);
        }
    };
    match harness::main(cli) {
        Ok(code) => code,
        Err(e) => {
            // Bad input (command line values, manifests) is one line and exit code 2.
            let bad_input = e.downcast_ref::<harness::cli::BadInput>().is_some();
            let text = format!("{e:#}");
            let text = if bad_input { text.split_whitespace().collect::<Vec<_>>().join(" ") } else { text };
            harness::errln!("harness: error: {text}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
