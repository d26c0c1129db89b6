//! kds-put: NDJSON lines into a Kinesis data stream.
fn main() {
    kds_common::cli::main_with("kds-put", kds_put::run)
}
