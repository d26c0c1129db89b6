fn main() {
    eprintln!("kds-window: not implemented yet");
    std::process::exit(1);
}
