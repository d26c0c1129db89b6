//! One frame of the live view: a header with each series' figures, then one chart panel per
//! y field. Pure drawing from a [`Store`]; the loop around it is in `live.rs`.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph};
use ratatui::Frame;

use crate::data::{number, padded, x_label, Store, XKind};

/// Terminal colours in the order of `render::PALETTE`.
const COLOURS: [Color; 8] = [
    Color::Blue,
    Color::Yellow,
    Color::Green,
    Color::Red,
    Color::Magenta,
    Color::LightRed,
    Color::LightMagenta,
    Color::Gray,
];

/// Series described in the header at most, so the panels keep most of the screen.
const HEADER_SERIES: usize = 8;

/// What the header says about the input besides the series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub rows_per_s: f64,
    pub bad_lines: u64,
    pub paused: bool,
    pub ended: bool,
}

/// Header lines first (status, then one per series), the panels below share the rest.
pub fn draw(frame: &mut Frame, store: &Store, status: Status) {
    let header = header_lines(store, status);
    let panels = store.y_names.len().max(1) as u32;
    let mut constraints = vec![Constraint::Length(header.len() as u16)];
    constraints.extend((0..panels).map(|_| Constraint::Ratio(1, panels)));
    let areas = Layout::vertical(constraints).split(frame.area());
    frame.render_widget(Paragraph::new(header), areas[0]);
    for (panel, area) in areas.iter().skip(1).enumerate() {
        draw_panel(frame, *area, store, panel);
    }
}

/// `kds-chart  rows N  R rows/s  bad N  [live|paused|input ended]  q quit  p pause`, then
/// `FIELD [GROUP]  now V  min V  max V  rate V/s` per series.
pub fn header_lines(store: &Store, status: Status) -> Vec<Line<'static>> {
    let state = match (status.paused, status.ended) {
        (true, _) => "paused",
        (false, true) => "input ended",
        (false, false) => "live",
    };
    let mut text = format!(
        "kds-chart  rows {}  {:.1} rows/s  bad {}  [{state}]  q quit  p pause",
        store.rows, status.rows_per_s, status.bad_lines
    );
    if store.rows_of_other_groups > 0 {
        text.push_str(&format!(
            "  (rows of groups over the limit: {})",
            store.rows_of_other_groups
        ));
    }
    let mut lines = vec![Line::styled(
        text,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (panel, name) in store.y_names.iter().enumerate() {
        for (group, series) in store.panels[panel].iter().enumerate() {
            let s = &series.stats;
            if s.count == 0 {
                continue;
            }
            let label = match store.groups[group].as_str() {
                "" => name.clone(),
                g => format!("{name} [{g}]"),
            };
            let rate = s
                .rate
                .map(|r| format!("  rate {}/s", number(r)))
                .unwrap_or_default();
            let figures = format!(
                "  now {}  min {}  max {}{rate}",
                number(s.last),
                number(s.min),
                number(s.max)
            );
            let colour = COLOURS[group % COLOURS.len()];
            lines.push(Line::from(vec![
                Span::styled(label, Style::new().fg(colour)),
                Span::raw(figures),
            ]));
        }
    }
    let series_lines = lines.len() - 1;
    if series_lines > HEADER_SERIES {
        lines.truncate(1 + HEADER_SERIES);
        lines.push(Line::raw(format!(
            "... and {} more lines",
            series_lines - HEADER_SERIES
        )));
    }
    lines
}

fn draw_panel(frame: &mut Frame, area: Rect, store: &Store, panel: usize) {
    let kind = store.x_kind.unwrap_or(XKind::TimeMs);
    let ((x0, x1), (y0, y1)) = store.bounds(panel).unwrap_or(((0.0, 1.0), (0.0, 1.0)));
    let ((x0, x1), (y0, y1)) = (padded(x0, x1), padded(y0, y1));
    let points: Vec<Vec<(f64, f64)>> = store.panels[panel]
        .iter()
        .map(|s| s.points.iter().copied().collect())
        .collect();
    let datasets = points
        .iter()
        .enumerate()
        .map(|(group, points)| {
            Dataset::default()
                .name(store.groups[group].clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(COLOURS[group % COLOURS.len()]))
                .data(points)
        })
        .collect();
    let has_groups = store.groups.iter().any(|g| !g.is_empty());
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(store.y_names[panel].clone()))
        .x_axis(Axis::default().bounds([x0, x1]).labels([
            x_label(x0, kind),
            x_label((x0 + x1) / 2.0, kind),
            x_label(x1, kind),
        ]))
        .y_axis(Axis::default().bounds([y0, y1]).labels([
            number(y0),
            number((y0 + y1) / 2.0),
            number(y1),
        ]))
        .legend_position(has_groups.then_some(LegendPosition::TopLeft))
        // ratatui hides a legend taller than a quarter of the chart; groups need it more.
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Row;

    #[test]
    fn header_describes_the_first_lines_then_counts_the_rest() {
        let mut store = Store::new(vec!["n".into()], 20, None);
        for g in 0..11 {
            let ys = vec![Some(g as f64)];
            let row = Row {
                x: 0.0,
                x_kind: XKind::Number,
                group: format!("G{g}"),
                ys,
            };
            store.add(row).expect("same x kind");
        }
        let status = Status {
            rows_per_s: 0.0,
            bad_lines: 0,
            paused: false,
            ended: true,
        };
        let text: Vec<String> = header_lines(&store, status)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert!(text[0].starts_with("kds-chart  rows 11 "), "{text:?}");
        assert_eq!(text[1], "n [G0]  now 0  min 0  max 0");
        assert_eq!(text.len(), 1 + HEADER_SERIES + 1);
        assert_eq!(text[HEADER_SERIES + 1], "... and 3 more lines");
    }
}
