//! An object store that accepts every call at once and keeps nothing but counts: what is left
//! of an upload when S3 costs nothing.

use std::sync::atomic::{AtomicU64, Ordering};

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
use aws_sdk_s3::types::CompletedMultipartUpload;
use bytes::Bytes;
use kds_aws::s3::{Call, S3Api, Target, Upload};

/// Counts of what reached the store.
#[derive(Default)]
pub struct NullStore {
    /// Objects written (PutObject, or a completed multipart upload).
    pub objects: AtomicU64,
    /// Bytes of every body, as sent (compressed when gzip).
    pub stored_bytes: AtomicU64,
    /// For gzip bodies sent whole: the uncompressed size from each gzip trailer (ISIZE, RFC 1952),
    /// so a gzip run is checked against its input without spending time on decompression.
    pub gzip_isize_bytes: AtomicU64,
}

impl NullStore {
    fn count_body(&self, body: &Bytes) {
        self.stored_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The uncompressed size a gzip member's trailer states (little-endian, modulo 2^32).
fn gzip_isize(body: &[u8]) -> Option<u64> {
    let [0x1f, 0x8b, ..] = body else { return None };
    let tail: [u8; 4] = body.get(body.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(u64::from(u32::from_le_bytes(tail)))
}

impl S3Api for NullStore {
    fn head_bucket(&self, _bucket: &str) -> Call<'_, HeadBucketOutput, HeadBucketError> {
        Box::pin(async { Ok(HeadBucketOutput::builder().build()) })
    }

    fn put_object(
        &self,
        _at: Target<'_>,
        body: Bytes,
    ) -> Call<'_, PutObjectOutput, PutObjectError> {
        self.count_body(&body);
        if let Some(size) = gzip_isize(&body) {
            self.gzip_isize_bytes.fetch_add(size, Ordering::Relaxed);
        }
        self.objects.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(PutObjectOutput::builder().build()) })
    }

    fn create_multipart_upload(
        &self,
        _at: Target<'_>,
    ) -> Call<'_, CreateMultipartUploadOutput, CreateMultipartUploadError> {
        let out = CreateMultipartUploadOutput::builder()
            .upload_id("null")
            .build();
        Box::pin(async { Ok(out) })
    }

    fn upload_part(
        &self,
        _upload: Upload<'_>,
        part_number: i32,
        body: Bytes,
    ) -> Call<'_, UploadPartOutput, UploadPartError> {
        self.count_body(&body);
        let out = UploadPartOutput::builder()
            .e_tag(format!("\"part-{part_number}\""))
            .build();
        Box::pin(async { Ok(out) })
    }

    fn complete_multipart_upload(
        &self,
        _upload: Upload<'_>,
        _parts: CompletedMultipartUpload,
    ) -> Call<'_, CompleteMultipartUploadOutput, CompleteMultipartUploadError> {
        self.objects.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(CompleteMultipartUploadOutput::builder().build()) })
    }

    fn abort_multipart_upload(
        &self,
        _upload: Upload<'_>,
    ) -> Call<'_, AbortMultipartUploadOutput, AbortMultipartUploadError> {
        Box::pin(async { Ok(AbortMultipartUploadOutput::builder().build()) })
    }

    fn head_object(&self, _at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError> {
        Box::pin(async { Ok(HeadObjectOutput::builder().build()) })
    }
}

#[cfg(test)]
mod tests {
    use super::gzip_isize;

    #[test]
    fn gzip_trailer_gives_the_uncompressed_size() {
        let input = vec![b'x'; 70_000];
        let packed = kds_s3sink::sink::gzip(&input).expect("gzip into memory");
        assert_eq!(gzip_isize(&packed), Some(70_000));
        assert_eq!(gzip_isize(b"not gzip"), None);
    }
}
