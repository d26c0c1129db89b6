//! Fixed answers: one operation always gets one HTTP error status, drawn from no RNG and
//! forwarded nowhere, e.g. `HeadBucket` → 403 (a bucket that exists in another account), which
//! neither emulator ever answers. Set with [`FaultConfig::answer`]; the request still counts in
//! [`FaultStats::operations`](super::FaultStats).

use hyper::StatusCode;

use super::{json_error, s3_error, FaultConfig, Protocol, ProxyResponse};

/// `operation` (as named by [`operation_name`](super::operation_name)) is answered with `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedAnswer {
    pub operation: String,
    pub status: u16,
}

impl FaultConfig {
    /// Answer every `operation` request with `status` (e.g. `("HeadBucket", 403)`), not forwarded.
    pub fn answer(mut self, operation: impl Into<String>, status: u16) -> Self {
        self.answers.push(FixedAnswer {
            operation: operation.into(),
            status,
        });
        self
    }
}

/// The error response for `operation` if a fixed answer is configured for it.
pub(super) fn fixed_answer(
    answers: &[FixedAnswer],
    protocol: Protocol,
    operation: &str,
    resource: &str,
    request_id: &str,
    is_head: bool,
) -> Option<ProxyResponse> {
    let answer = answers.iter().find(|a| a.operation == operation)?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The error codes AWS uses for these statuses ("Error responses", Amazon S3 API Reference;
    // "Common Errors", Amazon Kinesis Data Streams API Reference).
    let (s3_code, json_type, message) = match status.as_u16() {
        403 => ("AccessDenied", "AccessDeniedException", "Access Denied"),
        404 => ("NoSuchBucket", "ResourceNotFoundException", "Not Found"),
        503 => (
            "SlowDown",
            "ServiceUnavailable",
            "Please reduce your request rate.",
        ),
        _ => (
            "InternalError",
            "InternalFailure",
            "Internal service failure.",
        ),
    };
    Some(match protocol {
        Protocol::Json => json_error(status, json_type, message, request_id),
        Protocol::S3 => s3_error(status, s3_code, message, resource, request_id, is_head),
    })
}
