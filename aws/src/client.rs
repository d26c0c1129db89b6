//! The Kinesis and S3 clients, built in one place.
//!
//! - Control plane (ListShards, DescribeStreamSummary, HeadBucket): the SDK's standard retries
//!   (3 attempts, AWS page "Retry behavior" of the SDKs and Tools Reference Guide), each attempt
//!   and the whole call bounded.
//! - Data plane (PutRecords, GetRecords, PutObject, multipart): the SDK's retries off, because
//!   each tool retries per record or per object itself and counts every attempt; each attempt
//!   bounded by the tool's call timeout.
//!
//! Every client carries the call log interceptor ([`crate::log::CallLog`]), so `KDS_LOG=debug`
//! shows every call whatever tool made it.

use std::time::Duration;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

use crate::args::Service;
use crate::log::CallLog;
use crate::resolve::Resolved;

/// How long opening a TCP (and TLS) connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of a control-plane call.
pub const CONTROL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A control-plane call, retries included.
pub const CONTROL_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of a control-plane call (the SDK's standard mode default).
pub const CONTROL_MAX_ATTEMPTS: u32 = 3;

/// Which kind of calls a client makes.
#[derive(Debug, Clone, Copy)]
pub enum Plane {
    /// Few, cheap calls: the SDK's standard retries.
    Control,
    /// The tool's own calls, retried by the tool: no SDK retries, each attempt bounded by the
    /// given time.
    Data { attempt_timeout: Duration },
}

impl Plane {
    fn retry(self) -> RetryConfig {
        match self {
            Plane::Control => RetryConfig::standard().with_max_attempts(CONTROL_MAX_ATTEMPTS),
            Plane::Data { .. } => RetryConfig::disabled(),
        }
    }

    fn timeouts(self) -> TimeoutConfig {
        let builder = TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT);
        match self {
            Plane::Control => builder
                .operation_attempt_timeout(CONTROL_ATTEMPT_TIMEOUT)
                .operation_timeout(CONTROL_OPERATION_TIMEOUT)
                .build(),
            // No operation timeout on top: with retries off one attempt is the operation.
            Plane::Data { attempt_timeout } => {
                builder.operation_attempt_timeout(attempt_timeout).build()
            }
        }
    }
}

/// A Kinesis client for `plane`.
pub fn kinesis(resolved: &Resolved, plane: Plane) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::config::Builder::from(&resolved.sdk)
        .retry_config(plane.retry())
        .timeout_config(plane.timeouts())
        .interceptor(CallLog)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// An S3 client for `plane`.
///
/// With a custom endpoint (an emulator, MinIO, Ceph, Backblaze B2...): path-style addressing,
/// since such stores seldom have per-bucket DNS names, and checksums only where the API
/// requires them (`when_required` for both request calculation and response validation, AWS
/// page "Data integrity protections for Amazon S3"). Many S3-compatible stores reject the
/// SDK's default CRC32 headers, and the same setting covers PutObject and every part of a
/// multipart upload alike, so an upload never mixes checksummed and plain parts. On AWS itself
/// the SDK's defaults (`when_supported`) stay.
pub fn s3(resolved: &Resolved, plane: Plane) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(&resolved.sdk)
        .retry_config(plane.retry())
        .timeout_config(plane.timeouts())
        .interceptor(CallLog);
    if resolved.args.custom_endpoint(Service::S3).is_some() {
        builder = builder
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::AwsArgs;

    fn resolved(endpoint: Option<&str>) -> Resolved {
        let args = AwsArgs {
            region: Some("eu-west-1".into()),
            endpoint_url: endpoint.map(str::to_string),
            ..AwsArgs::default()
        };
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Resolved {
            args,
            sdk,
            region: "eu-west-1".into(),
            region_source: "--region",
            profile: None,
            credentials_source: "test".into(),
            access_key_hint: String::new(),
            expires: None,
        }
    }

    #[test]
    fn every_plane_bounds_connect_and_attempts() {
        let data = Plane::Data {
            attempt_timeout: Duration::from_secs(7),
        };
        for plane in [Plane::Control, data] {
            let t = plane.timeouts();
            assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
            assert!(t.operation_attempt_timeout().is_some());
        }
        assert_eq!(
            data.timeouts().operation_attempt_timeout(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            Plane::Control.timeouts().operation_timeout(),
            Some(CONTROL_OPERATION_TIMEOUT)
        );
        assert_eq!(data.retry().max_attempts(), 1);
    }

    #[test]
    fn custom_s3_endpoint_is_path_style_and_checksums_when_required() {
        let client = s3(&resolved(Some("http://127.0.0.1:9")), Plane::Control);
        let conf = client.config();
        assert_eq!(
            conf.request_checksum_calculation(),
            Some(&RequestChecksumCalculation::WhenRequired)
        );
        assert_eq!(
            conf.response_checksum_validation(),
            Some(&ResponseChecksumValidation::WhenRequired)
        );
        let kinesis = kinesis(&resolved(None), Plane::Control);
        assert_eq!(
            kinesis
                .config()
                .timeout_config()
                .and_then(|t| t.operation_timeout()),
            Some(CONTROL_OPERATION_TIMEOUT)
        );
    }
}
