//! Retry policy: jittered exponential backoff, and which failures are worth another attempt.
//!
//! kds-put owns every PutRecords attempt: the SDK's own retries are disabled for that call
//! (see `sender.rs`), so `attempts` in dead letters and `retries` in the summary are exact.

use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;

use kds_common::rng::Rng;

/// Delay before attempt `n + 1` after `n` failed attempts: "equal jitter", uniform in
/// `[c/2, c]` with `c = min(max, base * 2^(n-1))`. Never zero (unless `base` is), so
/// throttled shards get real relief; never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The ceiling `c` for `attempts` failed attempts (1-based).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    pub fn delay(&self, attempts: u32, rng: &mut Rng) -> Duration {
        let c = self.ceiling(attempts);
        c / 2 + c.mul_f64(rng.next_f64() / 2.0)
    }
}

/// What to do with a PutRecords entry that came back with an error code.
pub fn entry_error_is_retryable(code: &str) -> bool {
    // ProvisionedThroughputExceededException, InternalFailure, KMSThrottlingException and any
    // unknown code are retried; KMS configuration errors cannot heal by waiting.
    !matches!(
        code,
        "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSAccessDeniedException"
            | "KMSNotFoundException"
            | "KMSOptInRequired"
            | "InvalidArgumentException"
    )
}

/// How a failed PutRecords call is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallVerdict {
    /// Throttling, 5xx, connection reset, timeout: back off and resend the whole batch.
    Retry { code: String, message: String },
    /// The batch cannot succeed (e.g. InvalidArgument): dead-letter its entries.
    Fail { code: String, message: String },
    /// Nothing else can succeed either (stream deleted, access denied): dead-letter the batch
    /// and stop reading.
    Fatal { code: String, message: String },
}

/// Classifies a service error by code and HTTP status.
pub fn classify_service_error(code: Option<&str>, status: u16, message: &str) -> CallVerdict {
    let code_s = code.unwrap_or(if status >= 500 {
        "InternalFailure"
    } else {
        "ServiceError"
    });
    let (code_s, message) = (code_s.to_string(), message.to_string());
    match code.unwrap_or_default() {
        "ResourceNotFoundException"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException" => CallVerdict::Fatal {
            code: code_s,
            message,
        },
        "ProvisionedThroughputExceededException"
        | "KMSThrottlingException"
        | "LimitExceededException"
        | "ThrottlingException"
        | "ResourceInUseException"
        | "InternalFailure"
        | "InternalFailureException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => CallVerdict::Retry {
            code: code_s,
            message,
        },
        _ if status >= 500 || status == 429 => CallVerdict::Retry {
            code: code_s,
            message,
        },
        _ => CallVerdict::Fail {
            code: code_s,
            message,
        },
    }
}

/// Classifies an SDK error from a PutRecords call.
pub fn classify_call_error(err: &SdkError<PutRecordsError, HttpResponse>) -> CallVerdict {
    let detail = kds_aws::describe_sdk_error(err);
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let e = se.err();
            let message = e.message().map_or_else(|| detail.clone(), str::to_string);
            classify_service_error(e.code(), status, &message)
        }
        SdkError::TimeoutError(_) => CallVerdict::Retry {
            code: "Timeout".into(),
            message: detail,
        },
        SdkError::DispatchFailure(d) if d.is_user() => CallVerdict::Fatal {
            code: "ClientError".into(),
            message: detail,
        },
        SdkError::DispatchFailure(d) => CallVerdict::Retry {
            code: if d.is_timeout() {
                "Timeout".into()
            } else {
                "ConnectionError".into()
            },
            message: detail,
        },
        // A response that could not be read or parsed (cut off, not JSON).
        SdkError::ResponseError(_) => CallVerdict::Retry {
            code: "ResponseError".into(),
            message: detail,
        },
        _ => CallVerdict::Fatal {
            code: "ClientError".into(),
            message: detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_bounds() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        let mut rng = Rng::seeded(1);
        for attempt in 1..=20 {
            let c = b.ceiling(attempt);
            assert!(c <= b.max);
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d >= c / 2 && d <= c,
                    "attempt {attempt}: {d:?} not in [{:?}, {c:?}]",
                    c / 2
                );
            }
        }
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(6), Duration::from_millis(3200));
        assert_eq!(b.ceiling(7), Duration::from_secs(5));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn entry_codes() {
        assert!(entry_error_is_retryable(
            "ProvisionedThroughputExceededException"
        ));
        assert!(entry_error_is_retryable("InternalFailure"));
        assert!(entry_error_is_retryable("KMSThrottlingException"));
        assert!(entry_error_is_retryable("SomethingNew"));
        assert!(!entry_error_is_retryable("KMSAccessDeniedException"));
    }

    #[test]
    fn service_errors() {
        let retry = |c: Option<&str>, s| {
            matches!(classify_service_error(c, s, "m"), CallVerdict::Retry { .. })
        };
        assert!(retry(Some("ProvisionedThroughputExceededException"), 400));
        assert!(retry(Some("KMSThrottlingException"), 400));
        assert!(retry(None, 500));
        assert!(retry(None, 503));
        assert!(retry(Some("Whatever"), 502));
        assert!(matches!(
            classify_service_error(Some("ResourceNotFoundException"), 400, "gone"),
            CallVerdict::Fatal { .. }
        ));
        assert!(matches!(
            classify_service_error(Some("InvalidArgumentException"), 400, "bad"),
            CallVerdict::Fail { .. }
        ));
        match classify_service_error(None, 500, "boom") {
            CallVerdict::Retry { code, message } => {
                assert_eq!(code, "InternalFailure");
                assert_eq!(message, "boom");
            }
            v => panic!("{v:?}"),
        }
    }
}
