//! kds-chart: live terminal chart, or SVG/PNG, of numeric fields in NDJSON rows.
fn main() {
    kds_common::cli::main_with("kds-chart", kds_chart::run)
}
