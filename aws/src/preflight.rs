//! One cheap call at start-up that proves the credentials and the target before any record is
//! read: DescribeStreamSummary for a stream, HeadBucket for a bucket.
//!
//! Bad credentials answer this call with UnrecognizedClientException, InvalidAccessKeyId,
//! SignatureDoesNotMatch or ExpiredToken: the run ends at once with exit 2 and the fix, instead
//! of retrying every record as if the network had failed.

use std::time::Duration;

use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_s3::error::SdkError;
use kds_common::diag;
use kds_common::exit::usage;

use crate::error::credentials_error;
use crate::kinesis::KinesisApi;
use crate::s3::S3Api;

/// Longest wait for a CREATING or UPDATING stream to become ACTIVE. AWS page "Create a stream
/// in Kinesis Data Streams": a new stream is usually ACTIVE within a minute or two.
pub const STREAM_ACTIVE_WAIT: Duration = Duration::from_secs(180);
/// Pause between two DescribeStreamSummary calls while waiting.
const STREAM_POLL: Duration = Duration::from_millis(500);

/// What one DescribeStreamSummary answer says.
struct Summary {
    /// `None` when the answer has no summary: taken as ACTIVE.
    status: Option<StreamStatus>,
    /// The stream's largest record in bytes, when the answer names it.
    max_record: Option<usize>,
}

/// Waits until `stream` is ACTIVE (bounded, each new status reported on stderr as `tool:`).
/// Returns the stream's largest record in bytes when the answer names it
/// (`MaxRecordSizeInKiB`, AWS page "UpdateMaxRecordSize": 1024 to 10240 KiB); `None` when the
/// call was refused or failed, or the field is absent, and the caller keeps the 1 MiB default.
///
/// A missing stream, throttling or a network failure are left to the tool's own listing, which
/// retries and reports them in its words; bad credentials and a stream being deleted are usage
/// errors.
pub async fn stream_active(
    api: &dyn KinesisApi,
    stream: &str,
    tool: &str,
) -> anyhow::Result<Option<usize>> {
    let started = tokio::time::Instant::now();
    let mut reported: Option<StreamStatus> = None;
    loop {
        let Some(summary) = describe(api, stream).await? else {
            return Ok(None);
        };
        let other = match summary.status {
            Some(StreamStatus::Active) | None => return Ok(summary.max_record),
            Some(StreamStatus::Deleting) => {
                return Err(usage(format!("stream {stream} is being deleted")))
            }
            Some(other) => other,
        };
        if started.elapsed() >= STREAM_ACTIVE_WAIT {
            return Err(usage(format!(
                "stream {stream} is still {} after {}s: try again when it is ACTIVE",
                other.as_str(),
                STREAM_ACTIVE_WAIT.as_secs()
            )));
        }
        if reported.as_ref() != Some(&other) {
            diag!(
                "{tool}: stream {stream} is {}; waiting for ACTIVE (up to {}s)",
                other.as_str(),
                STREAM_ACTIVE_WAIT.as_secs()
            );
            reported = Some(other);
        }
        tokio::time::sleep(STREAM_POLL).await;
    }
}

/// One DescribeStreamSummary: its answer, `None` when the call failed for a reason the tool's
/// own listing retries and reports (a missing stream, throttling, a network failure,
/// AccessDenied for a policy without kinesis:DescribeStreamSummary), or the usage error for
/// refused credentials.
async fn describe(api: &dyn KinesisApi, stream: &str) -> anyhow::Result<Option<Summary>> {
    let out = match api.describe_stream_summary(stream).await {
        Ok(out) => out,
        Err(e) => return credentials_error(&e).map_or(Ok(None), Err),
    };
    let summary = out.stream_description_summary();
    let max_record = summary
        .and_then(|s| s.max_record_size_in_kib())
        .and_then(|kib| usize::try_from(kib).ok())
        .map(|kib| kib * 1024);
    Ok(Some(Summary {
        status: summary.map(|s| s.stream_status().clone()),
        max_record,
    }))
}

/// HeadBucket: a missing bucket, a bucket in another region (S3 names it in the
/// `x-amz-bucket-region` header of its 301 or 400 answer, AWS page "HeadBucket" of the Amazon
/// S3 API Reference) and refused credentials end the run with exit 2. A network or server
/// failure does not: the uploads will retry and spill as usual.
pub async fn bucket_reachable(api: &dyn S3Api, bucket: &str, region: &str) -> anyhow::Result<()> {
    let err = match api.head_bucket(bucket).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    if let Some(fatal) = credentials_error(&err) {
        return Err(fatal);
    }
    let SdkError::ServiceError(ctx) = &err else {
        return Ok(());
    };
    let status = ctx.raw().status().as_u16();
    if let Some(actual) = ctx.raw().headers().get("x-amz-bucket-region") {
        if actual != region {
            return Err(usage(format!(
                "bucket {bucket} is in {actual}: use --region {actual}"
            )));
        }
    }
    match status {
        404 => Err(usage(format!("bucket {bucket} does not exist"))),
        401 | 403 => Err(usage(format!(
            "access to bucket {bucket} refused (HTTP {status}): check the credentials \
             (AWS_ACCESS_KEY_ID, --profile) and that they may s3:ListBucket and s3:PutObject on it"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
