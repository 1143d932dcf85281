//! Figures as plain data, drawn by plotters onto any backend: once into an SVG string (inlined
//! in index.html and written as `<name>.svg`) and once into a PNG file (`<name>.png`).
//!
//! Keeping the figure a value separates *what* a chart shows (report::charts decides, from
//! results.json) from *how* it is drawn, so both outputs come from the same data and the
//! chart builders stay testable without pixels.
//!
//! Text is laid out with an embedded DejaVu Sans (plotters' `ab_glyph` feature), so PNGs
//! render the same on a fresh machine with no system fonts.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// DejaVu Sans 2.37 (Bitstream Vera licence, `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

pub const WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 340;
const TITLE_HEIGHT: u32 = 44;
const LEGEND_HEIGHT: u32 = 30;
const FOOTER_HEIGHT: u32 = 26;

/// One chart: a title, an optional legend strip, a grid of panels, and the environment
/// footer.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem: `<name>.svg`, `<name>.png`.
    pub name: String,
    pub title: String,
    pub footer: String,
    pub legend: Vec<LegendEntry>,
    pub columns: usize,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone)]
pub struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub style: Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Box,
    Line,
    Dashed,
}

#[derive(Debug, Clone)]
pub enum Panel {
    Bars(BarPanel),
    Lines(LinePanel),
    /// A panel whose data this run does not have; the message is drawn in its place.
    Empty {
        title: String,
        message: String,
    },
}

/// Above this many bars a bar panel takes the full width of the figure: at half width the
/// bars would be too thin for their value labels, even turned upright.
const WIDE_BARS: usize = 24;

impl Panel {
    fn is_wide(&self) -> bool {
        match self {
            Panel::Bars(b) => b.groups.len() * b.series.len() > WIDE_BARS,
            _ => false,
        }
    }
}

/// Grouped bars: one group per category on x, one bar per series inside each group.
#[derive(Debug, Clone)]
pub struct BarPanel {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub series: Vec<BarSeries>,
    /// Logarithmic y axis, for values spanning more than 10x (bars then rise from the
    /// axis floor, below the smallest value, so only their tops are read); ignored unless
    /// every value is above 0.
    pub y_log: bool,
}

#[derive(Debug, Clone)]
pub struct BarSeries {
    pub color: RGBColor,
    /// One per group; `None` where this series has no value for the group.
    pub bars: Vec<Option<Bar>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Bar {
    pub value: f64,
    /// Whisker from low to high (a CI or a min–max over repeats).
    pub range: Option<(f64, f64)>,
    /// The point carries a flag: the value label gets a `*`.
    pub flagged: bool,
}

#[derive(Debug, Clone)]
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    /// Tick positions and their labels; plotters' own ticks when `None`.
    pub x_ticks: Option<Vec<(f64, String)>>,
    /// Lower end of the x axis (log axes need it above 0).
    pub x_min: Option<f64>,
    pub x_max: Option<f64>,
    /// Logarithmic y axis (used when all values are positive).
    pub y_log: bool,
    /// Fixed y range; from the data (starting at 0 on a linear axis) where `None`. A builder
    /// that sets a lower end above 0 says so in the chart's caption.
    pub y_min: Option<f64>,
    pub y_max: Option<f64>,
    /// Spread the lines' points slightly sideways (by line index, a few pixels each) so equal
    /// values at the same x stay visible as separate markers. For x values that are levels
    /// (concurrency), not continuous measurements.
    pub x_dodge: bool,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub color: RGBColor,
    pub dashed: bool,
    pub points: Vec<LinePoint>,
}

#[derive(Debug, Clone, Copy)]
pub struct LinePoint {
    pub x: f64,
    pub y: f64,
    /// Vertical range (min–max over repeats).
    pub range: Option<(f64, f64)>,
}

impl Figure {
    pub fn size(&self) -> (u32, u32) {
        let rows = self.rows().len().max(1) as u32;
        (WIDTH, TITLE_HEIGHT + LEGEND_HEIGHT + rows * PANEL_HEIGHT + FOOTER_HEIGHT)
    }

