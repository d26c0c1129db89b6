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

/// The S3 calls of kds-s3sink's uploads.
pub trait S3Api: Send + Sync {
    fn put_object(&self, at: Target<'_>, body: Bytes) -> Call<'_, PutObjectOutput, PutObjectError>;

    fn create_multipart_upload(
        &self,
        at: Target<'_>,
    ) -> Call<'_, CreateMultipartUploadOutput, CreateMultipartUploadError>;

    fn upload_part(
        &self,
        at: Target<'_>,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Call<'_, UploadPartOutput, UploadPartError>;

    fn complete_multipart_upload(
        &self,
        at: Target<'_>,
        upload_id: &str,
        parts: CompletedMultipartUpload,
    ) -> Call<'_, CompleteMultipartUploadOutput, CompleteMultipartUploadError>;

    fn abort_multipart_upload(
        &self,
        at: Target<'_>,
        upload_id: &str,
    ) -> Call<'_, AbortMultipartUploadOutput, AbortMultipartUploadError>;

    fn head_object(&self, at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError>;
}

impl S3Api for aws_sdk_s3::Client {
    fn put_object(&self, at: Target<'_>, body: Bytes) -> Call<'_, PutObjectOutput, PutObjectError> {
        let req = self
            .put_object()
            .bucket(at.bucket)
            .key(at.key)
            .body(ByteStream::from(body));
        Box::pin(req.send())
    }

    fn create_multipart_upload(
        &self,
        at: Target<'_>,
    ) -> Call<'_, CreateMultipartUploadOutput, CreateMultipartUploadError> {
        Box::pin(
            self.create_multipart_upload()
                .bucket(at.bucket)
                .key(at.key)
                .send(),
        )
    }

    fn upload_part(
        &self,
        at: Target<'_>,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Call<'_, UploadPartOutput, UploadPartError> {
        let req = self
            .upload_part()
            .bucket(at.bucket)
            .key(at.key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body));
        Box::pin(req.send())
    }

    fn complete_multipart_upload(
        &self,
        at: Target<'_>,
        upload_id: &str,
        parts: CompletedMultipartUpload,
    ) -> Call<'_, CompleteMultipartUploadOutput, CompleteMultipartUploadError> {
        let req = self
            .complete_multipart_upload()
            .bucket(at.bucket)
            .key(at.key)
            .upload_id(upload_id)
            .multipart_upload(parts);
        Box::pin(req.send())
    }

    fn abort_multipart_upload(
        &self,
        at: Target<'_>,
        upload_id: &str,
    ) -> Call<'_, AbortMultipartUploadOutput, AbortMultipartUploadError> {
        let req = self
            .abort_multipart_upload()
            .bucket(at.bucket)
            .key(at.key)
            .upload_id(upload_id);
        Box::pin(req.send())
    }

    fn head_object(&self, at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError> {
        Box::pin(self.head_object().bucket(at.bucket).key(at.key).send())
    }
}
