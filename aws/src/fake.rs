//! Scripted stand-ins for the AWS services, for unit tests that run with no emulator and no
//! network (feature `fake`; always on in this crate's own tests).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;

/// Error metadata as a service's answer carries it: a code and a message.
pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// A service's answer `err` with HTTP `status`, as the SDK hands it over.
pub fn service_error<E>(status: u16, err: E) -> SdkError<E, HttpResponse> {
    service_error_with_headers(status, &[], err)
}

/// As [`service_error`], the answer also carrying the HTTP `headers` (name, value) given.
pub fn service_error_with_headers<E>(
    status: u16,
    headers: &[(&'static str, &str)],
    err: E,
) -> SdkError<E, HttpResponse> {
    let status = StatusCode::try_from(status).unwrap_or_else(|_| {
        StatusCode::try_from(500).unwrap_or_else(|_| unreachable!("500 is a valid status"))
    });
    let mut raw = HttpResponse::new(status, SdkBody::empty());
    for (name, value) in headers {
        raw.headers_mut().insert(*name, value.to_string());
    }
    SdkError::service_error(err, raw)
}

pub use kinesis::{FakeKinesis, KinesisCall};
pub use s3::{FakeS3, S3Call};

mod kinesis {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use aws_sdk_kinesis::operation::describe_stream_summary::{
        DescribeStreamSummaryError as SummaryError, DescribeStreamSummaryOutput as SummaryOutput,
    };
    use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
    use aws_sdk_kinesis::operation::get_shard_iterator::{
        GetShardIteratorError, GetShardIteratorOutput,
    };
    use aws_sdk_kinesis::operation::list_shards::{ListShardsError, ListShardsOutput};
    use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;

    use super::{meta, service_error, HttpResponse, SdkError};
    use crate::kinesis::{Call, IteratorStart, KinesisApi};

    pub(super) type Answer<O, E> = Result<O, SdkError<E, HttpResponse>>;

    /// One call the fake received, with its arguments.
    #[derive(Debug, Clone, PartialEq)]
    pub enum KinesisCall {
        DescribeStreamSummary {
            stream: String,
        },
        PutRecords {
            stream: String,
            records: Vec<PutRecordsRequestEntry>,
        },
        GetShardIterator {
            stream: String,
            shard: String,
            start: IteratorStart,
        },
        GetRecords {
            iterator: String,
            limit: i32,
        },
        ListShards {
            stream: String,
            next_token: Option<String>,
        },
    }

    /// A Kinesis that answers each call with the next queued answer for its operation and
    /// records every call. A call with nothing queued gets a `FakeExhausted` error (HTTP 400,
    /// not retryable), so a test that under-scripts fails instead of hanging.
    #[derive(Default)]
    pub struct FakeKinesis {
        describe_stream_summary: Mutex<VecDeque<Answer<SummaryOutput, SummaryError>>>,
        put_records: Mutex<VecDeque<Answer<PutRecordsOutput, PutRecordsError>>>,
        get_shard_iterator: Mutex<VecDeque<Answer<GetShardIteratorOutput, GetShardIteratorError>>>,
        get_records: Mutex<VecDeque<Answer<GetRecordsOutput, GetRecordsError>>>,
        list_shards: Mutex<VecDeque<Answer<ListShardsOutput, ListShardsError>>>,
        calls: Mutex<Vec<KinesisCall>>,
    }

    pub(super) fn push<T>(queue: &Mutex<VecDeque<T>>, answer: T) {
        queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(answer);
    }

    // The SDK's own error type, as large as the SDK makes it: the fake answers what it would.
    #[allow(clippy::result_large_err)]
    pub(super) fn pop<O, E>(
        queue: &Mutex<VecDeque<Answer<O, E>>>,
        exhausted: impl FnOnce() -> E,
    ) -> Answer<O, E> {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        next.unwrap_or_else(|| Err(service_error(400, exhausted())))
    }

    pub(super) fn exhausted() -> aws_smithy_types::error::ErrorMetadata {
        meta("FakeExhausted", "no answer queued for this call")
    }

    impl FakeKinesis {
        pub fn new() -> FakeKinesis {
            FakeKinesis::default()
        }

        pub fn push_describe_stream_summary(&self, answer: Answer<SummaryOutput, SummaryError>) {
            push(&self.describe_stream_summary, answer);
        }

        pub fn push_put_records(&self, answer: Answer<PutRecordsOutput, PutRecordsError>) {
            push(&self.put_records, answer);
        }

        pub fn push_get_shard_iterator(
            &self,
            answer: Answer<GetShardIteratorOutput, GetShardIteratorError>,
        ) {
            push(&self.get_shard_iterator, answer);
        }

        pub fn push_get_records(&self, answer: Answer<GetRecordsOutput, GetRecordsError>) {
            push(&self.get_records, answer);
        }

        pub fn push_list_shards(&self, answer: Answer<ListShardsOutput, ListShardsError>) {
            push(&self.list_shards, answer);
        }

        /// Every call so far, in order.
        pub fn calls(&self) -> Vec<KinesisCall> {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }

        fn record(&self, call: KinesisCall) {
            push_vec(&self.calls, call);
        }
    }

    pub(super) fn push_vec<T>(list: &Mutex<Vec<T>>, item: T) {
        list.lock().unwrap_or_else(|p| p.into_inner()).push(item);
    }

    impl KinesisApi for FakeKinesis {
        fn describe_stream_summary(&self, stream: &str) -> Call<'_, SummaryOutput, SummaryError> {
            self.record(KinesisCall::DescribeStreamSummary {
                stream: stream.into(),
            });
            let answer = pop(&self.describe_stream_summary, || {
                SummaryError::generic(exhausted())
            });
            Box::pin(async move { answer })
        }

        fn put_records(
            &self,
            stream: &str,
            records: Vec<PutRecordsRequestEntry>,
        ) -> Call<'_, PutRecordsOutput, PutRecordsError> {
            self.record(KinesisCall::PutRecords {
                stream: stream.into(),
                records,
            });
            let answer = pop(&self.put_records, || PutRecordsError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn get_shard_iterator(
            &self,
            stream: &str,
            shard: &str,
            start: &IteratorStart,
        ) -> Call<'_, GetShardIteratorOutput, GetShardIteratorError> {
            self.record(KinesisCall::GetShardIterator {
                stream: stream.into(),
                shard: shard.into(),
                start: start.clone(),
            });
            let answer = pop(&self.get_shard_iterator, || {
                GetShardIteratorError::generic(exhausted())
            });
            Box::pin(async move { answer })
        }

        fn get_records(
            &self,
            iterator: &str,
            limit: i32,
        ) -> Call<'_, GetRecordsOutput, GetRecordsError> {
            self.record(KinesisCall::GetRecords {
                iterator: iterator.into(),
                limit,
            });
            let answer = pop(&self.get_records, || GetRecordsError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn list_shards(
            &self,
            stream: &str,
            next_token: Option<&str>,
        ) -> Call<'_, ListShardsOutput, ListShardsError> {
            self.record(KinesisCall::ListShards {
                stream: stream.into(),
                next_token: next_token.map(str::to_string),
            });
            let answer = pop(&self.list_shards, || ListShardsError::generic(exhausted()));
            Box::pin(async move { answer })
        }
    }
}

/// A one-page ListShards answer: `(shard id, first hash key, last hash key, closed)` each.
pub fn listing(
    shards: &[(&str, &str, &str, bool)],
) -> aws_sdk_kinesis::operation::list_shards::ListShardsOutput {
    use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange, Shard};
    let shard = |&(id, first, last, closed): &(&str, &str, &str, bool)| {
        let range = SequenceNumberRange::builder().starting_sequence_number("1");
        let range = if closed {
            range.ending_sequence_number("9")
        } else {
            range
        };
        let hash = HashKeyRange::builder()
            .starting_hash_key(first)
            .ending_hash_key(last)
            .build();
        let built = Shard::builder()
            .shard_id(id)
            .set_hash_key_range(hash.ok())
            .set_sequence_number_range(range.build().ok())
            .build();
        built.unwrap_or_else(|e| panic!("fake shard {id}: {e}"))
    };
    aws_sdk_kinesis::operation::list_shards::ListShardsOutput::builder()
        .set_shards(Some(shards.iter().map(shard).collect()))
        .build()
}

