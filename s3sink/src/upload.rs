//! S3 writes: PutObject for small objects, multipart upload for large ones (aborted on
//! failure), every call through [`crate::retry::with_retries`] with one deadline per object.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::time::Instant;

use crate::config::limits::{MULTIPART_THRESHOLD, PART_SIZE};
use crate::retry::{with_retries, Failing};
use kds_aws::retry::error_code;
use kds_aws::s3::{S3Api, Target, Upload};

/// Writes objects into one bucket.
#[derive(Clone)]
pub struct Uploader {
    pub client: Arc<dyn S3Api>,
    pub bucket: String,
    pub retry_duration: Duration,
    /// Retries made, for the stats line.
    pub retries: Arc<AtomicU64>,
    /// Calls failing right now (the sink pauses its input while there are any).
    pub failing: Failing,
}

impl Uploader {
    fn at<'a>(&'a self, key: &'a str) -> Target<'a> {
        Target {
            bucket: &self.bucket,
            key,
        }
    }

    fn multipart_at<'a>(&'a self, key: &'a str, upload_id: &'a str) -> Upload<'a> {
        Upload {
            at: self.at(key),
            id: upload_id,
        }
    }

    /// Writes `body` at `key`, retrying until the retry duration is over.
    pub async fn upload(&self, key: &str, body: Bytes) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.retry_duration;
        if body.len() >= MULTIPART_THRESHOLD {
            self.multipart(key, body, deadline).await
        } else {
            with_retries(deadline, &self.retries, &self.failing, || {
                self.client.put_object(self.at(key), body.clone())
            })
            .await
            .map_err(|e| anyhow::anyhow!("PutObject s3://{}/{key}: {e}", self.bucket))?;
            Ok(())
        }
    }

    async fn multipart(&self, key: &str, body: Bytes, deadline: Instant) -> anyhow::Result<()> {
        let created = with_retries(deadline, &self.retries, &self.failing, || {
            self.client.create_multipart_upload(self.at(key))
        })
        .await
        .map_err(|e| anyhow::anyhow!("CreateMultipartUpload s3://{}/{key}: {e}", self.bucket))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "CreateMultipartUpload s3://{}/{key}: no upload id",
                    self.bucket
                )
            })?
            .to_string();
        let result = self.parts(key, &upload_id, &body, deadline).await;
        if result.is_err() {
            // Best effort: don't leave the parts behind (they cost storage).
            let _ = self
                .client
                .abort_multipart_upload(self.multipart_at(key, &upload_id))
                .await;
        }
        result
    }

    async fn parts(
        &self,
        key: &str,
        upload_id: &str,
        body: &Bytes,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let mut parts = Vec::new();
        for (i, start) in (0..body.len()).step_by(PART_SIZE).enumerate() {
            let chunk = body.slice(start..(start + PART_SIZE).min(body.len()));
            let number = i32::try_from(i + 1)?;
            let out = with_retries(deadline, &self.retries, &self.failing, || {
                self.client
                    .upload_part(self.multipart_at(key, upload_id), number, chunk.clone())
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!("UploadPart {number} of s3://{}/{key}: {e}", self.bucket)
            })?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        let mut attempts = 0u32;
        let done = with_retries(deadline, &self.retries, &self.failing, || {
            attempts += 1;
            self.client
                .complete_multipart_upload(self.multipart_at(key, upload_id), completed.clone())
        })
        .await;
        match done {
            Ok(_) => Ok(()),
            // A retried Complete whose first answer was lost: the upload is gone because it
            // completed. Check the object is there with the full size.
            Err(e) if attempts > 1 && error_code(&e.last) == Some("NoSuchUpload") => {
                let head = self.client.head_object(self.at(key)).await;
                match head {
                    Ok(h) if h.content_length() == Some(body.len() as i64) => Ok(()),
                    _ => Err(anyhow::anyhow!(
                        "CompleteMultipartUpload s3://{}/{key}: {e}",
                        self.bucket
                    )),
                }
            }
            Err(e) => Err(anyhow::anyhow!(
                "CompleteMultipartUpload s3://{}/{key}: {e}",
                self.bucket
            )),
        }
    }
}

#[cfg(test)]
mod fake_tests;
