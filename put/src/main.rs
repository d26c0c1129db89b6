fn main() {
    eprintln!("kds-put: not implemented yet");
    std::process::exit(1);
}
