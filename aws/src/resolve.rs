//! Region, profile, endpoint and credentials, resolved once at start-up.
//!
//! Precedence is the AWS CLI's (AWS page "Configuration and credential file settings in the
//! AWS CLI", section "Configuration settings and precedence"): a flag beats the environment,
//! which beats the shared config files. One deviation of the SDK's default chain is corrected
//! here: with `--profile`, the profile's credentials are used even when
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` are exported, as the AWS CLI does (the SDK's
//! chain would take the environment's keys first).
//!
//! A configuration problem is a usage error (exit 2, one line naming the fix), found here
//! before any service call, so it is never retried as if the network had failed.

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use kds_common::exit::usage;

use crate::args::AwsArgs;

/// Longest wait for a credentials provider (IMDS, SSO, STS for web identity) to answer.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(10);

/// What a tool resolved at start-up.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub args: AwsArgs,
    pub sdk: SdkConfig,
    pub region: String,
    /// Where the region came from: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION` or `profile`.
    pub region_source: &'static str,
    /// The profile in effect (`--profile`, else `AWS_PROFILE`), if any.
    pub profile: Option<String>,
    /// Which provider gave the credentials: env, profile NAME, web identity, IMDS...
    pub credentials_source: String,
    /// The access key id with all but its last four characters masked, as `aws configure list`.
    pub access_key_hint: String,
    pub expires: Option<SystemTime>,
}

/// Loads the configuration and the credentials; a usage error names what is missing.
pub async fn resolve(args: &AwsArgs) -> anyhow::Result<Resolved> {
    let sdk = load(args).await;
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_string())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            usage("no AWS region: pass --region or set AWS_REGION (or a region in the profile)")
        })?;
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| usage(no_credentials("no credentials provider")))?;
    let credentials = tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials())
        .await
        .map_err(|_| usage(no_credentials("the credentials provider did not answer")))?
        .map_err(|e| usage(no_credentials(&why_none(&e))))?;
    let profile = args
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let credentials_source = credentials_source(&credentials, profile.as_deref());
    if let Some(expiry) = credentials.expiry() {
        if expiry <= SystemTime::now() {
            return Err(usage(format!(
                "the AWS credentials from {credentials_source} have expired: refresh them \
                 (e.g. aws sso login, or new keys) and run again"
            )));
        }
    }
    Ok(Resolved {
        args: args.clone(),
        region_source: region_source(args),
        region,
        profile,
        access_key_hint: mask(credentials.access_key_id()),
        expires: credentials.expiry(),
        credentials_source,
        sdk,
    })
}

async fn load(args: &AwsArgs) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &args.profile {
        // The explicit provider is what makes --profile beat exported keys.
        loader = loader.profile_name(profile).credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build(),
        );
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

fn no_credentials(why: &str) -> String {
    format!(
        "no AWS credentials ({why}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         pass --profile, or run `aws configure`"
    )
}

/// "Not loaded" means every link of the chain came up empty: name the links, not each one's
/// long excuse. Any other failure (a broken profile, an SSO or STS error) is spelled out.
fn why_none(err: &CredentialsError) -> String {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            "none in the environment, the shared files, web identity, container or IMDS".into()
        }
        other => one_line(other),
    }
}

fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

fn region_source(args: &AwsArgs) -> &'static str {
    let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.is_empty());
    if args.region.is_some() {
        "--region"
    } else if set("AWS_REGION") {
        "AWS_REGION"
    } else if set("AWS_DEFAULT_REGION") {
        "AWS_DEFAULT_REGION"
    } else {
        "profile"
    }
}

/// The provider's name is only in the credentials' `Debug` form (which redacts the secret);
/// it says which link of the chain answered, which no environment check can tell for sure.
fn credentials_source(credentials: &Credentials, profile: Option<&str>) -> String {
    let debug = format!("{credentials:?}");
    let name = debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("unknown", |(name, _)| name);
    let profile = profile.unwrap_or("default");
    let lower = name.to_ascii_lowercase();
    if lower.contains("environment") {
        "env (AWS_ACCESS_KEY_ID)".to_string()
    } else if lower.contains("profile") || lower.contains("assumerole") {
        format!("profile {profile} ({name})")
    } else if lower.contains("webidentity") {
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string()
    } else if lower.contains("imds") {
        "IMDS (EC2 instance profile)".to_string()
    } else if lower.contains("ecs") || lower.contains("container") {
        "container credentials (ECS/EKS)".to_string()
    } else if lower.contains("sso") {
        format!("SSO via profile {profile}")
    } else {
        name.to_string()
    }
}

/// `****************WXYZ`: enough to tell keys apart, as `aws configure list` prints them.
pub fn mask(access_key_id: &str) -> String {
    let keep = access_key_id.len().saturating_sub(4);
    let tail = access_key_id.get(keep..).unwrap_or("");
    format!("{}{tail}", "*".repeat(keep.min(16)))
}

/// Resolves on a throwaway runtime: for tools and tests outside an async context.
pub fn resolve_blocking(args: &AwsArgs) -> anyhow::Result<Resolved> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(resolve(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_last_four() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "****************MPLE");
        assert_eq!(mask("abc"), "abc");
    }

    #[test]
    fn source_names_the_provider() {
        let creds = Credentials::new("AKID", "SECRET", None, None, "Environment");
        assert_eq!(credentials_source(&creds, None), "env (AWS_ACCESS_KEY_ID)");
        let creds = Credentials::new("AKID", "SECRET", None, None, "ProfileFile");
        assert!(credentials_source(&creds, Some("prod")).starts_with("profile prod"));
    }

    #[tokio::test]
    async fn flags_override_the_environment() {
        let args = AwsArgs {
            region: Some("ap-south-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..AwsArgs::default()
        };
        let config = load(&args).await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("ap-south-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
    }
}
