//! Pieces every kds-tools binary shares: NDJSON input and output, exit codes, signal handling,
//! duration and size parsing, timestamps, AWS client construction and the stderr stats reporter.
//!
//! Something lives here only when two or more tools need it.

pub mod aws;
pub mod duration;
pub mod exit;
pub mod io;
pub mod json;
pub mod signal;
pub mod size;
pub mod stats;
pub mod time;
