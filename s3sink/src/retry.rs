//! Retries with backoff for S3 calls, until `--retry-duration` is used up.
//!
//! What is retried and how long to wait is the one policy of [`kds_aws::retry`]: connection
//! failures and timeouts, HTTP 5xx, 429/408, and the throttling/transient S3 codes (SlowDown,
//! InternalError, RequestTimeout, ...) are retried; anything else (NoSuchBucket, AccessDenied,
//! ...) fails at once. Delays grow exponentially from 100 ms to 5 s with jitter (half fixed,
//! half random), and the last wait is cut to end at the deadline, so attempts go on until the
//! retry duration is over.
//!
//! While any call is between a failure and its outcome, [`Failing`] counts it: the sink stops
//! reading input meanwhile, as Firehose stops reading its Kinesis source while S3 delivery
//! fails ("Handle data delivery failure").

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use kds_aws::retry::{GaveUp, Policy};
use tokio::time::Instant;

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

/// Calls `op` until it succeeds, fails for good, or `deadline` passes (the shared policy of
/// [`kds_aws::retry`]). Each retry adds 1 to `retries`; from the first retryable failure to the
/// outcome the call counts in `failing`.
pub async fn with_retries<T, E, F, Fut>(
    deadline: Instant,
    retries: &AtomicU64,
    failing: &Failing,
    op: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    let mut counted_as_failing = None;
    kds_aws::retry::with_retries(
        Policy::until(deadline),
        |_, _| {
            retries.fetch_add(1, Ordering::Relaxed);
            counted_as_failing.get_or_insert_with(|| failing.enter());
        },
        op,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use std::time::Duration;

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
}
