//! Delivery, one object per flushed buffer: named by the prefix expressions, compressed,
//! uploaded with retries ([`crate::upload`]), and spilled to disk when S3 keeps failing
//! (AWS page "Handle data delivery failure" of the Firehose developer guide); and, before the
//! input is read, the re-send of what earlier runs spilled.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::{mpsc, Semaphore};

use crate::buffer::Flushed;
use crate::config::Config;
use crate::input::Dest;
use crate::key::{self, EvalContext};
use crate::outcome::Outcome;
use crate::upload::Uploader;

/// The object key for a flushed buffer.
pub fn object_key(config: &Config, f: &Flushed) -> Result<String, key::PrefixError> {
    let (prefix, error_type, values): (_, &str, &[String]) = match &f.dest {
        Dest::Main(values) => (&config.prefixes.main, "", values),
        Dest::Error(t) => (&config.prefixes.error, t, &[]),
    };
    let pairs: Vec<(String, String)> = config
        .partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| (k.name.clone(), v.clone()))
        .collect();
    let mut random = key::random_string;
    let mut ctx = EvalContext {
        arrival_ms: f.oldest_arrival_ms,
        tz: config.tz,
        error_output_type: error_type,
        partition_values: &pairs,
        random_string: &mut random,
    };
    let mut k = key::evaluate(prefix, &mut ctx)?;
    k.push_str(&key::object_suffix(
        &config.name,
        config.stream_version,
        f.oldest_arrival_ms,
        config.tz,
        &uuid::Uuid::new_v4(),
        config.gzip,
    ));
    Ok(k)
}

pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// Starts one upload task per object, at most `--concurrency` at once (one slot each), and
/// sends each task's [`Outcome`] to the printer.
pub(crate) struct Shipper {
    pub(crate) config: Arc<Config>,
    pub(crate) uploader: Uploader,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Shipper {
    /// Starts the upload of every flushed buffer, waiting for a free slot for each.
    pub(crate) async fn ship(&self, flushed: &mut Vec<Flushed>) -> anyhow::Result<()> {
        for f in flushed.drain(..) {
            let permit = Arc::clone(&self.slots)
                .acquire_owned()
                .await
                .context("upload slots closed")?;
            let config = Arc::clone(&self.config);
            let uploader = self.uploader.clone();
            let outcomes = self.outcomes.clone();
            tokio::spawn(async move {
                let outcome = deliver(&config, &uploader, f).await;
                drop(permit);
                let _ = outcomes.send(outcome);
            });
        }
        Ok(())
    }

    /// Re-sends, under the keys they were meant for, the objects earlier runs spilled. PUT
    /// of the same key with the same bytes leaves one object, so an object whose first
    /// delivery did land (its answer was lost) is not duplicated. A file is removed once
    /// delivered; one that still fails stays for the next run.
    pub(crate) async fn resend_spilled(&self) -> anyhow::Result<()> {
        // Once one re-send has used up its retries S3 is likely still down: leave the rest for
        // the next run rather than spend the retry duration on each of them.
        let gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (path, key) in crate::spill::pending(&self.config.spill)? {
            if gave_up.load(Ordering::Relaxed) {
                break;
            }
            let Some(key) = key else {
                let error = "not an object key; deliver or remove it by hand".to_string();
                let _ = self.outcomes.send(Outcome::NotResent { path, error });
                continue;
            };
            let permit = Arc::clone(&self.slots)
                .acquire_owned()
                .await
                .context("upload slots closed")?;
            let uploader = self.uploader.clone();
            let outcomes = self.outcomes.clone();
            let gave_up = Arc::clone(&gave_up);
            tokio::spawn(async move {
                let outcome = resend(&uploader, path, key).await;
                if matches!(outcome, Outcome::NotResent { .. }) {
                    gave_up.store(true, Ordering::Relaxed);
                }
                drop(permit);
                let _ = outcomes.send(outcome);
            });
        }
        Ok(())
    }
}

async fn resend(uploader: &Uploader, path: PathBuf, key: String) -> Outcome {
    let body = match tokio::fs::read(&path).await {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            let error = format!("cannot read it: {e}");
            return Outcome::NotResent { path, error };
        }
    };
    let bytes = body.len();
    if let Err(e) = uploader.upload(&key, body).await {
        let error = format!("{e:#}");
        return Outcome::NotResent { path, error };
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Outcome::Resent { key, bytes },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Resent { key, bytes },
        Err(e) => {
            // Delivered: the next run will PUT it again, harmlessly (same key, same bytes).
            let error = format!("delivered to {key}, but cannot remove the file: {e}");
            Outcome::NotResent { path, error }
        }
    }
}

async fn deliver(config: &Config, uploader: &Uploader, f: Flushed) -> Outcome {
    let records = f.records;
    let key = match object_key(config, &f) {
        Ok(k) => k,
        Err(e) => {
            // Only an over-long evaluated prefix gets here: keep the data, named by a fresh UUID.
            let key = format!("unnamed-{}", uuid::Uuid::new_v4());
            return spill(
                config,
                key,
                records,
                &f.data,
                format!("cannot name the object: {e}"),
            );
        }
    };
    let body = if config.gzip {
        match tokio::task::spawn_blocking(move || gzip(&f.data)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                return Outcome::Lost {
                    key,
                    records,
                    error: format!("gzip: {e}"),
                }
            }
            Err(e) => {
                return Outcome::Lost {
                    key,
                    records,
                    error: format!("gzip task: {e}"),
                }
            }
        }
    } else {
        f.data
    };
    let body = Bytes::from(body);
    match uploader.upload(&key, body.clone()).await {
        Ok(()) => Outcome::Delivered {
            key,
            records,
            bytes: body.len(),
        },
        Err(e) => spill(config, key, records, &body, format!("{e:#}")),
    }
}

fn spill(config: &Config, key: String, records: u64, body: &[u8], error: String) -> Outcome {
    match crate::spill::write(&config.spill, &key, body) {
        Ok(path) => Outcome::Spilled {
            key,
            records,
            path,
            error,
        },
        Err(e) => Outcome::Lost {
            key,
            records,
            error: format!("{error}; and {e:#}"),
        },
    }
}
