//! kds-gen: simulated trade events on stdout.
fn main() {
    kds_common::exit::main_with("kds-gen", kds_gen::run)
}