mod s3 {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use aws_sdk_s3::operation::abort_multipart_upload::{
        AbortMultipartUploadError as AbortError, AbortMultipartUploadOutput as AbortOutput,
    };
    use aws_sdk_s3::operation::complete_multipart_upload::{
        CompleteMultipartUploadError as CompleteError,
        CompleteMultipartUploadOutput as CompleteOutput,
    };
    use aws_sdk_s3::operation::create_multipart_upload::{
        CreateMultipartUploadError as CreateError, CreateMultipartUploadOutput as CreateOutput,
    };
    use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::operation::upload_part::{UploadPartError, UploadPartOutput};
    use aws_sdk_s3::types::CompletedMultipartUpload;
    use bytes::Bytes;

    use super::kinesis::{exhausted, pop, push, push_vec, Answer};
    use crate::s3::{Call, S3Api, Target, Upload};

    /// One call the fake received: operation, key, and what identifies the part or upload.
    #[derive(Debug, Clone, PartialEq)]
    pub enum S3Call {
        HeadBucket {
            bucket: String,
        },
        PutObject {
            key: String,
            len: usize,
        },
        CreateMultipartUpload {
            key: String,
        },
        UploadPart {
            key: String,
            upload_id: String,
            part: i32,
            len: usize,
        },
        CompleteMultipartUpload {
            key: String,
            upload_id: String,
            parts: Vec<i32>,
        },
        AbortMultipartUpload {
            key: String,
            upload_id: String,
        },
        HeadObject {
            key: String,
        },
    }

