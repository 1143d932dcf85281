//! `harness report <run-dir>`: turns a run's `results.json` into what people read: charts
//! (SVG and PNG), a self-contained `index.html`, a GitHub-flavoured `report.md` and a
//! `results.csv`. It reads the results file only and never runs anything, so a report can be
//! regenerated from any results.json, on any machine.
//!
//! Layers: [`view`] (shared read-only helpers) → [`charts`] and [`tables`] (what to show, as
//! data) → [`figure`] (drawing with plotters), [`html`], [`markdown`], [`csv_file`] (how).

pub mod charts;
pub mod csv_file;
pub mod figure;
pub mod html;
pub mod markdown;
mod raster;
pub mod robustness_table;
pub mod tables;
pub mod view;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::Results;

pub use crate::results::{LoadError, load};

/// What `generate` wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub index: PathBuf,
    pub files: Vec<PathBuf>,
    /// Charts with no data in this run (no files written for them).
    pub charts_not_measured: Vec<String>,
}

/// Writes every report file into `run_dir` from its `results.json`.
pub fn generate(run_dir: &Path) -> anyhow::Result<Written> {
    let (results, _raw) = load(run_dir)?;
    let dir =
        if run_dir.is_dir() { run_dir.to_path_buf() } else { run_dir.parent().unwrap_or(Path::new(".")).to_path_buf() };
    write_all(&results, &dir)
}

/// Writes every report file for `results` into `dir`.
pub fn write_all(results: &Results, dir: &Path) -> anyhow::Result<Written> {
    let mut files = Vec::new();
    let mut not_measured = Vec::new();
    let mut rendered = Vec::new();
    // A run without points (`verify --hostile`) has no charts to show, not eight empty ones.
    let charts = if view::measured_nothing(results) { Vec::new() } else { charts::all(results) };
    for chart in charts {
        if !chart.figure.has_data() {
            not_measured.push(chart.figure.name.clone());
            // A run of an OpenAI server alone (`--api openai`) measures no contract workload:
            // the contract's charts are not listed as missing from it.
            if view::measured_contract(results) {
                rendered.push((chart, None));
            }
            continue;
        }
        let svg = chart.figure.to_svg()?;
        let svg_path = dir.join(format!("{}.svg", chart.figure.name));
        write(&svg_path, svg.as_bytes())?;
        let png_path = dir.join(format!("{}.png", chart.figure.name));
        chart.figure.write_png(&png_path)?;
        files.extend([svg_path, png_path]);
        rendered.push((chart, Some(svg)));
    }
    let tables = tables::all(results);
    let docs = docs_link(dir);
    let index = dir.join("index.html");
    write(&index, html::render(results, &tables, &rendered, docs.as_deref()).as_bytes())?;
    let md = dir.join("report.md");
    write(&md, markdown::render(results, &tables, &rendered, docs.as_deref()).as_bytes())?;
    let csv = dir.join("results.csv");
    write(&csv, csv_file::render(results)?.as_bytes())?;
    files.extend([index.clone(), md, csv]);
    Ok(Written { index, files, charts_not_measured: not_measured })
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The repository's `docs/` relative to the run dir, when the run dir sits inside a checkout
/// (results/<run>/ → `../../docs/`); `None` elsewhere, and the reports name the files instead.
fn docs_link(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let (depth, _) = dir
        .ancestors()
        .enumerate()
        .find(|(_, a)| a.join("docs/metrics.md").is_file() && a.join("docs/methodology.md").is_file())?;
    Some(format!("{}docs/", "../".repeat(depth)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_link_is_relative_inside_a_checkout() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example-quick");
        assert_eq!(docs_link(&root).as_deref(), Some("../../docs/"));
        assert_eq!(docs_link(&std::env::temp_dir()), None);
    }

    #[test]
    fn schema_mismatch_is_reported_as_such() {
        let dir = std::env::temp_dir().join(format!("report-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("results.json"), r#"{"schema_version": 99}"#).unwrap();
        let e = load(&dir).unwrap_err();
        assert!(matches!(e, LoadError::Schema { .. }), "{e}");
        assert!(e.to_string().contains("schema_version 99"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
