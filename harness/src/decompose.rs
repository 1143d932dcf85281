//! `harness decompose`: reads criterion's `estimates.json` files (from `cargo bench -p
//! benches`) and splits each framework's in-process cost of a predict request into the shared
//! work (decode + validate + model + encode, benched alone in `components`) and the
//! framework's own overhead (the rest: routing, extraction, response building).

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Estimates {
    mean: Estimate,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Debug, Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// A mean time in ns with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ns {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Ns {
    /// Half the width of the interval, the larger side.
    fn half(&self) -> f64 {
        (self.high - self.mean).max(self.mean - self.low)
    }

    fn show(&self) -> String {
        format!("{:.2} µs [{:.2}, {:.2}]", self.mean / 1e3, self.low / 1e3, self.high / 1e3)
    }
}

/// Reads `<criterion>/<group>/<bench>/new/estimates.json`.
pub fn read(criterion: &Path, group: &str, bench: &str) -> Option<Ns> {
    let path = criterion.join(group).join(bench).join("new/estimates.json");
    let e: Estimates = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(Ns {
        mean: e.mean.point_estimate,
        low: e.mean.confidence_interval.lower_bound,
        high: e.mean.confidence_interval.upper_bound,
    })
}

/// The frameworks criterion measured: its group directories with a `predict-*` bench (the
/// shared components' group is `components`), by name. No list to keep in step with the
/// manifests.
pub fn frameworks(criterion: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(criterion)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != "components")
                .filter(|e| {
                    std::fs::read_dir(e.path()).is_ok_and(|mut benches| {
                        benches.any(|b| b.is_ok_and(|b| b.file_name().to_string_lossy().starts_with("predict-")))
                    })
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
pub const ROWS: [usize; 3] = [1, 16, 128];

/// The table as Markdown. Overhead = total − (decode + validate + model + encode); its
/// interval combines the parts' half-widths as independent errors (root sum of squares),
/// an approximation stated under the table.
pub fn table(criterion: &Path) -> anyhow::Result<String> {
    let mut out = String::from(
        "| framework | rows | total | decode | validate | model | encode | framework overhead | overhead share |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let mut found = 0;
    for rows in ROWS {
        let parts: Option<Vec<Ns>> = ["decode", "validate", "model", "encode"]
            .iter()
            .map(|p| read(criterion, "components", &format!("{p}-{rows}")))
            .collect();
        let Some(parts) = parts else { continue };
        for fw in frameworks(criterion) {
            let Some(total) = read(criterion, &fw, &format!("predict-{rows}")) else { continue };
            found += 1;
            let shared: f64 = parts.iter().map(|p| p.mean).sum();
            let half = (total.half().powi(2) + parts.iter().map(|p| p.half().powi(2)).sum::<f64>()).sqrt();
            let overhead = total.mean - shared;
            out.push_str(&format!(
                "| {fw} | {rows} | {} | {} | {} | {} | {} | {:.2} µs ± {:.2} | {:.0}% |\n",
                total.show(),
                parts[0].show(),
                parts[1].show(),
                parts[2].show(),
                parts[3].show(),
                overhead / 1e3,
                half / 1e3,
                100.0 * overhead / total.mean
            ));
        }
    }
    anyhow::ensure!(
        found > 0,
        "no criterion results under {}: run `cargo bench -p benches` first",
        criterion.display()
    );
    out.push_str(
        "\nMeans of criterion's estimates with their 95% confidence intervals. The overhead's ± \
         combines the intervals of the total and the four parts as independent errors.\n",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, group: &str, bench: &str, mean: f64) {
        let d = dir.join(group).join(bench).join("new");
        std::fs::create_dir_all(&d).unwrap();
        let json = format!(
            r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{},"upper_bound":{}}},"point_estimate":{mean},"standard_error":1.0}}}}"#,
            mean - 10.0,
            mean + 10.0
        );
        std::fs::write(d.join("estimates.json"), json).unwrap();
    }

    #[test]
    fn overhead_is_total_minus_shared_parts() {
        let dir = std::env::temp_dir().join(format!("decompose-{}", std::process::id()));
        for (p, ns) in [("decode", 1000.0), ("validate", 500.0), ("model", 300.0), ("encode", 200.0)] {
            write(&dir, "components", &format!("{p}-1"), ns);
        }
        write(&dir, "axum", "predict-1", 3000.0);
        // A framework added to the benches shows up without a list to edit; other groups do not.
        write(&dir, "newfw", "predict-1", 2500.0);
        write(&dir, "driver", "open-loop-schedule", 10.0);
        assert_eq!(frameworks(&dir), ["axum", "newfw"]);
        let t = table(&dir).unwrap();
        assert!(t.contains("| newfw | 1 | 2.50 µs"), "{t}");
        assert!(t.contains("| axum | 1 | 3.00 µs"), "{t}");
        assert!(t.contains("| 1.00 µs ± 0.02 | 33% |"), "{t}");
    }

    #[test]
    fn says_what_to_do_without_results() {
        let err = table(Path::new("/nonexistent")).unwrap_err().to_string();
        assert!(err.contains("cargo bench -p benches"));
    }
}