    /// Panels per row, as indices: pairs side by side when `columns` is 2, except that a
    /// panel with too many bars for half the width gets a row (and the width) of its own,
    /// which can leave a panel before it without a partner.
    fn rows(&self) -> Vec<Vec<usize>> {
        let mut rows = Vec::new();
        let mut i = 0;
        while i < self.panels.len() {
            let pair = self.columns >= 2
                && i + 1 < self.panels.len()
                && !self.panels[i].is_wide()
                && !self.panels[i + 1].is_wide();
            if pair {
                rows.push(vec![i, i + 1]);
                i += 2;
            } else {
                rows.push(vec![i]);
                i += 1;
            }
        }
        rows
    }

    /// Whether any panel has something to draw.
    pub fn has_data(&self) -> bool {
        self.panels.iter().any(|p| !matches!(p, Panel::Empty { .. }))
    }

    pub fn to_svg(&self) -> anyhow::Result<String> {
        register_font()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            self.draw(&root).with_context(|| format!("drawing {}.svg", self.name))?;
            root.present().map_err(|e| anyhow!("writing {}.svg: {e:?}", self.name))?;
        }
        Ok(out)
    }

    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        register_font()?;
        let root = super::raster::PngText::new(BitMapBackend::new(path, self.size()), FONT)?.into_drawing_area();
        self.draw(&root).with_context(|| format!("drawing {}", path.display()))?;
        root.present().map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        root.fill(&WHITE).map_err(err)?;
        let (w, h) = self.size();
        let (head, rest) = root.split_vertically(TITLE_HEIGHT);
        head.draw_text(
            &self.title,
            &text(20).pos(Pos::new(HPos::Center, VPos::Center)),
            (w as i32 / 2, TITLE_HEIGHT as i32 / 2),
        )
        .map_err(err)?;
        let (legend, rest) = rest.split_vertically(LEGEND_HEIGHT);
        self.draw_legend(&legend)?;
        let (body, foot) = rest.split_vertically(h - TITLE_HEIGHT - LEGEND_HEIGHT - FOOTER_HEIGHT);
        foot.draw_text(&self.footer, &text(12).color(&RGBColor(90, 90, 90)), (10, 6)).map_err(err)?;
        let rows = self.rows();
        for (row, strip) in rows.iter().zip(body.split_evenly((rows.len().max(1), 1)).iter()) {
            // A panel left alone in a two-column figure keeps half the width, like its
            // neighbours, unless it is wide.
            let slots =
                if row.len() == 1 && self.columns >= 2 && !self.panels[row[0]].is_wide() { 2 } else { row.len() };
            for (&i, cell) in row.iter().zip(strip.split_evenly((1, slots)).iter()) {
                match &self.panels[i] {
                    Panel::Bars(b) => draw_bars(cell, b)?,
                    Panel::Lines(l) => draw_lines(cell, l)?,
                    Panel::Empty { title, message } => draw_empty(cell, title, message)?,
                }
            }
        }
        Ok(())
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let style = text(14);
        let mut x = 20i32;
        let y = LEGEND_HEIGHT as i32 / 2;
        for e in &self.legend {
            match e.style {
                Mark::Box => {
                    area.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], e.color.filled())).map_err(err)?
                }
                Mark::Line => {
                    area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], e.color.stroke_width(3))).map_err(err)?
                }
                Mark::Dashed => {
                    for s in [0, 10, 20] {
                        area.draw(&PathElement::new(vec![(x + s, y), (x + s + 5, y)], e.color.stroke_width(3)))
                            .map_err(err)?;
                    }
                }
            }
            let offset = if e.style == Mark::Box { 20 } else { 30 };
            area.draw_text(&e.label, &style.pos(Pos::new(HPos::Left, VPos::Center)), (x + offset, y)).map_err(err)?;
            let (tw, _) = area.estimate_text_size(&e.label, &style).map_err(err)?;
            x += offset + tw as i32 + 24;
        }
        Ok(())
    }
}

fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotters: {e:?}")
}

fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "the embedded font assets/fonts/DejaVuSans.ttf could not be loaded");
    Ok(())
}

