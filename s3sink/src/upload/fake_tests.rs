//! Uploads against a scripted S3 (no emulator, no network): throttling (SlowDown 503) retried
//! until it passes, a multipart upload whose part fails for good (aborted, never completed),
//! and a part that fails once (only that part is sent again).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
use bytes::Bytes;
use kds_aws::fake::{meta, service_error, FakeS3, S3Call};

use super::Uploader;
use crate::config::limits::{MULTIPART_THRESHOLD, PART_SIZE};
use crate::retry::Failing;

fn uploader(fake: &Arc<FakeS3>) -> Uploader {
    Uploader {
        client: Arc::clone(fake) as _,
        bucket: "b".into(),
        retry_duration: Duration::from_secs(30),
        retries: Arc::new(AtomicU64::new(0)),
        failing: Failing::default(),
    }
}

fn part(etag: &str) -> UploadPartOutput {
    UploadPartOutput::builder().e_tag(etag).build()
}

fn created() -> CreateMultipartUploadOutput {
    CreateMultipartUploadOutput::builder()
        .upload_id("u-1")
        .build()
}

fn big_body() -> Bytes {
    Bytes::from(vec![b'x'; MULTIPART_THRESHOLD])
}

#[tokio::test]
async fn slow_down_is_retried_until_the_object_is_written() {
    let fake = Arc::new(FakeS3::new());
    let up = uploader(&fake);
    for _ in 0..2 {
        fake.push_put_object(Err(service_error(
            503,
            PutObjectError::generic(meta("SlowDown", "Please reduce your request rate.")),
        )));
    }
    fake.push_put_object(Ok(PutObjectOutput::builder().build()));
    up.upload("k", Bytes::from_static(b"{}\n"))
        .await
        .expect("written");
    assert_eq!(up.retries.load(Ordering::Relaxed), 2);
    assert_eq!(fake.calls().len(), 3);
    assert_eq!(
        *up.failing.subscribe().borrow(),
        0,
        "no call is failing any more"
    );
}

#[tokio::test]
async fn a_part_that_fails_for_good_aborts_the_upload() {
    let fake = Arc::new(FakeS3::new());
    let up = uploader(&fake);
    fake.push_create_multipart_upload(Ok(created()));
    fake.push_upload_part(Ok(part("e1")));
    fake.push_upload_part(Err(service_error(
        403,
        UploadPartError::generic(meta("AccessDenied", "Access Denied")),
    )));
    fake.push_abort_multipart_upload(Ok(AbortMultipartUploadOutput::builder().build()));
    let err = up
        .upload("k", big_body())
        .await
        .expect_err("part 2 refused");
    assert!(
        err.to_string().contains("UploadPart 2 of s3://b/k"),
        "{err}"
    );
    assert_eq!(
        fake.calls(),
        vec![
            S3Call::CreateMultipartUpload { key: "k".into() },
            S3Call::UploadPart {
                key: "k".into(),
                upload_id: "u-1".into(),
                part: 1,
                len: PART_SIZE
            },
            S3Call::UploadPart {
                key: "k".into(),
                upload_id: "u-1".into(),
                part: 2,
                len: PART_SIZE
            },
            S3Call::AbortMultipartUpload {
                key: "k".into(),
                upload_id: "u-1".into()
            },
        ]
    );
}

#[tokio::test]
async fn a_part_that_fails_once_is_sent_again_alone() {
    let fake = Arc::new(FakeS3::new());
    let up = uploader(&fake);
    fake.push_create_multipart_upload(Ok(created()));
    fake.push_upload_part(Ok(part("e1")));
    fake.push_upload_part(Err(service_error(
        500,
        UploadPartError::generic(meta("InternalError", "try again")),
    )));
    fake.push_upload_part(Ok(part("e2")));
    fake.push_complete_multipart_upload(Ok(CompleteMultipartUploadOutput::builder().build()));
    up.upload("k", big_body()).await.expect("written");
    let parts: Vec<i32> = fake
        .calls()
        .iter()
        .filter_map(|c| match c {
            S3Call::UploadPart { part, .. } => Some(*part),
            _ => None,
        })
        .collect();
    assert_eq!(parts, [1, 2, 2]);
    assert!(fake.calls().contains(&S3Call::CompleteMultipartUpload {
        key: "k".into(),
        upload_id: "u-1".into(),
        parts: vec![1, 2],
    }));
    assert_eq!(up.retries.load(Ordering::Relaxed), 1);
}
