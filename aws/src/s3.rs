//! The S3 calls kds-s3sink makes, behind one narrow trait ([`S3Api`]): the SDK client
//! implements it, unit tests use the scripted `crate::fake::FakeS3`. Answers are the SDK's own
//! output and error types.

use aws_sdk_s3::operation::abort_multipart_upload::{
    AbortMultipartUploadError, AbortMultipartUploadOutput,
};
use aws_sdk_s3::operation::complete_multipart_upload::{
    CompleteMultipartUploadError, CompleteMultipartUploadOutput,
};
use aws_sdk_s3::operation::create_multipart_upload::{
    CreateMultipartUploadError, CreateMultipartUploadOutput,
};
use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedMultipartUpload;
use bytes::Bytes;

pub use crate::kinesis::Call;

/// Where an object goes: bucket and key.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

/// One multipart upload in progress: where it goes and the id CreateMultipartUpload gave it.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub at: Target<'a>,
    pub id: &'a str,
}

/// The S3 calls of kds-s3sink: its start-up check and its uploads.
pub trait S3Api: Send + Sync {
    /// The start-up check ([`crate::preflight::bucket_reachable`]).
    fn head_bucket(&self, bucket: &str) -> Call<'_, HeadBucketOutput, HeadBucketError>;

    fn put_object(&self, at: Target<'_>, body: Bytes) -> Call<'_, PutObjectOutput, PutObjectError>;

    fn create_multipart_upload(
        &self,
        at: Target<'_>,
    ) -> Call<'_, CreateMultipartUploadOutput, CreateMultipartUploadError>;

    fn upload_part(
        &self,
        upload: Upload<'_>,
        part_number: i32,
        body: Bytes,
    ) -> Call<'_, UploadPartOutput, UploadPartError>;

    fn complete_multipart_upload(
        &self,
        upload: Upload<'_>,
        parts: CompletedMultipartUpload,
    ) -> Call<'_, CompleteMultipartUploadOutput, CompleteMultipartUploadError>;

    fn abort_multipart_upload(
        &self,
        upload: Upload<'_>,
    ) -> Call<'_, AbortMultipartUploadOutput, AbortMultipartUploadError>;

    fn head_object(&self, at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError>;
}

/// A request builder addressed to an object (`bucket`, `key`): every object call's builder has
/// the same two setters but no trait in common.
macro_rules! at_object {
    ($request:expr, $at:expr) => {
        $request.bucket($at.bucket).key($at.key)
    };
}

/// A request builder addressed to a multipart upload: its object and its upload id.
macro_rules! in_upload {
    ($request:expr, $upload:expr) => {
        at_object!($request, $upload.at).upload_id($upload.id)
    };
}

impl S3Api for aws_sdk_s3::Client {
    fn head_bucket(&self, bucket: &str) -> Call<'_, HeadBucketOutput, HeadBucketError> {
        Box::pin(self.head_bucket().bucket(bucket).send())
    }

    fn put_object(&self, at: Target<'_>, body: Bytes) -> Call<'_, PutObjectOutput, PutObjectError> {
        let req = at_object!(self.put_object(), at).body(ByteStream::from(body));
        Box::pin(req.send())
    }

    fn create_multipart_upload(
        &self,
        at: Target<'_>,
    ) -> Call<'_, CreateMultipartUploadOutput, CreateMultipartUploadError> {
        Box::pin(at_object!(self.create_multipart_upload(), at).send())
    }

    fn upload_part(
        &self,
        upload: Upload<'_>,
        part_number: i32,
        body: Bytes,
    ) -> Call<'_, UploadPartOutput, UploadPartError> {
        let req = in_upload!(self.upload_part(), upload).part_number(part_number);
        Box::pin(req.body(ByteStream::from(body)).send())
    }

    fn complete_multipart_upload(
        &self,
        upload: Upload<'_>,
        parts: CompletedMultipartUpload,
    ) -> Call<'_, CompleteMultipartUploadOutput, CompleteMultipartUploadError> {
        let req = in_upload!(self.complete_multipart_upload(), upload);
        Box::pin(req.multipart_upload(parts).send())
    }

    fn abort_multipart_upload(
        &self,
        upload: Upload<'_>,
    ) -> Call<'_, AbortMultipartUploadOutput, AbortMultipartUploadError> {
        Box::pin(in_upload!(self.abort_multipart_upload(), upload).send())
    }

    fn head_object(&self, at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError> {
        Box::pin(at_object!(self.head_object(), at).send())
    }
}
