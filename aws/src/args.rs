//! `--region`, `--profile`, `--endpoint-url` and `--show-config`, flattened into each AWS tool's
//! arguments under the help heading "AWS".
//!
//! Region, profile and endpoint come from the flags when given, else from the standard
//! environment (`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, and the
//! service-specific `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_S3`), as the AWS CLI reads
//! them (AWS page "Configuration and credential file settings in the AWS CLI").

/// The AWS flags every AWS tool takes.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the shared config files (default: AWS_PROFILE). Its credentials win
    /// over AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY exported in the shell, as in the AWS CLI.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Endpoint URL for every service, e.g. a local emulator (default: AWS_ENDPOINT_URL,
    /// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Print the resolved region, endpoint, profile and credentials source (never a secret),
    /// then exit 0 without calling any service.
    #[arg(long)]
    pub show_config: bool,
}

/// The services the tools call, for the service-specific endpoint variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Kinesis,
    S3,
}

impl Service {
    fn env_suffix(self) -> &'static str {
        match self {
            Service::Kinesis => "KINESIS",
            Service::S3 => "S3",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Kinesis => "kinesis",
            Service::S3 => "s3",
        }
    }
}

impl AwsArgs {
    /// The custom endpoint of `service`, if any: the flag, then `AWS_ENDPOINT_URL_<SERVICE>`,
    /// then `AWS_ENDPOINT_URL` (AWS page "Service-specific endpoints").
    pub fn custom_endpoint(&self, service: Service) -> Option<String> {
        if let Some(url) = &self.endpoint_url {
            return Some(url.clone());
        }
        let specific = format!("AWS_ENDPOINT_URL_{}", service.env_suffix());
        [specific.as_str(), "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    }
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
            "--show-config",
        ]);
        assert_eq!(cli.aws.region.as_deref(), Some("eu-west-1"));
        assert!(cli.aws.show_config);
        assert_eq!(
            cli.aws.custom_endpoint(Service::S3).as_deref(),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn help_groups_the_flags_under_aws() {
        use clap::CommandFactory;
        let help = Cli::command().render_help().to_string();
        let heading = help.find("AWS:").expect("an AWS heading");
        assert!(help[heading..].contains("--profile"), "{help}");
    }
}
