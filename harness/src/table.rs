//! The compact terminal summary printed at the end of a run, flags visible.

use crate::results::{Latency, Results};

pub fn render(r: &Results) -> String {
    let mut out = format!(
        "{:<12} {:<8} {:<6} {:>6} {:>9} {:>11} {:>17} {:>8} {:>9} {:>9} {:>9} {:>8}  flags\n",
        "target",
        "workload",
        "mode",
        "conns",
        "rate",
        "req/s",
        "[min–max]",
        "n",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "cpu µs/r"
    );
    for t in &r.targets {
        if t.status != crate::results::TargetStatus::Measured {
            out.push_str(&format!("{:<12} {}: {}\n", t.name, t.status, t.skip_reason.as_deref().unwrap_or("")));
            // A target that failed mid-run keeps the points it completed.
            if t.points.is_empty() {
                continue;
            }
        }
        for p in &t.points {
            let s = &p.summary;
            out.push_str(&format!(
                "{:<12} {:<8} {:<6} {:>6} {:>9} {:>11.0} {:>17} {:>8} {:>9} {:>9} {:>9} {:>8}  {}\n",
                t.name,
                p.workload,
                p.mode,
                p.connections,
                p.rate_rps.map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into()),
                s.throughput_rps.median,
                format!("[{:.0}–{:.0}]", s.throughput_rps.min, s.throughput_rps.max),
                s.latency_us.show_n(),
                Latency::show(Some(s.latency_us.p50)),
                Latency::show(s.latency_us.p99),
                Latency::show(s.latency_us.p999),
                s.cpu_us_per_request.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
                s.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
            ));
            if let Some(st) = &s.streaming {
                out.push_str(&format!(
                    "{:<12}   ↳ streams: TTFT p50 {} µs p99 {} µs (n {}), ITL p50 {} µs p99 {} µs (n {}, delay {} ms), TPOT p50 {} µs, {:.0} tokens/s, {:.1}% correct\n",
                    "",
                    st.ttft_us.p50,
                    Latency::show(st.ttft_us.p99),
                    st.ttft_us.show_n(),
                    st.itl_us.p50,
                    Latency::show(st.itl_us.p99),
                    st.itl_us.show_n(),
                    st.token_delay_ms,
                    st.tpot_us.p50,
                    st.tokens_per_s,
                    100.0 * st.streams_correct_share
                ));
            }
            out.push_str(&detail_line(s));
        }
        if let Some(m) = &t.memory {
            let kib = |f: &Option<crate::results::Fit>| {
                f.as_ref().map(|f| format!("{:.1} KiB (r² {:.2})", f.slope_bytes / 1024.0, f.r2)).unwrap_or("-".into())
            };
            out.push_str(&format!(
                "{:<12}   ↳ memory: {} per open stream, {} per in-flight request\n",
                "",
                kib(&m.bytes_per_open_stream),
                kib(&m.bytes_per_inflight_request)
            ));
        }
    }
    out
}

/// The extra line under an infer-io, infer-cpu or mixed point.
fn detail_line(s: &crate::results::PointSummary) -> String {
    let pad = "";
    if let Some(f) = &s.inflight {
        return format!(
            "{pad:<12}   ↳ in flight: efficiency {:.1}% of {:.0} req/s ideal, overhead p50 {:.0} µs p99 {} µs (latency {} ms)\n",
            f.efficiency_pct,
            f.ideal_rps,
            f.overhead_us.p50,
            f.overhead_us.p99.map_or("–".into(), |v| format!("{v:.0}")),
            f.latency_ms
        );
    }
    if let Some(p) = &s.probe {
        return format!(
            "{pad:<12}   ↳ /health probe at {:.0}/s: p50 {} µs p99 {} µs under load (n {}), idle p50 {} µs p99 {} µs (n {}) (work {})\n",
            p.rate_rps,
            p.loaded_us.p50,
            Latency::show(p.loaded_us.p99),
            p.loaded_us.show_n(),
            p.idle_us.p50,
            Latency::show(p.idle_us.p99),
            p.idle_us.show_n(),
            p.work
        );
    }
    if let Some(m) = &s.mixed {
        let ttft = m.transactions.iter().find(|t| t.name == "SSE generate TTFT");
        return format!(
            "{pad:<12}   ↳ goose {} users: {} transactions, TTFT p50 {} µs p99 {} µs, goose client {} CPU-µs/request\n",
            m.users,
            m.transactions.iter().filter(|t| !t.name.starts_with("SSE ")).map(|t| t.requests).sum::<u64>(),
            ttft.map_or("-".into(), |t| t.latency_us.p50.to_string()),
            ttft.map_or("-".into(), |t| Latency::show(t.latency_us.p99)),
            m.client_cpu_us_per_request.map_or("-".into(), |c| format!("{c:.0}"))
        );
    }
    String::new()
}
