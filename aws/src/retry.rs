//! The one retry policy of the AWS tools: which failures are worth another attempt, how long to
//! wait before it, and when to stop.
//!
//! - **Classification** ([`classify`]): throttling (Kinesis ProvisionedThroughputExceeded, KMS
//!   and API throttling, LimitExceeded, S3 SlowDown, HTTP 429) and transient failures (HTTP 5xx,
//!   408, InternalFailure/InternalError, ServiceUnavailable, RequestTimeout, timeouts, broken
//!   connections, cut-off or unreadable responses) are retried, as AWS page "Error retries and
//!   exponential backoff in AWS" and the Kinesis and S3 "Common Errors" pages describe. Answers
//!   about the credentials, a missing target or a client that cannot send are [`ErrorClass::Fatal`]:
//!   nothing else will succeed either. Every other answer is [`ErrorClass::Rejected`]: this request
//!   cannot succeed, others may.
//! - **Backoff** ([`Backoff`]): "equal jitter" exponential backoff from AWS page "Retry behavior"
//!   (SDKs and Tools Reference Guide), uniform in `[c/2, c]` with `c = min(max, base · 2^(n-1))`.
//!   The random part comes from one generator seeded once per process ([`jitter`]), so delays of
//!   calls that fail together spread out instead of following the clock's nanoseconds.
//! - **Stop** ([`Policy`]): a number of attempts, a deadline, or both; the last wait is cut to end
//!   at the deadline, so attempts go on until it is over.

use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kds_common::rng::Rng;
use tokio::time::Instant;

/// First backoff ceiling of the tools' own retries.
pub const BASE_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Error codes that mean "slow down" (Kinesis, KMS, S3 and the generic AWS ones).
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "SlowDown",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// Error codes of passing trouble on the service's side.
const TRANSIENT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalFailureException",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "OperationAborted",
    // Kinesis: the stream is being updated (resharding, encryption change); it heals by waiting.
    "ResourceInUseException",
];

/// Error codes after which no call to the same target can succeed.
const FATAL_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
];

/// What a failed call means for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The service asks to slow down: back off, same request.
    Throttled,
    /// Passing trouble (5xx, timeout, connection): back off and try again.
    Transient,
    /// This request cannot succeed (bad argument, unknown error code).
    Rejected,
    /// Nothing sent to this target can succeed (credentials, target gone, client cannot send).
    Fatal,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }
}

/// A failed call in the terms the tools report: class, error code, one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: ErrorClass,
    /// The service's code, or `Timeout`, `ConnectionError`, `ResponseError`, `ClientError`.
    pub code: String,
    pub message: String,
}

/// Classifies a service's answer by its error code and HTTP status.
pub fn classify_service(code: Option<&str>, status: u16) -> ErrorClass {
    match code {
        Some(c) if FATAL_CODES.contains(&c) => ErrorClass::Fatal,
        Some(c) if THROTTLING_CODES.contains(&c) => ErrorClass::Throttled,
        Some(c) if TRANSIENT_CODES.contains(&c) => ErrorClass::Transient,
        _ if status == 429 => ErrorClass::Throttled,
        _ if status >= 500 || status == 408 => ErrorClass::Transient,
        _ => ErrorClass::Rejected,
    }
}

/// Classifies any SDK error (Kinesis or S3).
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::ServiceError(ctx) => {
            classify_service(ctx.err().code(), ctx.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        // A user error (bad endpoint URL, no credentials) cannot heal by waiting.
        SdkError::DispatchFailure(d) if d.is_user() => ErrorClass::Fatal,
        SdkError::DispatchFailure(_) => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

/// The error's class, code and one-line description, for reports and dead letters. A service
/// answer without a code is `InternalFailure` (5xx) or `ServiceError`.
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let class = classify(err);
    let detail = crate::describe_sdk_error(err);
    let (code, message) = match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or(if status >= 500 {
                "InternalFailure"
            } else {
                "ServiceError"
            });
            let message = ctx.err().message().map_or(detail, str::to_string);
            (code.to_string(), message)
        }
        SdkError::TimeoutError(_) => ("Timeout".into(), detail),
        SdkError::DispatchFailure(d) if d.is_timeout() => ("Timeout".into(), detail),
        SdkError::DispatchFailure(d) if !d.is_user() => ("ConnectionError".into(), detail),
        SdkError::ResponseError(_) => ("ResponseError".into(), detail),
        _ => ("ClientError".into(), detail),
    };
    Failure {
        class,
        code,
        message,
    }
}

