//! kds-s3sink: buffer NDJSON lines into S3 objects with Kinesis Data Firehose's semantics.

pub mod key;
