//! kds-window: parse flags, run, map the result to an exit status.
fn main() {
    kds_common::cli::main_with("kds-window", kds_window::run)
}
