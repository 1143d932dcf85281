//! Service-level objectives: the one syntax the whole harness reads them in
//! (`--slo chat.ttft=200ms,chat.tpot=50ms,predict.p99=10ms`), each a workload, a figure and
//! a limit. `chat`'s goodput counts the requests that meet every `chat` objective
//! (docs/metrics.md, "Chat"); a latency workload's objectives are judged on its points'
//! percentiles (docs/metrics.md, "Objectives").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::results::Workload;

/// The figure an objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Figure {
    /// Per chat request: time to first token.
    Ttft,
    /// Per chat request: time per output token after the first.
    Tpot,
    /// Per chat request: end-to-end latency.
    E2el,
    /// A point's latency percentile (every other workload).
    P50,
    P90,
    P99,
    P999,
}

impl Figure {
    const ALL: [(Figure, &'static str); 7] = [
        (Figure::Ttft, "ttft"),
        (Figure::Tpot, "tpot"),
        (Figure::E2el, "e2el"),
        (Figure::P50, "p50"),
        (Figure::P90, "p90"),
        (Figure::P99, "p99"),
        (Figure::P999, "p999"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }

    /// A per-request figure of a chat stream (met or not by each request).
    pub fn per_request(self) -> bool {
        matches!(self, Figure::Ttft | Figure::Tpot | Figure::E2el)
    }

    /// The percentile it names, for a point's latency.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Figure::P50 => Some(0.5),
            Figure::P90 => Some(0.9),
            Figure::P99 => Some(0.99),
            Figure::P999 => Some(0.999),
            _ => None,
        }
    }
}

/// One objective: `workload.figure <= limit`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub workload: Workload,
    pub figure: Figure,
    /// The limit, in ms.
    pub limit_ms: f64,
}

impl Slo {
    pub fn limit_us(&self) -> f64 {
        self.limit_ms * 1e3
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}={}ms", self.workload, self.figure.name(), self.limit_ms)
    }
}

/// The objectives of one `--slo` value.
#[derive(Debug, Clone, PartialEq)]
pub struct SloList(pub Vec<Slo>);

/// `--slo`'s parser.
pub fn parse_list(spec: &str) -> Result<SloList, String> {
    parse(spec).map(SloList)
}

/// Parses `chat.ttft=200ms,predict.p99=10ms` (units `us`, `µs`, `ms`, `s`). `chat` takes
/// the per-request figures (`ttft`, `tpot`, `e2el`), every other workload the percentiles
/// (`p50`, `p90`, `p99`, `p999`); one objective per workload and figure.
pub fn parse(spec: &str) -> Result<Vec<Slo>, String> {
    let mut out: Vec<Slo> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lhs, value) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected workload.figure=limit"))?;
        let (w, fig) = lhs.split_once('.').ok_or_else(|| format!("{part:?}: expected workload.figure=limit"))?;
        let workload = Workload::parse(w.trim()).ok_or_else(|| {
            let known: Vec<&str> = Workload::ALL.iter().map(|k| k.name()).collect();
            format!("{part:?}: unknown workload {w:?} (known: {})", known.join(", "))
        })?;
        let figure = Figure::ALL.iter().find(|(_, n)| *n == fig.trim()).map(|(f, _)| *f);
        let chat = workload == Workload::Chat;
        let figure = figure.filter(|f| f.per_request() == chat).ok_or_else(|| {
            let allowed = if chat { "ttft, tpot, e2el" } else { "p50, p90, p99, p999" };
            format!("{part:?}: {workload} objectives bound {allowed}, not {fig:?}")
        })?;
        let limit_ms = parse_ms(value.trim())
            .ok_or_else(|| format!("{part:?}: {value:?} is not a positive duration (e.g. 200ms, 1.5s, 800us)"))?;
        if out.iter().any(|s| s.workload == workload && s.figure == figure) {
            return Err(format!("{part:?}: {workload}.{fig} is given twice"));
        }
        out.push(Slo { workload, figure, limit_ms });
    }
    if out.is_empty() {
        return Err(format!("{spec:?}: no objective (e.g. chat.ttft=200ms,predict.p99=10ms)"));
    }
    Ok(out)
}

fn parse_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    let x: f64 = num.trim().parse().ok()?;
    (x.is_finite() && x > 0.0).then_some(x * scale)
}

/// The per-request objectives of a chat stream, in µs; a request meets them when each of
/// its figures is within its limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChatLimits {
    pub ttft_us: Option<f64>,
    pub tpot_us: Option<f64>,
    pub e2el_us: Option<f64>,
}

impl ChatLimits {
    pub fn of(slos: &[Slo]) -> Self {
        let get = |f: Figure| slos.iter().find(|s| s.workload == Workload::Chat && s.figure == f).map(Slo::limit_us);
        ChatLimits { ttft_us: get(Figure::Ttft), tpot_us: get(Figure::Tpot), e2el_us: get(Figure::E2el) }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The objectives as `--slo` spells them (`chat.ttft=200ms`).
    pub fn describe(&self) -> Vec<String> {
        [("ttft", self.ttft_us), ("tpot", self.tpot_us), ("e2el", self.e2el_us)]
            .into_iter()
            .filter_map(|(name, us)| us.map(|us| format!("chat.{name}={}ms", us / 1e3)))
            .collect()
    }

    /// A request's figures (µs) meet every limit; a figure a request lacks (TPOT of a
    /// one-token answer) meets its limit, as in vLLM's goodput.
    pub fn met(&self, ttft_us: f64, tpot_us: Option<f64>, e2el_us: f64) -> bool {
        let within = |limit: Option<f64>, v: Option<f64>| match (limit, v) {
            (Some(l), Some(v)) => v <= l,
            _ => true,
        };
        within(self.ttft_us, Some(ttft_us)) && within(self.tpot_us, tpot_us) && within(self.e2el_us, Some(e2el_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syntax_reads_every_unit_and_refuses_what_it_cannot_judge() {
        let s = parse("chat.ttft=200ms, chat.tpot=50ms,predict.p99=10ms,chat.e2el=1.5s,health.p50=800us").unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0], Slo { workload: Workload::Chat, figure: Figure::Ttft, limit_ms: 200.0 });
        assert_eq!(s[3].limit_ms, 1500.0);
        assert!((s[4].limit_ms - 0.8).abs() < 1e-12);
        assert_eq!(s[2].to_string(), "predict.p99=10ms");
        for bad in ["", "chat.ttft", "chat.p99=1ms", "predict.ttft=1ms", "nope.p99=1ms", "chat.ttft=0ms", "chat.ttft=5"]
        {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse("chat.ttft=1ms,chat.ttft=2ms").unwrap_err().contains("twice"));
        assert!(parse("chat.itl=1ms").unwrap_err().contains("ttft, tpot, e2el"));
    }

    #[test]
    fn a_request_meets_the_limits_only_within_all_of_them() {
        let l = ChatLimits::of(&parse("chat.ttft=200ms,chat.tpot=50ms,predict.p99=1ms").unwrap());
        assert_eq!(l, ChatLimits { ttft_us: Some(200e3), tpot_us: Some(50e3), e2el_us: None });
        assert!(l.met(150e3, Some(40e3), 9e9));
        assert!(!l.met(201e3, Some(40e3), 0.0));
        assert!(!l.met(150e3, Some(51e3), 0.0));
        assert!(l.met(150e3, None, 0.0), "a one-token answer has no TPOT");
        assert!(ChatLimits::default().met(1e12, Some(1e12), 1e12));
    }
}
