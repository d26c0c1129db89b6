fn main() {
    eprintln!("kds-gen: not implemented yet");
    std::process::exit(1);
}
