//! kds-s3sink-ceiling: kds-s3sink's own ceiling, apart from any S3 emulator.
//!
//! moto_server bounds kds-s3sink at tens of MB/s, so bench/s3sink.sh cannot say what the sink
//! itself costs. This benchmark-only program takes kds-s3sink's own flags and input and runs
//! kds-s3sink's own pipeline ([`kds_s3sink::sink::run_with`]: the reader thread, the bounded
//! channel, the buffers, object keys, gzip, the uploads with their multipart split and retries,
//! at most `--concurrency` at once) against [`NullStore`], an [`kds_aws::s3::S3Api`] that
//! accepts every call at once. It prints one JSON line: input and stored bytes, objects, and
//! the seconds of the run. Not installed, not one of the tools: the product has no flag for
//! this.
//!
//!   kds-s3sink-ceiling --bucket null --newline --buffer-size 5MiB [--compression gzip] FILE
//!
//! `--spill` is replaced by a fresh empty directory: the sink re-sends what earlier runs
//! spilled before it reads, and a benchmark must neither send real spilled objects into a
//! store that keeps nothing nor delete them.

mod null_store;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use kds_common::exit::Exit;
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;
use kds_s3sink::buffer::SystemClock;
use kds_s3sink::{Args, Config};

use null_store::NullStore;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kds-s3sink-ceiling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<String> {
    let mut config = Config::try_from(args)?;
    let spill = std::env::temp_dir().join(format!("kds-s3sink-ceiling-{}", std::process::id()));
    std::fs::create_dir_all(&spill).with_context(|| format!("creating {}", spill.display()))?;
    config.spill = spill.clone();
    let input_bytes: u64 = config
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()
        .context("reading the input files' sizes")?;
    let input = LineReader::open(&config.files)?;
    let store = Arc::new(NullStore::default());
    let runtime = kds_aws::runtime()?;
    let started = Instant::now();
    let exit = runtime.block_on(kds_s3sink::sink::run_with(
        Arc::new(config),
        Arc::clone(&store) as _,
        input,
        Output::new(std::io::sink()),
        Shutdown::manual(),
        Arc::new(SystemClock),
        started,
    ));
    let seconds = started.elapsed().as_secs_f64();
    // Nothing is spilled into a store that accepts every call; the directory goes either way.
    let _ = std::fs::remove_dir_all(&spill);
    anyhow::ensure!(exit? == Exit::Ok, "the sink did not end cleanly");
    Ok(format!(
        "{{\"input_bytes\":{input_bytes},\"objects\":{},\"stored_bytes\":{},\"gzip_isize_bytes\":{},\"seconds\":{seconds:.6},\"input_mb_per_s\":{:.1}}}",
        NullStore::get(&store.objects),
        NullStore::get(&store.stored_bytes),
        NullStore::get(&store.gzip_isize_bytes),
        input_bytes as f64 / 1e6 / seconds.max(1e-9),
    ))
}
