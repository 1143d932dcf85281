//! The compact terminal summary printed at the end of a run, flags visible.

use crate::results::Results;

pub fn render(r: &Results) -> String {
    let mut out = format!(
        "{:<12} {:<8} {:<6} {:>6} {:>9} {:>11} {:>17} {:>9} {:>9} {:>9} {:>8}  flags\n",
        "target", "workload", "mode", "conns", "rate", "req/s", "[min–max]", "p50 µs", "p99 µs", "p99.9 µs", "cpu µs/r"
    );
    for t in &r.targets {
        if t.status != "measured" {
            out.push_str(&format!("{:<12} {}: {}\n", t.name, t.status, t.skip_reason.as_deref().unwrap_or("")));
            // A target that failed mid-run keeps the points it completed.
            if t.points.is_empty() {
                continue;
            }
        }
        for p in &t.points {
            let s = &p.summary;
            out.push_str(&format!(
                "{:<12} {:<8} {:<6} {:>6} {:>9} {:>11.0} {:>17} {:>9} {:>9} {:>9} {:>8}  {}\n",
                t.name,
                p.workload,
                p.mode,
                p.connections,
                p.rate_rps.map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into()),
                s.throughput_rps.median,
                format!("[{:.0}–{:.0}]", s.throughput_rps.min, s.throughput_rps.max),
                s.latency_us.p50,
                s.latency_us.p99,
                s.latency_us.p999,
                s.cpu_us_per_request.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
                s.flags.join(",")
            ));
            if let Some(st) = &s.streaming {
                out.push_str(&format!(
                    "{:<12}   ↳ streams: TTFT p50 {} µs p99 {} µs, ITL p50 {} µs p99 {} µs (delay {} ms), TPOT p50 {} µs, {:.0} tokens/s, {:.1}% correct\n",
                    "",
                    st.ttft_us.p50,
                    st.ttft_us.p99,
                    st.itl_us.p50,
                    st.itl_us.p99,
                    st.token_delay_ms,
                    st.tpot_us.p50,
                    st.tokens_per_s,
                    100.0 * st.streams_correct_share
                ));
            }
        }
    }
    out
}
