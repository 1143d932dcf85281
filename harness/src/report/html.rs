//! `index.html`: one self-contained page (inline CSS, inline SVG, no scripts, no fetches) that
//! opens from a file, an artefact download or a repository checkout alike.

use std::fmt::Write;

use super::charts::Chart;
use super::tables::{self, Cell, Table};
use super::view::{self, NOT_MEASURED};
use crate::results::{Flag, Results};

const CSS: &str = "
body{font-family:'DejaVu Sans',system-ui,sans-serif;margin:0 auto;max-width:1280px;padding:16px 24px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}
.meta{color:#555}.note{color:#444;margin:.3em 0 .6em}
nav a{margin-right:1em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}
th,td{border:1px solid #d6d6d6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f4f7}
tbody tr:nth-child(even){background:#fafafa}
td.na{color:#888;font-style:italic}
.flag{display:inline-block;font-size:11px;padding:0 5px;margin-left:4px;border-radius:3px;color:#fff;background:#777;white-space:nowrap}
.f-noisy{background:#c77c00}.f-client_bound{background:#7a4fa0}.f-errors,.f-dropped,.f-verification_failed,.f-skipped{background:#c0392b}
.f-single_run{background:#888}
figure{margin:1.2em 0 2em}figcaption{margin:.2em 0 .5em;color:#333}
figure h3{margin:.2em 0}
svg.chart{width:100%;height:auto;max-width:1200px;border:1px solid #eee}
.missing{color:#777;font-style:italic}
.warn{background:#fff4e0;border-left:4px solid #c77c00;padding:6px 10px}
dl.flags dt{font-weight:bold;display:inline}dl.flags dd{display:inline;margin:0 1em 0 .3em}
";

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn flag(f: Flag) -> String {
    format!("<span class=\"flag f-{0}\" title=\"{1}\">{0}</span>", esc(f.name()), esc(&f.meaning()))
}

fn cell(c: &Cell) -> String {
    if c.missing {
        return format!("<td class=\"na\" title=\"{NOT_MEASURED}\">{}</td>", esc(&c.text));
    }
    let flags: String = c.flags.iter().map(|&f| flag(f)).collect();
    match &c.link {
        Some(href) => format!("<td><a href=\"{}\">{}</a>{flags}</td>", esc(href), esc(&c.text)),
        None => format!("<td>{}{flags}</td>", esc(&c.text)),
    }
}

fn table(t: &Table) -> String {
    let mut s = format!(
        "<section id=\"{}\"><h2>{}</h2><p class=\"note\">{}</p><div class=\"scroll\"><table><thead><tr>",
        t.id,
        esc(&t.title),
        esc(&t.note)
    );
    for h in &t.headers {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        s.push_str("<tr>");
        for c in row {
            s.push_str(&cell(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

/// Makes plotters' SVG embeddable: drops the fixed size and the namespace attribute (implied
/// for `<svg>` inside HTML), keeps the viewBox so it scales to the page.
pub fn inline_svg(svg: &str, size: (u32, u32), label: &str) -> String {
    let body = svg.find('>').map_or(svg, |end| &svg[end + 1..]);
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">{}",
        size.0,
        size.1,
        esc(label),
        body
    )
}

/// The whole page. `svgs` are the charts' SVG documents (None where the chart has no data);
/// `docs` is the relative path from the run dir to the repository's `docs/`, when known.
pub fn render(r: &Results, tables: &[Table], charts: &[(Chart, Option<String>)], docs: Option<&str>) -> String {
    let mut h = String::new();
    let title = format!("mlapi-bench run {}{}", r.run_id, if r.interrupted.is_some() { " (interrupted)" } else { "" });
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    if let Some(line) = super::view::interrupted_line(r) {
        let _ = write!(h, "<p class=\"warn\" id=\"interrupted\"><b>{}</b></p>", esc(&line));
    }
    let profile = r.profile.get("name").and_then(|v| v.as_str()).unwrap_or("?");
    let _ = write!(
        h,
        "<header><h1>{}</h1><p class=\"meta\">profile <b>{}</b> · started {} · {}</p></header>",
        esc(&title),
        esc(profile),
        esc(&r.started_at),
        match &r.finished_at {
            Some(f) => format!("finished {}", esc(f)),
            None => "<b>not finished</b> (interrupted or still running: only completed points are shown)".into(),
        }
    );
    h.push_str(&nav(tables, !charts.is_empty()));
    h.push_str(&warnings(r));

    let (first, rest) = tables.split_first().expect("the summary table is always present");
    h.push_str(&table(first));
    h.push_str(&flag_legend(tables));
    h.push_str("</section>");

    h.push_str(&charts_section(charts));

    for t in rest {
        h.push_str(&table(t));
        h.push_str("</section>");
    }
    let absent = tables::absent(r, tables);
    if !absent.is_empty() {
        let _ = write!(h, "<p class=\"missing\">{NOT_MEASURED}: {}.</p>", esc(&absent.join(", ")));
    }
    h.push_str(&environment(r, docs));
    h.push_str("</body></html>\n");
    h
}

/// The links to the page's sections it has.
fn nav(tables: &[Table], has_charts: bool) -> String {
    let mut h = String::from("<nav>");
    let have = |id: &str| id == "summary" || id == "environment" || tables.iter().any(|t| t.id == id);
    for (id, name) in [
        ("summary", "Summary"),
        ("charts", "Charts"),
        ("points", "Every point"),
        ("cost", "Cost"),
        ("robustness", "Robustness"),
        ("environment", "Environment and method"),
    ] {
        if have(id) || (id == "charts" && has_charts) {
            let _ = write!(h, "<a href=\"#{id}\">{name}</a>");
        }
    }
    h.push_str("</nav>");
    h
}

/// The run's warnings, in a box; nothing when it has none.
fn warnings(r: &Results) -> String {
    let mut h = String::new();
    if !r.environment.warnings.is_empty() {
        h.push_str("<div class=\"warn\"><b>Warnings about this run:</b><ul>");
        for w in &r.environment.warnings {
            let _ = write!(h, "<li>{}</li>", esc(w));
        }
        h.push_str("</ul></div>");
    }
    h
}

/// Every chart inline, with its caption and file names; nothing when there is none.
fn charts_section(charts: &[(Chart, Option<String>)]) -> String {
    let mut h = String::new();
    if !charts.is_empty() {
        h.push_str("<section id=\"charts\"><h2>Charts</h2>");
        h.push_str(
        "<p class=\"note\">Each chart is also in this directory as SVG and PNG. Footers name the machine and the run. \
         Throughput whiskers are 95% confidence intervals of the mean over repeats; other whiskers span the \
         repeats (min–max).</p>",
    );
        for (c, svg) in charts {
            let _ = write!(h, "<figure id=\"chart-{}\"><h3>{}</h3>", c.figure.name, esc(&c.figure.title));
            match svg {
                Some(svg) => {
                    let _ = write!(
                        h,
                        "<figcaption>{} Files: <code>{1}.svg</code>, <code>{1}.png</code>.</figcaption>{2}",
                        esc(&c.caption),
                        c.figure.name,
                        inline_svg(svg, c.figure.size(), &c.figure.title)
                    );
                }
                None => {
                    let _ = write!(h, "<p class=\"missing\">{NOT_MEASURED}.</p>");
                }
            }
            h.push_str("</figure>");
        }
        h.push_str("</section>");
    }

    h
}

fn flag_legend(tables: &[Table]) -> String {
    let mut used: Vec<Flag> = Vec::new();
    for t in tables {
        for c in t.rows.iter().flatten() {
            for f in &c.flags {
                if !used.contains(f) {
                    used.push(*f);
                }
            }
        }
    }
    if used.is_empty() {
        return "<p class=\"note\">No point of this run carries a flag.</p>".into();
    }
    let mut s = String::from("<dl class=\"flags\">");
    for f in used {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", flag(f), esc(&f.meaning()));
    }
    s.push_str("</dl>");
    s
}

fn environment(r: &Results, docs: Option<&str>) -> String {
    let e = &r.environment;
    let cpus = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
    let rows: Vec<(&str, String)> = vec![
        ("CPU", format!("{} ({} logical CPUs)", e.cpu_model, e.logical_cpus)),
        ("memory", view::fmt_bytes(e.memory_bytes as f64)),
        ("kernel", e.kernel.clone()),
        ("rustc", e.rustc.clone()),
        ("commit", format!("{}{}", e.git_commit, if e.git_dirty { " (uncommitted changes)" } else { "" })),
        ("harness build", e.harness_build.clone()),
        ("server CPUs", cpus(&e.server_cpus)),
        ("client CPUs (granted)", format!("{} ({})", cpus(&e.client_cpus), cpus(&e.client_affinity))),
        ("server workers", e.workers.to_string()),
        ("open-file limit", e.nofile_limit.to_string()),
    ];
    let mut s =
        String::from("<section id=\"environment\"><h2>Environment and method</h2><div class=\"scroll\"><table><tbody>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    if let Some(obj) = r.profile.as_object() {
        let profile: Vec<String> = obj.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = write!(s, "<tr><th>profile</th><td>{}</td></tr>", esc(&profile.join("; ")));
    }
    s.push_str("</tbody></table></div>");
    let link = |file: &str| match docs {
        Some(base) => format!("<a href=\"{}{file}\">docs/{file}</a>", esc(base)),
        None => format!("<code>docs/{file}</code> in the mlapi-bench repository"),
    };
    let _ = write!(
        s,
        "<p>Every figure is defined in {} and how it is measured (pinning, load model, profiles, fairness \
         rules) in {}. Latency percentiles come from HdrHistograms merged over repeats; open-loop latency counts \
         from each request's scheduled send time, so queueing is included. Throughput is the median over \
         repeats with the 95% confidence interval of the mean (Student's t); with one repeat no interval exists \
         and the point is flagged <code>single_run</code>. A target is measured only after it passes the whole \
         conformance corpus. This page was generated from <code>results.json</code> alone by \
         <code>harness report</code>.</p></section>",
        link("metrics.md"),
        link("methodology.md")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn inline_svg_drops_namespace_and_size() {
        let s = inline_svg(
            "<svg width=\"10\" height=\"5\" viewBox=\"0 0 10 5\" xmlns=\"http://www.w3.org/2000/svg\">\n<rect/></svg>",
            (10, 5),
            "t",
        );
        assert!(s.starts_with("<svg class=\"chart\" viewBox=\"0 0 10 5\""));
        assert!(!s.contains("http"));
        assert!(s.ends_with("<rect/></svg>"));
    }
}