/// The service error code, if the error is a service's answer.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// Whether a PutRecords entry that failed with `code` may succeed when sent again:
/// ProvisionedThroughputExceeded, InternalFailure, KMS throttling and any code not known yet
/// are retried; KMS configuration errors and invalid arguments cannot heal by waiting (Kinesis
/// API Reference, "PutRecordsResultEntry").
pub fn entry_is_retryable(code: &str) -> bool {
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

/// Exponential backoff with equal jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: BASE_DELAY,
            max: MAX_DELAY,
        }
    }
}

impl Backoff {
    /// The ceiling `c` after `attempts` failed attempts (1-based).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// The wait after `attempts` failed attempts for a uniform draw `unit` in `[0, 1)`:
    /// `c/2 + c·unit/2`, never above `max`, never zero unless `base` is.
    pub fn delay_for(&self, attempts: u32, unit: f64) -> Duration {
        let c = self.ceiling(attempts);
        c / 2 + c.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    /// The wait after `attempts` failed attempts, drawn from `rng`.
    pub fn delay(&self, attempts: u32, rng: &mut Rng) -> Duration {
        self.delay_for(attempts, rng.next_f64())
    }

    /// The wait after `attempts` failed attempts, drawn from the process's generator.
    pub fn next_delay(&self, attempts: u32) -> Duration {
        self.delay_for(attempts, jitter())
    }
}

/// A uniform draw in `[0, 1)` from one generator seeded once per process.
pub fn jitter() -> f64 {
    static RNG: OnceLock<Mutex<Rng>> = OnceLock::new();
    let rng = RNG.get_or_init(|| Mutex::new(Rng::from_entropy()));
    // A poisoned lock still holds a usable generator.
    let mut guard = rng.lock().unwrap_or_else(|p| p.into_inner());
    guard.next_f64()
}

/// When a sequence of attempts stops.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub backoff: Backoff,
    /// Attempts in all, the first included (`u32::MAX`: no limit).
    pub max_attempts: u32,
    /// No attempt starts after this instant.
    pub deadline: Option<Instant>,
}

impl Policy {
    /// Up to `max_attempts` attempts with the default backoff.
    pub fn attempts(max_attempts: u32) -> Policy {
        Policy {
            backoff: Backoff::default(),
            max_attempts,
            deadline: None,
        }
    }

    /// Attempts until `deadline` with the default backoff.
    pub fn until(deadline: Instant) -> Policy {
        Policy {
            backoff: Backoff::default(),
            max_attempts: u32::MAX,
            deadline: Some(deadline),
        }
    }

    /// The wait before the next attempt after `attempts` failed ones, or why to stop.
    pub fn wait_after(&self, attempts: u32, now: Instant) -> Result<Duration, Stop> {
        if attempts >= self.max_attempts {
            return Err(Stop::Attempts);
        }
        let delay = self.backoff.next_delay(attempts);
        match self.deadline {
            None => Ok(delay),
            Some(d) => {
                let remaining = d.saturating_duration_since(now);
                if remaining.is_zero() {
                    Err(Stop::Deadline)
                } else {
                    Ok(delay.min(remaining))
                }
            }
        }
    }
}

/// Why a sequence of attempts ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    NotRetryable,
    Attempts,
    Deadline,
}

/// Why a call gave up.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub attempts: u32,
    pub stop: Stop,
    pub last: SdkError<E, HttpResponse>,
}

impl<E> std::fmt::Display for GaveUp<E>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (after {} attempt{}{})",
            crate::describe_sdk_error(&self.last),
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            match self.stop {
                Stop::NotRetryable => ", not retryable",
                Stop::Attempts => ", attempts used up",
                Stop::Deadline => ", retry duration used up",
            }
        )
    }
}

impl<E> GaveUp<E> {
    /// The last error was retryable: the attempts or the time were used up.
    pub fn retryable(&self) -> bool {
        self.stop != Stop::NotRetryable
    }
}

impl<E> std::error::Error for GaveUp<E> where E: ProvideErrorMetadata + std::error::Error + 'static {}

/// Calls `op` until it succeeds, fails with an error that is not retryable, or `policy` stops.
/// Before each retry `on_retry` sees the attempt number and the error (for counters).
pub async fn with_retries<T, E, F, Fut>(
    policy: Policy,
    mut on_retry: impl FnMut(u32, &SdkError<E, HttpResponse>),
    mut op: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let err = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let wait = if classify(&err).is_retryable() {
            policy.wait_after(attempts, Instant::now())
        } else {
            Err(Stop::NotRetryable)
        };
        let wait = match wait {
            Ok(wait) => wait,
            Err(stop) => {
                return Err(GaveUp {
                    attempts,
                    stop,
                    last: err,
                })
            }
        };
        on_retry(attempts, &err);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests;
