//! The robustness table: one row per target that went through the hostile corpus, slow
//! clients and disconnects, each cell flagged where it misses its bar.

use super::tables::{Cell, Table};
use crate::results::Results;

/// Every bar a target's robustness figures miss: the corpus verdict, then slow clients.
pub fn robustness_findings(rb: &crate::results::Robustness) -> Vec<String> {
    let mut why = rb.verdict();
    why.extend(rb.slow_client_findings());
    why
}

/// One row per target that went through the robustness checks (`harness verify --hostile`
/// or `run --hostile`): the corpus verdict, then the slow-client measurements beside it, each
/// cell flagged when it misses its bar (docs/metrics.md, "Robustness").
pub fn robustness(r: &Results) -> Option<Table> {
    let bad = || vec![crate::results::Flag::NotRobust];
    let cell = |text: String, ok: bool| if ok { Cell::text(text) } else { Cell::flagged(text, &bad()) };
    let rows: Vec<Vec<Cell>> = r
        .targets
        .iter()
        .filter_map(|t| Some((t, t.robustness.as_ref()?)))
        .map(|(t, rb)| {
            let slow = rb.slowloris.as_ref().map_or_else(Cell::missing, |s| {
                let max = s.health_max_ms.map_or("no answer".into(), |m| format!("max {m:.1} ms"));
                let cut = if s.closed_by_server > 0 {
                    format!("; {} cut at {:.1} s", s.closed_by_server, s.first_close_s.unwrap_or(f64::NAN))
                } else {
                    String::new()
                };
                cell(format!("{}/{} probes ok, {max}{cut}", s.probes - s.probes_failed, s.probes), s.health_ok)
            });
            let disconnect = rb.disconnect.as_ref().map_or_else(Cell::missing, |d| {
                let idle = d
                    .cpu_idle_after_s
                    .map_or("CPU not idle after every cycle".into(), |s| format!("CPU idle within {s:.2} s"));
                let judged = d.cycles.len().saturating_sub(d.warmup_cycles);
                let measured = format!(
                    "{idle}; RSS {:+.1}% per cycle (mean of {judged} after {} warm-up; 1st cycle {:+.1}%); {}/{} \
                     streams answering",
                    d.rss_change_pct, d.warmup_cycles, d.first_cycle_rss_change_pct, d.answering, d.streams
                );
                match d.not_judged_because() {
                    Some(why) => Cell::flagged(format!("{why}; {measured}"), &[crate::results::Flag::NotJudged]),
                    None => cell(measured, d.cpu_ok && d.rss_ok),
                }
            });
            let mut verdict = robustness_findings(rb);
            if !rb.failures.is_empty() {
                let names: Vec<&str> = rb.failures.iter().take(12).map(|f| f.case.as_str()).collect();
                let more = rb.failures.len().saturating_sub(names.len());
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                verdict.push(format!("failing: {}{more}", names.join(", ")));
            }
            vec![
                Cell::text(t.name.clone()),
                cell(format!("{}/{}", rb.passed, rb.cases), rb.failures.is_empty()),
                cell(rb.server_errors.to_string(), rb.server_errors == 0),
                cell(rb.crashes.to_string(), rb.crashes == 0),
                rb.rss_growth_bytes.map_or_else(Cell::missing, |g| {
                    Cell::text(format!("{:+.1} MiB", g as f64 / f64::from(1u32 << 20)))
                }),
                match (&rb.health_after_ms, &rb.health_after_error) {
                    (_, Some(e)) => cell(e.clone(), false),
                    (Some(ms), None) => Cell::text(format!("{ms:.2} ms")),
                    (None, None) => Cell::missing(),
                },
                slow,
                disconnect,
                cell(if verdict.is_empty() { "ok".into() } else { verdict.join("; ") }, verdict.is_empty()),
            ]
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(Table {
        id: "robustness",
        title: "Robustness (hostile input)".into(),
        note: "The hostile corpus (cases passed, 5xx answers, crashes, RSS growth, /health right after), then 200 \
               slowloris connections with /health probed, and 500 SSE streams dropped mid-stream, 5 times (CPU back to \
               idle after every cycle; RSS change per cycle over the 3 cycles after 2 warm-up ones, with the 1st cycle \
               shown: what the allocator keeps). A flagged cell misses its bar (docs/metrics.md, \"Robustness\"); \
               the verdict names the failing cases (all are in results.json)."
            .into(),
        headers: [
            "target",
            "cases passed",
            "5xx",
            "crashes",
            "RSS growth",
            "/health after",
            "slowloris",
            "disconnect",
            "verdict",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tables::{absent, all, summary};
    use super::*;

    #[test]
    fn robustness_rows_flag_what_misses_its_bar() {
        use crate::results::{Disconnect, Robustness, Slowloris, TargetResult};
        let good = Robustness {
            cases: 453,
            passed: 453,
            health_after_ms: Some(0.1),
            rss_growth_bytes: Some(1 << 20),
            slowloris: Some(Slowloris {
                probes: 20,
                health_ok: true,
                health_max_ms: Some(2.0),
                ..Slowloris::default()
            }),
            disconnect: Some(Disconnect {
                cpu_ok: true,
                rss_ok: true,
                rss_change_pct: 4.0,
                streams: 500,
                cycles: vec![crate::results::DisconnectCycle { judged: true, answering: 500, ..Default::default() }],
                ..Disconnect::default()
            }),
            ok: true,
            ..Robustness::default()
        };
        let mut bad = good.clone();
        bad.server_errors = 8;
        bad.slowloris.as_mut().unwrap().health_ok = false;
        let mut r = Results::begin(std::path::Path::new("x"), serde_json::json!({}), Default::default());
        for (name, rb) in [("a", Some(good)), ("b", Some(bad)), ("c", None)] {
            r.targets.push(TargetResult { name: name.into(), robustness: rb, ..TargetResult::default() });
        }
        let t = robustness(&r).unwrap();
        assert_eq!(t.rows.len(), 2, "a target without robustness gets no row");
        assert!(t.rows[0].iter().all(|c| c.flags.is_empty()), "all green");
        assert_eq!(t.rows[0][8].text, "ok");
        assert_eq!(t.rows[1][2].flags, [crate::results::Flag::NotRobust], "5xx flagged");
        assert_eq!(t.rows[1][6].flags, [crate::results::Flag::NotRobust], "slowloris flagged");
        assert!(t.rows[1][8].text.contains("5xx"), "{}", t.rows[1][8].text);

        // The summary carries the verdict too.
        let s = summary(&r);
        let col = s.headers.iter().position(|h| h.starts_with("robustness")).expect("a robustness column");
        assert_eq!(s.rows[0][col].text, "ok (453/453 cases)");
        assert!(s.rows[0][col].flags.is_empty());
        assert_eq!(s.rows[1][col].flags, [crate::results::Flag::NotRobust]);
        assert!(s.rows[1][col].text.contains("2 finding(s)"), "{}", s.rows[1][col].text);
        assert!(s.rows[2][col].missing);

        // A verify run: verified targets, no points. Its report is the summary and the
        // robustness table, without empty point, cost or "not measured" tables.
        r.profile = serde_json::json!({"name": crate::results::VERIFY_PROFILE});
        for t in &mut r.targets {
            t.status = crate::results::TargetStatus::Verified;
        }
        let ids: Vec<&str> = all(&r).iter().map(|t| t.id).collect();
        assert_eq!(ids, ["summary", "robustness"]);
        assert!(absent(&r, &all(&r)).is_empty());
        assert!(!summary(&r).headers.iter().any(|h| h.starts_with("peak RSS")));
        // The same targets in a measuring run that stopped early are listed as not measured.
        r.profile = serde_json::json!({"name": "quick"});
        assert!(all(&r).iter().any(|t| t.id == "skipped"));
    }
}
