//! The static chart (`--svg`, `--png`): one panel per y field, one line per group, drawn with
//! plotters after the last row. Text uses the embedded DejaVu Sans, so a PNG needs no
//! system fonts.

use std::fs;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::data::{number, padded, x_label, Store, XKind};

/// Font family every text element asks for; registered from the embedded font.
const FONT: &str = "sans-serif";

/// Line colours, one per group in the order first seen (the live view uses the same order).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn register_font() -> anyhow::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| anyhow!("the embedded font cannot be loaded"));
    });
    result
}

/// Writes the chart as SVG to `path`.
pub fn write_svg(store: &Store, path: &Path, size: (u32, u32), title: &str) -> anyhow::Result<()> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, store, title)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the chart as an RGB PNG of `size` pixels to `path`.
pub fn write_png(store: &Store, path: &Path, size: (u32, u32), title: &str) -> anyhow::Result<()> {
    register_font()?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, store, title)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    let mut encoded = Vec::new();
    let mut encoder = png::Encoder::new(&mut encoded, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels).and_then(|()| w.finish()))
        .context("encoding the PNG")?;
    fs::write(path, encoded).with_context(|| format!("cannot write {}", path.display()))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    store: &Store,
    title: &str,
) -> anyhow::Result<()> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the chart: {e}");
    root.fill(&WHITE).map_err(fail)?;
    let body = if title.is_empty() {
        root.clone()
    } else {
        root.titled(title, (FONT, 22)).map_err(fail)?
    };
    let panels = body.split_evenly((store.y_names.len(), 1));
    for (i, area) in panels.iter().enumerate() {
        draw_panel(area, store, i).map_err(fail)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    store: &Store,
    panel: usize,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let kind = store.x_kind.unwrap_or(XKind::TimeMs);
    let ((x0, x1), (y0, y1)) = store.bounds(panel).unwrap_or(((0.0, 1.0), (0.0, 1.0)));
    let (x0, x1) = padded(x0, x1);
    let (y0, y1) = padded(y0, y1);
    let mut chart = ChartBuilder::on(area)
        .caption(&store.y_names[panel], (FONT, 18))
        .margin(10)
        .margin_right(40) // room for the last x label, centred on the right edge
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .label_style((FONT, 13))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| x_label(*x, kind))
        .y_label_formatter(&|y| number(*y))
        .draw()?;
    for (group, series) in store.panels[panel].iter().enumerate() {
        let colour = PALETTE[group % PALETTE.len()];
        let line = chart.draw_series(LineSeries::new(
            series.points.iter().copied(),
            colour.stroke_width(2),
        ))?;
        if !store.groups[group].is_empty() {
            // A filled square as legend mark: a second polyline per series would make the
            // SVG's data lines ambiguous to read back.
            line.label(store.groups[group].clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 12, y + 4)], colour.filled())
                });
        }
    }
    if store.groups.iter().any(|g| !g.is_empty()) {
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}
