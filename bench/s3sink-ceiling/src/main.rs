//! kds-s3sink-ceiling: kds-s3sink's own ceiling, apart from any S3 emulator.
//!
//! moto_server bounds kds-s3sink at tens of MB/s, so bench/s3sink.sh cannot say what the sink
//! itself costs. This benchmark-only program takes kds-s3sink's own flags and input, and runs
//! the sink's pipeline out of the library's parts — the reader thread parsing blocks into
//! batches ([`RecordParser`]), the bounded channel, the size and interval buffers
//! ([`Buffers`]), object keys ([`object_key`]), gzip ([`gzip`]), and the [`Uploader`] with its
//! multipart split and retry wrapper, at most `--concurrency` objects at once — against
//! [`NullStore`], an [`kds_aws::s3::S3Api`] that accepts every call at once. It prints one JSON
//! line: lines, input and stored bytes, objects, and the seconds from the first read to the
//! last upload. Not installed, not one of the tools: the product has no flag for this.
//!
//!   kds-s3sink-ceiling --bucket null --newline --buffer-size 5MiB [--compression gzip] FILE

mod null_store;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use kds_common::io::LineReader;
use kds_s3sink::buffer::{Buffers, Clock, Flushed, SystemClock};
use kds_s3sink::input::{Batch, RecordParser};
use kds_s3sink::retry::Failing;
use kds_s3sink::sink::{gzip, object_key, CHANNEL_BATCHES};
use kds_s3sink::upload::Uploader;
use kds_s3sink::{Args, Config};
use tokio::sync::{mpsc, Semaphore};

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
    let config = Arc::new(Config::try_from(args)?);
    let input = LineReader::open(&config.files)?;
    let store = Arc::new(NullStore::default());
    let runtime = kds_aws::runtime()?;
    let started = Instant::now();
    let (lines, input_bytes) = runtime.block_on(pipeline(Arc::clone(&config), input, &store))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"lines\":{lines},\"input_bytes\":{input_bytes},\"objects\":{},\"stored_bytes\":{},\"gzip_isize_bytes\":{},\"seconds\":{seconds:.6},\"input_mb_per_s\":{:.1}}}",
        NullStore::get(&store.objects),
        NullStore::get(&store.stored_bytes),
        NullStore::get(&store.gzip_isize_bytes),
        input_bytes as f64 / 1e6 / seconds.max(1e-9),
    ))
}

/// Reader thread → channel → buffers → one task per object (gzip, key, upload); returns the
/// input lines and bytes once every object is uploaded.
async fn pipeline(
    config: Arc<Config>,
    input: LineReader,
    store: &Arc<NullStore>,
) -> Result<(u64, u64)> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (tx, mut rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let parser = RecordParser::new(&config);
    let reader_clock = Arc::clone(&clock);
    let reader = std::thread::spawn(move || parser.send_batches(input, reader_clock.as_ref(), &tx));
    let client: Arc<dyn kds_aws::s3::S3Api> = Arc::clone(store) as _;
    let uploads = Uploads {
        slots: Arc::new(Semaphore::new(config.concurrency)),
        uploader: Uploader {
            client,
            bucket: config.bucket.clone(),
            retry_duration: config.retry_duration,
            retries: Arc::default(),
            failing: Failing::default(),
        },
        config: Arc::clone(&config),
    };
    let mut buffers = Buffers::new(config.buffer_size, config.buffer_interval);
    let mut due = Vec::new();
    let (mut lines, mut input_bytes) = (0, 0);
    while let Some(batch) = rx.recv().await {
        lines += batch.lines;
        input_bytes += batch.input_bytes;
        for r in &batch.records {
            let bytes = batch.record_bytes(r);
            buffers.add(&r.dest, bytes, r.arrival_ms, batch.received_ms, &mut due);
        }
        buffers.take_due(clock.now_ms(), &mut due);
        uploads.start(&mut due).await?;
    }
    buffers.take_all(&mut due);
    uploads.start(&mut due).await?;
    uploads.wait_all().await?;
    match reader.join() {
        Ok(read) => read.context("reading input")?,
        Err(_) => anyhow::bail!("the reader thread panicked"),
    }
    Ok((lines, input_bytes))
}

struct Uploads {
    slots: Arc<Semaphore>,
    uploader: Uploader,
    config: Arc<Config>,
}

impl Uploads {
    /// One task per object, each holding an upload slot until its object is stored.
    async fn start(&self, due: &mut Vec<Flushed>) -> Result<()> {
        for object in due.drain(..) {
            let slot = Arc::clone(&self.slots).acquire_owned().await?;
            let uploader = self.uploader.clone();
            let config = Arc::clone(&self.config);
            tokio::spawn(async move {
                if let Err(e) = store_object(&config, &uploader, object).await {
                    eprintln!("kds-s3sink-ceiling: {e:#}");
                    std::process::exit(1);
                }
                drop(slot);
            });
        }
        Ok(())
    }

    async fn wait_all(&self) -> Result<()> {
        let all = u32::try_from(self.config.concurrency)?;
        let _slots = self.slots.acquire_many(all).await?;
        Ok(())
    }
}

/// What kds-s3sink does with a due buffer: name it, gzip it off the async threads when asked,
/// upload it.
async fn store_object(config: &Config, uploader: &Uploader, object: Flushed) -> Result<()> {
    let key = object_key(config, &object)?;
    let body = if config.gzip {
        tokio::task::spawn_blocking(move || gzip(&object.data)).await??
    } else {
        object.data
    };
    uploader.upload(&key, Bytes::from(body)).await
}
