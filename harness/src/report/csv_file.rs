//! `results.csv`: one row per target × point with the headline columns, for pandas and
//! spreadsheets. Empty cells are figures the point does not have. Units are in the column
//! names; definitions in docs/metrics.md.

use serde::Serialize;

use super::view::PointKey;
use crate::results::Results;

#[derive(Debug, Serialize)]
struct Row<'a> {
    target: &'a str,
    language: &'a str,
    framework_version: &'a str,
    workload: &'a str,
    mode: &'a str,
    connections: usize,
    rate_rps: Option<f64>,
    rate_basis: Option<&'a str>,
    point: String,
    repeats: usize,
    throughput_rps_median: f64,
    throughput_rps_min: f64,
    throughput_rps_max: f64,
    throughput_rps_ci95_low: f64,
    throughput_rps_ci95_high: f64,
    throughput_cv: f64,
    /// Samples behind the latency percentiles; a percentile is empty where they are too few
    /// (docs/metrics.md, "Percentiles and samples").
    latency_n: Option<u64>,
    latency_p50_us: u64,
    latency_p90_us: Option<u64>,
    latency_p99_us: Option<u64>,
    latency_p999_us: Option<u64>,
    latency_max_us: u64,
    cpu_us_per_request: Option<f64>,
    rss_peak_bytes: Option<u64>,
    rss_mean_bytes: Option<u64>,
    client_cpu_share: f64,
    errors: u64,
    dropped: u64,
    /// Flags separated by `;`.
    flags: String,
    ttft_p50_us: Option<u64>,
    ttft_p99_us: Option<u64>,
    /// ITL p50 − token delay.
    itl_bias_us: Option<f64>,
    /// ITL p99 − ITL p50 (before 2026-12-02: ITL p99 − token delay).
    itl_jitter_p99_us: Option<f64>,
    tokens_per_s: Option<f64>,
    inflight_efficiency_pct: Option<f64>,
    probe_idle_p99_us: Option<u64>,
    probe_loaded_p99_us: Option<u64>,
}

pub fn render(r: &Results) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in &r.targets {
        for p in &t.points {
            let s = &p.summary;
            let st = s.streaming.as_ref();
            w.serialize(Row {
                target: &t.name,
                language: &t.language,
                framework_version: &t.framework_version,
                workload: p.workload.name(),
                mode: p.mode.name(),
                connections: p.connections,
                rate_rps: p.rate_rps,
                rate_basis: p.rate_basis.as_deref(),
                point: PointKey::of(p).setting(),
                repeats: p.repeats.len(),
                throughput_rps_median: s.throughput_rps.median,
                throughput_rps_min: s.throughput_rps.min,
                throughput_rps_max: s.throughput_rps.max,
                throughput_rps_ci95_low: s.throughput_rps.ci95_low,
                throughput_rps_ci95_high: s.throughput_rps.ci95_high,
                throughput_cv: s.throughput_rps.cv,
                latency_n: s.latency_us.n,
                latency_p50_us: s.latency_us.p50,
                latency_p90_us: s.latency_us.p90,
                latency_p99_us: s.latency_us.p99,
                latency_p999_us: s.latency_us.p999,
                latency_max_us: s.latency_us.max,
                cpu_us_per_request: s.cpu_us_per_request,
                rss_peak_bytes: s.rss_peak_bytes,
                rss_mean_bytes: s.rss_mean_bytes,
                client_cpu_share: s.client_cpu_share,
                errors: s.errors,
                dropped: s.dropped,
                flags: s.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(";"),
                ttft_p50_us: st.map(|x| x.ttft_us.p50),
                ttft_p99_us: st.and_then(|x| x.ttft_us.p99),
                itl_bias_us: st.and_then(|x| super::view::itl_bias_and_spread(&x.itl_us, x.token_delay_ms)[0]),
                itl_jitter_p99_us: st.and_then(|x| super::view::itl_bias_and_spread(&x.itl_us, x.token_delay_ms)[1]),
                tokens_per_s: st.map(|x| x.tokens_per_s),
                inflight_efficiency_pct: s.inflight.as_ref().map(|i| i.efficiency_pct),
                probe_idle_p99_us: s.probe.as_ref().and_then(|x| x.idle_us.p99),
                probe_loaded_p99_us: s.probe.as_ref().and_then(|x| x.loaded_us.p99),
            })?;
        }
    }
    if r.targets.iter().all(|t| t.points.is_empty()) {
        // Keep the header so readers still see the columns.
        return Ok(HEADER.to_owned() + "\n");
    }
    Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?)?)
}

const HEADER: &str = "target,language,framework_version,workload,mode,connections,rate_rps,rate_basis,point,repeats,\
throughput_rps_median,throughput_rps_min,throughput_rps_max,throughput_rps_ci95_low,throughput_rps_ci95_high,\
throughput_cv,latency_n,latency_p50_us,latency_p90_us,latency_p99_us,latency_p999_us,latency_max_us,cpu_us_per_request,\
rss_peak_bytes,rss_mean_bytes,client_cpu_share,errors,dropped,flags,ttft_p50_us,ttft_p99_us,itl_bias_us,itl_jitter_p99_us,\
tokens_per_s,inflight_efficiency_pct,probe_idle_p99_us,probe_loaded_p99_us";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constant_matches_the_row_type() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/example-quick/results.json");
        let r: Results = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let out = render(&r).unwrap();
        assert_eq!(out.lines().next().unwrap(), HEADER);
        let points: usize = r.targets.iter().map(|t| t.points.len()).sum();
        assert_eq!(out.lines().count(), points + 1);
    }
}
