//! kds-ceiling: what a Kinesis emulator accepts and serves when the client costs almost nothing.
//!
//! bench/ measures kds-put and kds-tail as a percentage of the emulator's ceiling; the ceiling
//! must not come from the tools themselves. This client builds every request before the clock
//! starts (PutRecords bodies of 500 records, base64 and partition keys included), then sends
//! them over keep-alive connections from plain threads and checks each answer; reading is a
//! GetRecords loop per shard with the largest page (10,000). It prints one JSON line with the
//! records and the seconds of the sending phase alone. A benchmark tool, not one of the tools:
//! it speaks only plain HTTP to a local emulator.
//!
//!   kds-ceiling put --endpoint http://127.0.0.1:PORT --stream S [--connections N] FILE
//!   kds-ceiling get --endpoint http://127.0.0.1:PORT --stream S --records N

mod http;
mod kinesis;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kds-ceiling",
    about = "The Kinesis emulator's ceiling, measured with pre-built requests"
)]
struct Cli {
    /// The emulator, http://HOST:PORT.
    #[arg(long, global = true, default_value = "http://127.0.0.1:4567")]
    endpoint: String,
    /// The stream.
    #[arg(long, global = true, default_value = "bench")]
    stream: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// PutRecords of every line of FILE (partition key: the line's `tno`, as kds-put's default).
    Put {
        /// Connections sending at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
        connections: u16,
        file: PathBuf,
    },
    /// GetRecords from TRIM_HORIZON on every shard until RECORDS records were read.
    Get {
        #[arg(long)]
        records: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kds-ceiling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<String> {
    let endpoint = http::Endpoint::parse(&cli.endpoint)?;
    match cli.command {
        Command::Put { connections, file } => {
            kinesis::put(&endpoint, &cli.stream, &file, usize::from(connections))
        }
        Command::Get { records } => kinesis::get(&endpoint, &cli.stream, records),
    }
}
