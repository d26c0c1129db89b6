fn main() {
    eprintln!("kds-s3sink: not implemented yet");
    std::process::exit(1);
}
