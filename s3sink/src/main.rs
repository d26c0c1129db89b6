fn main() {
    kds_common::exit::main_with("kds-s3sink", kds_s3sink::run)
}