    /// An S3 that answers each call with the next queued answer for its operation and records
    /// every call; nothing queued is a `FakeExhausted` error (HTTP 400, not retryable).
    #[derive(Default)]
    pub struct FakeS3 {
        head_bucket: Mutex<VecDeque<Answer<HeadBucketOutput, HeadBucketError>>>,
        put_object: Mutex<VecDeque<Answer<PutObjectOutput, PutObjectError>>>,
        create: Mutex<VecDeque<Answer<CreateOutput, CreateError>>>,
        upload_part: Mutex<VecDeque<Answer<UploadPartOutput, UploadPartError>>>,
        complete: Mutex<VecDeque<Answer<CompleteOutput, CompleteError>>>,
        abort: Mutex<VecDeque<Answer<AbortOutput, AbortError>>>,
        head_object: Mutex<VecDeque<Answer<HeadObjectOutput, HeadObjectError>>>,
        calls: Mutex<Vec<S3Call>>,
    }

    impl FakeS3 {
        pub fn new() -> FakeS3 {
            FakeS3::default()
        }
        pub fn push_head_bucket(&self, a: Answer<HeadBucketOutput, HeadBucketError>) {
            push(&self.head_bucket, a);
        }
        pub fn push_put_object(&self, a: Answer<PutObjectOutput, PutObjectError>) {
            push(&self.put_object, a);
        }
        pub fn push_create_multipart_upload(&self, a: Answer<CreateOutput, CreateError>) {
            push(&self.create, a);
        }
        pub fn push_upload_part(&self, a: Answer<UploadPartOutput, UploadPartError>) {
            push(&self.upload_part, a);
        }
        pub fn push_complete_multipart_upload(&self, a: Answer<CompleteOutput, CompleteError>) {
            push(&self.complete, a);
        }
        pub fn push_abort_multipart_upload(&self, a: Answer<AbortOutput, AbortError>) {
            push(&self.abort, a);
        }
        pub fn push_head_object(&self, a: Answer<HeadObjectOutput, HeadObjectError>) {
            push(&self.head_object, a);
        }
        /// Every call so far, in order.
        pub fn calls(&self) -> Vec<S3Call> {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
    }

    impl S3Api for FakeS3 {
        fn head_bucket(&self, bucket: &str) -> Call<'_, HeadBucketOutput, HeadBucketError> {
            let bucket = bucket.into();
            push_vec(&self.calls, S3Call::HeadBucket { bucket });
            let answer = pop(&self.head_bucket, || HeadBucketError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn put_object(
            &self,
            at: Target<'_>,
            body: Bytes,
        ) -> Call<'_, PutObjectOutput, PutObjectError> {
            let (key, len) = (at.key.into(), body.len());
            push_vec(&self.calls, S3Call::PutObject { key, len });
            let answer = pop(&self.put_object, || PutObjectError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn create_multipart_upload(&self, at: Target<'_>) -> Call<'_, CreateOutput, CreateError> {
            push_vec(
                &self.calls,
                S3Call::CreateMultipartUpload { key: at.key.into() },
            );
            let answer = pop(&self.create, || CreateError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn upload_part(
            &self,
            upload: Upload<'_>,
            part: i32,
            body: Bytes,
        ) -> Call<'_, UploadPartOutput, UploadPartError> {
            let call = S3Call::UploadPart {
                key: upload.at.key.into(),
                upload_id: upload.id.into(),
                part,
                len: body.len(),
            };
            push_vec(&self.calls, call);
            let answer = pop(&self.upload_part, || UploadPartError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn complete_multipart_upload(
            &self,
            upload: Upload<'_>,
            parts: CompletedMultipartUpload,
        ) -> Call<'_, CompleteOutput, CompleteError> {
            let parts = parts
                .parts()
                .iter()
                .filter_map(|p| p.part_number())
                .collect();
            let call = S3Call::CompleteMultipartUpload {
                key: upload.at.key.into(),
                upload_id: upload.id.into(),
                parts,
            };
            push_vec(&self.calls, call);
            let answer = pop(&self.complete, || CompleteError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn abort_multipart_upload(&self, upload: Upload<'_>) -> Call<'_, AbortOutput, AbortError> {
            let call = S3Call::AbortMultipartUpload {
                key: upload.at.key.into(),
                upload_id: upload.id.into(),
            };
            push_vec(&self.calls, call);
            let answer = pop(&self.abort, || AbortError::generic(exhausted()));
            Box::pin(async move { answer })
        }

        fn head_object(&self, at: Target<'_>) -> Call<'_, HeadObjectOutput, HeadObjectError> {
            push_vec(&self.calls, S3Call::HeadObject { key: at.key.into() });
            let answer = pop(&self.head_object, || HeadObjectError::generic(exhausted()));
            Box::pin(async move { answer })
        }
    }
}