fn draw_empty<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, message: &str) -> anyhow::Result<()> {
    let (w, h) = area.dim_in_pixel();
    area.draw_text(title, &text(16).pos(Pos::new(HPos::Center, VPos::Top)), (w as i32 / 2, 8)).map_err(err)?;
    area.draw(&Rectangle::new(
        [(20, 36), (w as i32 - 20, h as i32 - 20)],
        ShapeStyle { color: RGBColor(200, 200, 200).to_rgba(), filled: false, stroke_width: 1 },
    ))
    .map_err(err)?;
    area.draw_text(
        message,
        &text(15).color(&RGBColor(110, 110, 110)).pos(Pos::new(HPos::Center, VPos::Center)),
        (w as i32 / 2, h as i32 / 2),
    )
    .map_err(err)?;
    Ok(())
}

/// Nice upper bound for an axis that starts at 0.
fn headroom(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() { 1.0 } else { max * 1.18 }
}

/// Compact value label: 106947 → "106.9k", 0.5 → "0.50".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Space the bar chart's frame takes around its plotting area (caption, margins, axis label
/// areas), to size value labels before plotters lays the chart out.
const BAR_FRAME: (u32, u32) = (8 + 16 + 78, 8 + 8 + 34 + 26);
const VALUE_FONT: u32 = 11;
const GROUP_FONT: u32 = 13;

fn bar_label(b: &Bar) -> String {
    format!("{}{}", compact(b.value), if b.flagged { "*" } else { "" })
}

/// Where a bar panel's labels go and how big they are, measured on the drawing area.
struct BarLayout {
    y_lo: f64,
    y_hi: f64,
    /// The y axis is logarithmic (the panel asked, and every value is above 0).
    y_log: bool,
    plot_h: f64,
    /// Value labels stand upright when they do not fit a bar's slot.
    upright: bool,
    label_font: u32,
    group_font: u32,
}

