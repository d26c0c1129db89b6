//! `kds-tail`: parse the arguments, run, map the result to an exit status.
fn main() {
    kds_common::cli::main_with::<kds_tail::Args>("kds-tail", kds_tail::run)
}
