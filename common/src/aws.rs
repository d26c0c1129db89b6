//! AWS clients from `aws-config`'s default chain, with the flags every AWS tool takes.
//!
//! Region, profile and endpoint come from the flags when given, else from the standard
//! environment (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, and the service-specific
//! `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_S3`, which `aws-config` resolves itself).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

/// `--region`, `--profile`, `--endpoint-url`, flattened into each AWS tool's arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the shared config files (default: AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Endpoint URL for every service, e.g. a local emulator (default: AWS_ENDPOINT_URL,
    /// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Loads the shared SDK configuration.
pub async fn sdk_config(args: &AwsArgs) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The small multi-threaded runtime the AWS tools run on: two workers match the two cores
/// the tools are sized for, and the work is network-bound.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub async fn kinesis_client(args: &AwsArgs) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(args).await)
}

/// True when S3 has a custom endpoint, from the flag or the environment: such endpoints
/// (emulators, MinIO) need path-style addressing.
pub fn s3_endpoint_is_custom(args: &AwsArgs) -> bool {
    args.endpoint_url.is_some()
        || ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

pub async fn s3_client(args: &AwsArgs) -> aws_sdk_s3::Client {
    let shared = sdk_config(args).await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(s3_endpoint_is_custom(args))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// One line for an SDK error: `Code: message (HTTP status)` for a service's answer, the chain of
/// causes for anything else. Never the error's `Debug` form (which `DisplayErrorContext`
/// appends): that dumps the raw response over many lines, and S3 echoes request details there
/// (e.g. `<AWSAccessKeyId>` in InvalidAccessKeyId and SignatureDoesNotMatch answers).
pub fn describe_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(ctx) = err {
        let status = ctx.raw().status().as_u16();
        let e = ctx.err();
        return match (e.code(), e.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg} (HTTP {status})"),
            (Some(code), None) => format!("{code} (HTTP {status})"),
            _ => format!("HTTP {status}"),
        };
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        aws: AwsArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::parse_from([
            "t",
            "--region",
            "eu-west-1",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ]);
        assert_eq!(cli.aws.region.as_deref(), Some("eu-west-1"));
        assert!(s3_endpoint_is_custom(&cli.aws));
    }

    #[tokio::test]
    async fn flags_override_the_environment() {
        let args = AwsArgs {
            region: Some("ap-south-1".into()),
            profile: None,
            endpoint_url: Some("http://127.0.0.1:9".into()),
        };
        let config = sdk_config(&args).await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("ap-south-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
    }
}
