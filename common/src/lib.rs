//! Pieces every kds-tools binary shares: NDJSON input and output, exit codes, signal handling,
//! duration and size parsing, timestamps and the stderr stats reporter. The AWS SDK and tokio
//! stay out (they live in `kds-aws`), so the offline tools build neither.
//!
//! Something lives here only when two or more tools need it.

/// `eprintln!` that never panics: a closed stderr must not turn a clean run into exit 101.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
pub mod clock;
pub mod duration;
pub mod exit;
pub mod first_few;
pub mod io;
pub mod json;
pub mod kpl;
pub mod progress;
pub mod rng;
pub mod signal;
pub mod size;
pub mod stats;
pub mod time;
