//! PNG text that reads well. plotters 0.3.7's `ab_glyph` text path places every glyph at the
//! pen position without its left side bearing, so PNG labels come out unevenly spaced
//! ("acti x-web"). This backend wraps plotters' `BitMapBackend`, passes every shape through
//! unchanged, and lays text out itself with the same embedded font: pen advance, kerning and
//! each glyph's own bounds. Box sizes and anchors are plotters' own (`layout_box`), so the
//! chart layout is identical to the SVG's.

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

pub struct PngText<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> PngText<'a> {
    pub fn new(inner: BitMapBackend<'a>, font: &'static [u8]) -> anyhow::Result<Self> {
        let font = FontRef::try_from_slice(font).map_err(|e| anyhow::anyhow!("embedded font: {e}"))?;
        Ok(PngText { inner, font })
    }
}

type Result<E> = std::result::Result<(), DrawingErrorKind<E>>;
type Err<'a> = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

impl<'a> DrawingBackend for PngText<'a> {
    type ErrorType = Err<'a>;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<Self::ErrorType> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Result<Self::ErrorType> {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<Self::ErrorType> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<Self::ErrorType> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<Self::ErrorType> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<Self::ErrorType> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<Self::ErrorType> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<Self::ErrorType> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<Self::ErrorType> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<Self::ErrorType> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) =
            style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let size = style.size() as f32;
        let font = self.font.as_scaled(size);
        let baseline = font.ascent();
        let trans = style.transform();
        let (w, h) = self.inner.get_size();
        let mut pen = 0f32;
        let mut prev = None;
        let mut first_err = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern(p, id);
            }
            let glyph = id.with_scale_and_position(size, ab_glyph::point(pen, baseline));
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let inner = &mut self.inner;
                outline.draw(|x, y, coverage| {
                    let (tx, ty) = trans.transform(b.min.x as i32 + x as i32 + dx, b.min.y as i32 + y as i32 + dy);
                    let (px, py) = (pos.0 + tx, pos.1 + ty);
                    if coverage > 0.0 && px >= 0 && py >= 0 && px < w as i32 && py < h as i32 {
                        let c = BackendColor { alpha: color.alpha * f64::from(coverage.min(1.0)), rgb: color.rgb };
                        if let Err(e) = inner.draw_pixel((px, py), c) {
                            first_err.get_or_insert(e);
                        }
                    }
                });
            }
            pen += font.h_advance(id);
            prev = Some(id);
        }
        first_err.map_or(Ok(()), Err)
    }
}
