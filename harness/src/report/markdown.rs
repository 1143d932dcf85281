//! `report.md`: the same tables as index.html in GitHub-flavoured Markdown, with the PNG charts
//! linked, for a CI job summary or a pull-request comment.

use std::fmt::Write;

use super::charts::Chart;
use super::tables::{self, Cell, Table};
use super::view::{self, NOT_MEASURED};
use crate::results::{Flag, Results};

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn cell(c: &Cell) -> String {
    if c.missing {
        return format!("_{}_", esc(&c.text));
    }
    let flags: Vec<String> = c.flags.iter().map(|f| format!("`⚠ {f}`")).collect();
    let text = match &c.link {
        // Spaces would end a Markdown link target; the angle-bracket form allows them.
        Some(href) if href.contains(' ') => format!("[{}](<{}>)", esc(&c.text), esc(href)),
        Some(href) => format!("[{}]({})", esc(&c.text), esc(href)),
        None => esc(&c.text),
    };
    match (c.text.is_empty(), flags.is_empty()) {
        (_, true) => text,
        (true, false) => flags.join(" "),
        (false, false) => format!("{text} {}", flags.join(" ")),
    }
}

fn table(t: &Table, out: &mut String) {
    let _ = writeln!(out, "\n## {}\n\n{}\n", t.title, t.note);
    let _ = writeln!(out, "| {} |", t.headers.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(t.headers.len()));
    for row in &t.rows {
        let _ = writeln!(out, "| {} |", row.iter().map(cell).collect::<Vec<_>>().join(" | "));
    }
}

/// `docs` is the relative path from the run dir to the repository's `docs/`, when known.
pub fn render(r: &Results, tables: &[Table], charts: &[(Chart, Option<String>)], docs: Option<&str>) -> String {
    let mut s = String::new();
    let profile = r.profile.get("name").and_then(|v| v.as_str()).unwrap_or("?");
    if let Some(line) = view::interrupted_line(r) {
        let _ = writeln!(s, "**{line}**\n");
    }
    let _ =
        writeln!(s, "# mlapi-bench run {}{}\n", r.run_id, if r.interrupted.is_some() { " (interrupted)" } else { "" });
    let _ = writeln!(
        s,
        "Profile **{profile}**, started {}, {}.\n\n{}",
        r.started_at,
        r.finished_at
            .as_deref()
            .map_or("**not finished** (only completed points are shown)".to_owned(), |f| format!("finished {f}")),
        view::environment_line(r)
    );
    for w in &r.environment.warnings {
        let _ = writeln!(s, "\n> **Warning:** {w}");
    }
    let (first, rest) = tables.split_first().expect("the summary table is always present");
    table(first, &mut s);
    let mut used: Vec<Flag> = Vec::new();
    for c in tables.iter().flat_map(|t| t.rows.iter().flatten()) {
        for f in &c.flags {
            if !used.contains(f) {
                used.push(*f);
            }
        }
    }
    if !used.is_empty() {
        s.push_str("\nFlags: ");
        let parts: Vec<String> = used.iter().map(|f| format!("`⚠ {f}`: {}", f.meaning())).collect();
        s.push_str(&parts.join("; "));
        s.push('\n');
    }
    if !charts.is_empty() {
        s.push_str(
            "\n## Charts\n\nSVG and PNG of each chart are in the run directory. Throughput whiskers are 95% \
                confidence intervals of the mean over repeats; other whiskers span the repeats (min–max).\n",
        );
        for (c, svg) in charts {
            let _ = writeln!(s, "\n### {}\n", c.figure.title);
            if svg.is_some() {
                let _ = writeln!(s, "{}\n\n![{}]({}.png)", c.caption, c.figure.title, c.figure.name);
            } else {
                let _ = writeln!(s, "_{NOT_MEASURED}._");
            }
        }
    }
    for t in rest {
        table(t, &mut s);
    }
    let absent = tables::absent(r, tables);
    if !absent.is_empty() {
        let _ = writeln!(s, "\n_{NOT_MEASURED}: {}._", absent.join(", "));
    }
    let link = |f: &str| match docs {
        Some(base) => format!("[docs/{f}]({base}{f})"),
        None => format!("`docs/{f}`"),
    };
    let _ = writeln!(
        s,
        "\n## Method\n\nEvery figure is defined in {}; how it is measured is in {}. Generated from `results.json` \
         by `harness report`.",
        link("metrics.md"),
        link("methodology.md")
    );
    s
}
