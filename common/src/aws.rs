//! AWS clients from `aws-config`'s default chain, with the flags every AWS tool takes.
//!
//! Region, profile and endpoint come from the flags when given, else from the standard
//! environment (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, and the service-specific
//! `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_S3`, which `aws-config` resolves itself).

use aws_config::{BehaviorVersion, Region, SdkConfig};

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