/// Value labels sit above their bars, level when they fit the bar's slot and upright when
/// they do not (many targets, many groups); the y range leaves room for the tallest one.
/// Group names shrink when they would run into each other.
fn bar_layout<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BarPanel, slot: f64) -> anyhow::Result<BarLayout> {
    let n = p.groups.len().max(1);
    let bars: Vec<&Bar> = p.series.iter().flat_map(|s| s.bars.iter().flatten()).collect();
    let (mut lo, mut hi) = (0f64, 0f64);
    for b in &bars {
        let (a, z) = b.range.unwrap_or((b.value, b.value));
        lo = lo.min(b.value).min(a);
        hi = hi.max(b.value).max(z);
    }
    let (w, h) = area.dim_in_pixel();
    let plot_w = f64::from(w.saturating_sub(BAR_FRAME.0).max(1));
    let plot_h = f64::from(h.saturating_sub(BAR_FRAME.1).max(1));
    let slot_px = plot_w / n as f64 * slot;
    let mut widest = 0u32;
    for b in &bars {
        widest = widest.max(area.estimate_text_size(&bar_label(b), &text(VALUE_FONT)).map_err(err)?.0);
    }
    let upright = f64::from(widest) + 2.0 > slot_px;
    let label_font = if upright && slot_px < 14.0 { VALUE_FONT - 2 } else { VALUE_FONT };
    let label_px = if upright { f64::from(widest) + 6.0 } else { f64::from(label_font) + 8.0 };
    let room = (1.0 - label_px / plot_h).clamp(0.3, 1.0);
    let min_positive =
        bars.iter().map(|b| b.range.map_or(b.value, |(a, _)| a.min(b.value))).fold(f64::INFINITY, f64::min);
    let y_log = p.y_log && min_positive > 0.0 && min_positive.is_finite() && hi > 0.0;
    let (y_lo, y_hi) = if y_log {
        // The floor sits a little below the smallest value; the labels' room is a share of
        // the axis's decades, as it is of its length on a linear axis.
        let lo = min_positive / 1.6;
        let decades = (hi * 1.18 / lo).log10() / room;
        (lo, lo * 10f64.powf(decades))
    } else {
        let y_lo = if lo < 0.0 { lo * 1.18 } else { 0.0 };
        (y_lo, headroom(hi).max(y_lo + (hi - y_lo) / room))
    };
    let group_px = plot_w / n as f64;
    let mut group_font = GROUP_FONT;
    for g in &p.groups {
        while group_font > 9
            && f64::from(area.estimate_text_size(g, &text(group_font)).map_err(err)?.0) + 6.0 > group_px
        {
            group_font -= 1;
        }
    }
    Ok(BarLayout { y_lo, y_hi, y_log, plot_h, upright, label_font, group_font })
}

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BarPanel) -> anyhow::Result<()> {
    let n = p.groups.len().max(1);
    let k = p.series.len().max(1) as f64;
    let slot = 0.8 / k;
    let BarLayout { y_lo, y_hi, y_log, plot_h, upright, label_font, group_font } = bar_layout(area, p, slot)?;
    let centers: Vec<f64> = (0..n).map(|g| g as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, text(16))
        .margin(8)
        .margin_right(16)
        .x_label_area_size(34)
        .y_label_area_size(78)
        .build_cartesian_2d(Axis::new(0f64..n as f64, false, Some(centers)), Axis::new(y_lo..y_hi, y_log, None))
        .map_err(err)?;
    let groups = p.groups.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(8)
        .light_line_style(RGBColor(244, 244, 244))
        .y_desc(&p.y_label)
        .label_style(text(13))
        .x_label_style(text(group_font))
        .axis_desc_style(text(14))
        .x_label_formatter(&|x| {
            let g = (x - 0.5).round();
            if g >= 0.0 { groups.get(g as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_label_formatter(&|y| compact(*y))
        .draw()
        .map_err(err)?;
    let label_style = if upright {
        text(label_font).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Left, VPos::Center))
    } else {
        text(label_font).pos(Pos::new(HPos::Center, VPos::Bottom))
    };
    // 3 pixels above a bar's top, in data units (a factor on a log axis).
    let lift =
        |top: f64| if y_log { top * (y_hi / y_lo).powf(3.0 / plot_h) } else { top + (y_hi - y_lo) * 3.0 / plot_h };
    let base = if y_log { y_lo } else { 0.0 };
    for (i, s) in p.series.iter().enumerate() {
        for (g, b) in s.bars.iter().enumerate() {
            let Some(b) = b else { continue };
            let x0 = g as f64 + 0.1 + i as f64 * slot;
            let x1 = x0 + slot * 0.88;
            let xc = (x0 + x1) / 2.0;
            chart
                .draw_series(std::iter::once(Rectangle::new([(x0, base), (x1, b.value)], s.color.filled())))
                .map_err(err)?;
            let mut top = b.value.max(0.0);
            if let Some((a, z)) = b.range {
                if z > a {
                    whisker(&mut chart, xc, (a, z), BLACK)?;
                }
                top = top.max(z);
            }
            chart.plotting_area().draw(&Text::new(bar_label(b), (xc, lift(top)), label_style.clone())).map_err(err)?;
        }
    }
    Ok(())
}

/// A vertical range with caps (plotters' `ErrorBar` also draws a circle at the centre, which
/// reads as a data point).
fn whisker<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    x: f64,
    (lo, hi): (f64, f64),
    color: RGBColor,
) -> anyhow::Result<()> {
    let area = chart.plotting_area();
    let (px, plo) = area.map_coordinate(&(x, lo));
    let (_, phi) = area.map_coordinate(&(x, hi));
    let style = color.stroke_width(1);
    let root = area.strip_coord_spec();
    for path in [vec![(px, plo), (px, phi)], vec![(px - 4, plo), (px + 4, plo)], vec![(px - 4, phi), (px + 4, phi)]] {
        let path: Vec<(i32, i32)> =
            path.into_iter().map(|(a, b)| (a - root.get_base_pixel().0, b - root.get_base_pixel().1)).collect();
        root.draw(&PathElement::new(path, style)).map_err(err)?;
    }
    Ok(())
}

fn draw_lines<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &LinePanel) -> anyhow::Result<()> {
    let pts = p.lines.iter().flat_map(|l| l.points.iter());
    let (mut x_lo, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y_lo, mut y_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for q in pts {
        x_lo = x_lo.min(q.x);
        x_hi = x_hi.max(q.x);
        let (a, z) = q.range.unwrap_or((q.y, q.y));
        y_hi = y_hi.max(q.y).max(z);
        y_lo = y_lo.min(q.y).min(a);
    }
    if !x_lo.is_finite() || !y_lo.is_finite() {
        return draw_empty(area, &p.title, "no points");
    }
    let x_lo = p.x_min.unwrap_or(if p.x_log { x_lo / 1.5 } else { 0f64.min(x_lo) });
    let x_hi = p.x_max.unwrap_or(if p.x_log { x_hi * 1.5 } else { x_hi * 1.08 }).max(x_lo * 1.01 + 1e-9);
    let y_log = p.y_log && y_lo > 0.0;
    let (y_lo, y_hi) =
        if y_log { (y_lo / 1.4, y_hi * 1.4) } else { (if y_lo < 0.0 { y_lo * 1.18 } else { 0.0 }, headroom(y_hi)) };
    let (y_lo, y_hi) = (p.y_min.unwrap_or(y_lo), p.y_max.unwrap_or(y_hi));
    let y_hi = y_hi.max(y_lo + 1e-9);
    let keys = p.x_ticks.as_ref().map(|t| t.iter().map(|t| t.0).collect::<Vec<f64>>());
    let x = Axis::new(x_lo..x_hi, p.x_log, keys);
    let y = Axis::new(y_lo..y_hi, y_log, None);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, text(16))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let ticks = p.x_ticks.clone();
    let x_fmt = move |x: &f64| match &ticks {
        Some(t) => {
            t.iter().find(|(v, _)| (v - x).abs() <= 1e-9 * v.abs().max(1.0)).map(|t| t.1.clone()).unwrap_or_default()
        }
        None => compact(*x),
    };
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style(text(13))
        .axis_desc_style(text(14))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| compact(*y))
        .y_labels(8)
        .light_line_style(RGBColor(244, 244, 244))
        .draw()
        .map_err(err)?;
    // Dodge: line i of n moves by (i − (n−1)/2) steps; a step is a few pixels, as a factor on
    // a log axis and as a share of the range on a linear one.
    let (w, _) = area.dim_in_pixel();
    let step_px = (40.0 / p.lines.len().max(1) as f64).min(5.0);
    let step = step_px / f64::from(w.saturating_sub(120).max(1));
    let shift = |i: usize, x: f64| -> f64 {
        if !p.x_dodge {
            return x;
        }
        let d = (i as f64 - (p.lines.len() as f64 - 1.0) / 2.0) * step;
        if p.x_log { x * (x_hi / x_lo).powf(d) } else { x + d * (x_hi - x_lo) }
    };
    for (i, l) in p.lines.iter().enumerate() {
        let xy: Vec<(f64, f64)> = l.points.iter().map(|q| (shift(i, q.x), q.y)).collect();
        if l.dashed {
            chart.draw_series(DashedLineSeries::new(xy.clone(), 8, 5, l.color.stroke_width(2))).map_err(err)?;
        } else {
            chart.draw_series(LineSeries::new(xy.clone(), l.color.stroke_width(2))).map_err(err)?;
        }
        chart.draw_series(xy.iter().map(|&(x, y)| Circle::new((x, y), 3, l.color.filled()))).map_err(err)?;
        for q in &l.points {
            if let Some((a, z)) = q.range.filter(|(a, z)| z > a) {
                whisker(&mut chart, shift(i, q.x), (a, z), l.color)?;
            }
        }
    }
    Ok(())
}

