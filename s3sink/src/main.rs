fn main() {
    kds_common::cli::main_with("kds-s3sink", kds_s3sink::run)
}
