//! Retries with backoff for S3 calls, until `--retry-duration` is used up.
//!
//! Retried: connection failures and timeouts, HTTP 5xx, 429/408, and the throttling/transient
//! S3 codes (SlowDown, InternalError, RequestTimeout, ...). Anything else (NoSuchBucket,
//! AccessDenied, ...) fails at once. Delays grow exponentially from 100 ms to 5 s with jitter
//! (half fixed, half random), and the last wait is cut to end at the deadline, so attempts go
//! on until the retry duration is over.
//!
//! While any call is between a failure and its outcome, [`Failing`] counts it: the sink stops
//! reading input meanwhile, as Firehose stops reading its Kinesis source while S3 delivery
//! fails ("Handle data delivery failure").

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::time::Instant;

pub const BASE_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// S3 error codes that mean "try again".
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
];

/// True when the call may succeed if made again.
pub fn is_retryable<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            status >= 500
                || status == 429
                || status == 408
                || ctx
                    .err()
                    .code()
                    .is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => true,
    }
}

/// The service error code, if the error is one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// Delay before attempt `attempt + 1` (attempt counts from 1), given a random `jitter` in [0, 1).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exp = BASE_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// The number of S3 calls now failing and being retried, watched by the sink's input loop.
#[derive(Clone)]
pub struct Failing(std::sync::Arc<tokio::sync::watch::Sender<usize>>);

impl Default for Failing {
    fn default() -> Failing {
        Failing(std::sync::Arc::new(tokio::sync::watch::channel(0).0))
    }
}

impl Failing {
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<usize> {
        self.0.subscribe()
    }

    /// Counts one failing call until the guard is dropped.
    fn enter(&self) -> FailingGuard<'_> {
        self.0.send_modify(|n| *n += 1);
        FailingGuard(&self.0)
    }
}

struct FailingGuard<'a>(&'a tokio::sync::watch::Sender<usize>);

impl Drop for FailingGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Why a call gave up.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub attempts: u32,
    pub retryable: bool,
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
            kds_aws::describe_sdk_error(&self.last),
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            if self.retryable {
                ", retry duration used up"
            } else {
                ", not retryable"
            }
        )
    }
}

/// Calls `op` until it succeeds, fails for good, or `deadline` passes. Each retry adds 1 to
/// `retries`; from the first retryable failure to the outcome the call counts in `failing`.
pub async fn with_retries<T, E, F, Fut>(
    deadline: Instant,
    retries: &AtomicU64,
    failing: &Failing,
    mut op: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    let mut attempt = 0u32;
    let mut counted_as_failing = None;
    loop {
        attempt += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let retryable = is_retryable(&e);
                let remaining = deadline.saturating_duration_since(Instant::now());
                if !retryable || remaining.is_zero() {
                    return Err(GaveUp {
                        attempts: attempt,
                        retryable,
                        last: e,
                    });
                }
                retries.fetch_add(1, Ordering::Relaxed);
                counted_as_failing.get_or_insert_with(|| failing.enter());
                let wait = backoff(attempt, rand::random::<f64>()).min(remaining);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::put_object::PutObjectError;

    /// A call counts as failing from its first retryable error until its outcome, and only then.
    #[tokio::test]
    async fn a_retried_call_counts_as_failing_until_it_ends() {
        let failing = Failing::default();
        let watch = failing.subscribe();
        let retries = AtomicU64::new(0);
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let result = with_retries(deadline, &retries, &failing, || {
            seen.push(*watch.borrow());
            let attempt = seen.len();
            async move {
                if attempt < 3 {
                    Err(SdkError::<PutObjectError, HttpResponse>::timeout_error(
                        "slow",
                    ))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
        assert_eq!(seen, vec![0, 1, 1], "counted from the first failure");
        assert_eq!(*watch.borrow(), 0, "and no longer once it succeeded");
        assert_eq!(retries.load(Ordering::Relaxed), 2);

        let gave_up = with_retries(Instant::now(), &retries, &failing, || async {
            Err::<(), _>(SdkError::<PutObjectError, HttpResponse>::timeout_error(
                "down",
            ))
        })
        .await;
        assert!(gave_up.is_err());
        assert_eq!(
            *watch.borrow(),
            0,
            "a call that gave up is no longer failing"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(1, 0.999_999).as_millis(), 99);
        assert_eq!(backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(4, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(10, 0.0), MAX_DELAY / 2);
        assert!(backoff(60, 0.99) <= MAX_DELAY);
    }
}