/// One axis type for every chart: linear or logarithmic, with plotters' ticks or exactly the
/// given ones. (plotters gives each combination its own type, and its `WithKeyPoints` cannot
/// take a label formatter on f64 axes.)
struct Axis {
    scale: Scale,
    keys: Option<Vec<f64>>,
}

enum Scale {
    Linear(RangedCoordf64),
    Log(LogCoord<f64>),
}

impl Axis {
    fn new(range: std::ops::Range<f64>, log: bool, keys: Option<Vec<f64>>) -> Self {
        let scale = if log { Scale::Log(LogCoord::from(range.log_scale())) } else { Scale::Linear(range.into()) };
        Axis { scale, keys }
    }
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        match &self.scale {
            Scale::Linear(r) => r.range(),
            Scale::Log(r) => r.range(),
        }
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match &self.scale {
            Scale::Linear(r) => r.map(value, limit),
            Scale::Log(r) => r.map(value, limit),
        }
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match (&self.keys, &self.scale) {
            (Some(k), _) => k.clone(),
            (None, Scale::Linear(r)) => r.key_points(hint),
            (None, Scale::Log(r)) => {
                let ticks = log_ticks(r.range());
                if ticks.len() >= 3 { ticks } else { r.key_points(hint) }
            }
        }
    }
}

