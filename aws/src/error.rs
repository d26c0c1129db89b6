//! SDK errors in one line, and the answers that mean "fix your configuration" rather than
//! "try again".

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

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

/// The fix for an error code that says the credentials themselves are wrong, or `None`.
///
/// Codes from the AWS pages "Common Errors" (Kinesis API Reference) and "Error responses"
/// (Amazon S3 API Reference). Such an answer does not change by retrying.
pub fn credentials_fix(code: &str) -> Option<&'static str> {
    match code {
        "UnrecognizedClientException" | "InvalidAccessKeyId" | "InvalidClientTokenId" => Some(
            "the access key id is not known to AWS: check AWS_ACCESS_KEY_ID or the profile's keys",
        ),
        "SignatureDoesNotMatch" | "IncompleteSignature" => Some(
            "the request signature does not match: check AWS_SECRET_ACCESS_KEY or the profile's secret",
        ),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            Some("the credentials have expired: refresh them (e.g. aws sso login) and run again")
        }
        "InvalidToken" | "MissingAuthenticationToken" => {
            Some("the session token is not valid: check AWS_SESSION_TOKEN or the profile")
        }
        _ => None,
    }
}

/// When `err` is an answer about bad credentials: the usage error to end the run with.
pub fn credentials_error<E>(err: &SdkError<E, HttpResponse>) -> Option<anyhow::Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let SdkError::ServiceError(ctx) = err else {
        return None;
    };
    let fix = credentials_fix(ctx.err().code()?)?;
    Some(kds_common::exit::usage(format!(
        "{fix} ({})",
        describe_sdk_error(err)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_codes_have_a_fix_and_throttling_has_none() {
        for code in [
            "UnrecognizedClientException",
            "InvalidAccessKeyId",
            "ExpiredToken",
            "SignatureDoesNotMatch",
        ] {
            assert!(credentials_fix(code).is_some(), "{code}");
        }
        assert!(credentials_fix("ProvisionedThroughputExceededException").is_none());
        assert!(credentials_fix("AccessDenied").is_none());
    }
}
