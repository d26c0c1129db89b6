//! The start-up checks against scripted answers: what each answer of DescribeStreamSummary and
//! HeadBucket makes of the run (go on, wait, or stop with a usage error).

use aws_sdk_kinesis::operation::describe_stream_summary::{
    DescribeStreamSummaryError, DescribeStreamSummaryOutput,
};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::error::{AccessDeniedException, ResourceNotFoundException};
use aws_sdk_kinesis::types::StreamDescriptionSummary;
use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
use kds_common::exit::is_usage;

use super::*;
use crate::fake::{
    meta, service_error, service_error_with_headers, FakeKinesis, FakeS3, KinesisCall, S3Call,
};

fn summary(status: StreamStatus, max_record_kib: Option<i32>) -> DescribeStreamSummaryOutput {
    let built = StreamDescriptionSummary::builder()
        .stream_name("s")
        .stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/s")
        .stream_status(status)
        .retention_period_hours(24)
        .stream_creation_timestamp(DateTime::from_secs(0))
        .set_enhanced_monitoring(Some(Vec::new()))
        .open_shard_count(1)
        .set_max_record_size_in_kib(max_record_kib)
        .build()
        .unwrap_or_else(|e| panic!("stream summary: {e}"));
    DescribeStreamSummaryOutput::builder()
        .stream_description_summary(built)
        .build()
}

fn describe_calls(fake: &FakeKinesis) -> usize {
    let calls = fake.calls();
    assert!(calls
        .iter()
        .all(|c| matches!(c, KinesisCall::DescribeStreamSummary { stream } if stream == "s")));
    calls.len()
}

#[tokio::test]
async fn an_active_stream_goes_on_with_its_largest_record() {
    let fake = FakeKinesis::new();
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Active, Some(2048))));
    let max = stream_active(&fake, "s", "test").await.expect("active");
    assert_eq!(max, Some(2048 * 1024));
    assert_eq!(describe_calls(&fake), 1);
}

#[tokio::test]
async fn without_a_record_limit_in_the_answer_the_default_stays() {
    let fake = FakeKinesis::new();
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Active, None)));
    let max = stream_active(&fake, "s", "test").await.expect("active");
    assert_eq!(max, None);
}

#[tokio::test]
async fn an_updating_stream_is_asked_again_until_it_is_active() {
    let fake = FakeKinesis::new();
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Updating, Some(1024))));
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Updating, Some(1024))));
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Active, Some(4096))));
    let max = stream_active(&fake, "s", "test").await.expect("active");
    assert_eq!(max, Some(4096 * 1024), "the limit of the ACTIVE answer");
    assert_eq!(describe_calls(&fake), 3);
}

#[tokio::test]
async fn a_stream_being_deleted_is_a_usage_error() {
    let fake = FakeKinesis::new();
    fake.push_describe_stream_summary(Ok(summary(StreamStatus::Deleting, None)));
    let err = stream_active(&fake, "s", "test")
        .await
        .expect_err("deleting");
    assert!(is_usage(&err), "{err:#}");
    assert!(
        err.to_string().contains("stream s is being deleted"),
        "{err}"
    );
}

/// A Kinesis whose DescribeStreamSummary answers `err` (HTTP 400).
fn refusing(err: DescribeStreamSummaryError) -> FakeKinesis {
    let fake = FakeKinesis::new();
    fake.push_describe_stream_summary(Err(service_error(400, err)));
    fake
}

/// A missing stream, and AccessDenied for a policy without kinesis:DescribeStreamSummary: the
/// tool's own listing reports them in its words, so the check lets the run go on at once.
#[tokio::test]
async fn a_missing_stream_or_a_refused_check_is_left_to_the_tools_listing() {
    let not_found = DescribeStreamSummaryError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .meta(meta("ResourceNotFoundException", "Stream s not found"))
            .build(),
    );
    let denied = DescribeStreamSummaryError::AccessDeniedException(
        AccessDeniedException::builder()
            .meta(meta("AccessDeniedException", "not authorized"))
            .build(),
    );
    for err in [not_found, denied] {
        let code = err.meta().code().unwrap_or_default().to_string();
        let fake = refusing(err);
        let max = stream_active(&fake, "s", "test").await;
        assert_eq!(max.expect("not fatal"), None, "{code}");
        assert_eq!(describe_calls(&fake), 1, "{code}: not asked again");
    }
}

#[tokio::test]
async fn unknown_credentials_stop_the_stream_check_with_the_fix() {
    let fake = refusing(DescribeStreamSummaryError::generic(meta(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )));
    let err = stream_active(&fake, "s", "test")
        .await
        .expect_err("credentials");
    assert!(is_usage(&err), "{err:#}");
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

fn head_error(status: u16, headers: &[(&'static str, &str)], code: &str) -> FakeS3 {
    let fake = FakeS3::new();
    let err = HeadBucketError::generic(meta(code, ""));
    fake.push_head_bucket(Err(service_error_with_headers(status, headers, err)));
    fake
}

async fn check_bucket(fake: &FakeS3) -> anyhow::Result<()> {
    let result = bucket_reachable(fake, "b", "us-east-1").await;
    assert_eq!(
        fake.calls(),
        [S3Call::HeadBucket { bucket: "b".into() }],
        "one HeadBucket of the bucket"
    );
    result
}

#[tokio::test]
async fn a_bucket_that_answers_goes_on() {
    let fake = FakeS3::new();
    fake.push_head_bucket(Ok(HeadBucketOutput::builder().build()));
    check_bucket(&fake).await.expect("reachable");
}

/// HeadBucket's HTTP status, headers and error code, and what the usage error must say.
struct Refusal(u16, Headers, &'static str, &'static [&'static str]);
type Headers = &'static [(&'static str, &'static str)];

/// Each answer that ends the run: HTTP status, headers and error code, and what the usage
/// error must say.
#[tokio::test]
async fn a_missing_refused_or_misplaced_bucket_is_a_usage_error_naming_the_fix() {
    let cases = [
        Refusal(404, &[], "NotFound", &["bucket b does not exist"]),
        Refusal(
            403,
            &[],
            "Forbidden",
            &["refused (HTTP 403)", "s3:ListBucket"],
        ),
        Refusal(
            301,
            &[("x-amz-bucket-region", "eu-west-1")],
            "",
            &["use --region eu-west-1"],
        ),
        Refusal(403, &[], "InvalidAccessKeyId", &["AWS_ACCESS_KEY_ID"]),
    ];
    for Refusal(status, headers, code, says) in cases {
        let fake = head_error(status, headers, code);
        let err = check_bucket(&fake).await.expect_err("fatal");
        assert!(is_usage(&err), "HTTP {status} {code}: {err:#}");
        for words in says {
            assert!(
                err.to_string().contains(words),
                "HTTP {status} {code}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_server_failure_is_left_to_the_uploads() {
    // Same region named, HTTP 500: the uploads retry and spill as usual.
    let fake = head_error(
        500,
        &[("x-amz-bucket-region", "us-east-1")],
        "InternalError",
    );
    check_bucket(&fake).await.expect("not fatal");
}