/// Ticks at 1, 2, 5 × 10^k inside the range, or at finer steps when the range spans less
/// than a decade (plotters' log axis labels only powers of ten).
fn log_ticks(range: std::ops::Range<f64>) -> Vec<f64> {
    let (lo, hi) = (range.start.max(f64::MIN_POSITIVE), range.end);
    let fine = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    for mantissas in [&[1.0, 2.0, 5.0][..], &fine[..]] {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            out.extend(mantissas.iter().map(|m| m * decade).filter(|v| *v >= lo && *v <= hi));
            decade *= 10.0;
        }
        if out.len() >= 3 {
            return out;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Figure {
        Figure {
            name: "t".into(),
            title: "A title".into(),
            footer: "footer".into(),
            legend: vec![LegendEntry { label: "a".into(), color: RED, style: Mark::Box }],
            columns: 2,
            panels: vec![
                Panel::Bars(BarPanel {
                    y_log: false,
                    title: "bars".into(),
                    y_label: "req/s".into(),
                    groups: vec!["g1".into(), "g2".into()],
                    series: vec![BarSeries {
                        color: RED,
                        bars: vec![Some(Bar { value: 3.0, range: Some((2.0, 4.0)), flagged: true }), None],
                    }],
                }),
                Panel::Lines(LinePanel {
                    title: "lines".into(),
                    x_label: "x".into(),
                    y_label: "y".into(),
                    x_log: true,
                    x_ticks: Some(vec![(2.0, "50%".into()), (10.0, "90%".into())]),
                    x_min: Some(1.0),
                    x_max: Some(20.0),
                    y_log: true,
                    y_min: None,
                    y_max: None,
                    x_dodge: true,
                    lines: vec![Line {
                        color: BLUE,
                        dashed: true,
                        points: vec![
                            LinePoint { x: 2.0, y: 1.0, range: Some((0.5, 1.5)) },
                            LinePoint { x: 10.0, y: 2.0, range: None },
                        ],
                    }],
                }),
                Panel::Empty { title: "none".into(), message: "not measured in this run".into() },
            ],
        }
    }

    #[test]
    fn draws_svg_with_every_text() {
        let svg = sample().to_svg().unwrap();
        for needle in ["A title", "footer", "bars", "lines", "not measured in this run", "3.00*", "50%", "90%"] {
            assert!(svg.contains(needle), "{needle} missing from the SVG");
        }
    }

    #[test]
    fn size_grows_with_rows() {
        let mut f = sample();
        let (_, h3) = f.size();
        f.columns = 1;
        assert!(f.size().1 > h3);
        assert!(f.has_data());
    }

    #[test]
    fn crowded_bar_panels_get_a_row_of_their_own() {
        let bars = |groups: usize, series: usize| {
            Panel::Bars(BarPanel {
                y_log: false,
                title: String::new(),
                y_label: String::new(),
                groups: vec![String::new(); groups],
                series: vec![BarSeries { color: RED, bars: vec![None; groups] }; series],
            })
        };
        let mut f = sample();
        // 8 targets × 3 groups fits half the width; 8 × 4 does not.
        f.panels = vec![bars(3, 8), bars(1, 8), bars(4, 8), bars(1, 4), bars(1, 4), bars(1, 4)];
        assert_eq!(f.rows(), [vec![0, 1], vec![2], vec![3, 4], vec![5]]);
        f.columns = 1;
        assert_eq!(f.rows().len(), 6);
    }

    #[test]
    fn log_ticks_are_readable() {
        assert_eq!(log_ticks(400.0..20000.0), [500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0]);
        assert_eq!(log_ticks(965.0..1900.0), [1000.0, 1200.0, 1500.0]);
    }

    #[test]
    fn compact_labels() {
        assert_eq!(compact(106947.0), "106.9k");
        assert_eq!(compact(5151.0), "5151");
        assert_eq!(compact(39.04), "39.0");
        assert_eq!(compact(2_500_000.0), "2.50M");
    }
}
