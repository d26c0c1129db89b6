//! kds-gen: simulated trade events on stdout.
fn main() {
    kds_common::cli::main_with("kds-gen", kds_gen::run)
}
