use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_smithy_runtime_api::client::result::ConnectorError;

use super::*;
use crate::fake::service_error;

fn put_error(code: &str, status: u16) -> SdkError<PutRecordsError, HttpResponse> {
    service_error(
        status,
        PutRecordsError::generic(crate::fake::meta(code, "m")),
    )
}

#[test]
fn backoff_stays_between_half_and_the_ceiling() {
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
            assert!(d >= c / 2 && d <= c, "attempt {attempt}: {d:?} vs {c:?}");
        }
    }
    assert_eq!(b.ceiling(1), Duration::from_millis(100));
    assert_eq!(b.ceiling(2), Duration::from_millis(200));
    assert_eq!(b.ceiling(6), Duration::from_millis(3200));
    assert_eq!(b.ceiling(7), Duration::from_secs(5));
    assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(5));
    assert_eq!(b.delay_for(1, 0.0), Duration::from_millis(50));
    assert_eq!(b.delay_for(10, 0.0), MAX_DELAY / 2);
}

/// The process generator is not the clock: many draws in a row differ and spread over [0, 1).
#[test]
fn jitter_draws_spread_out() {
    let draws: Vec<f64> = (0..1000).map(|_| jitter()).collect();
    assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
    let low = draws.iter().filter(|d| **d < 0.5).count();
    assert!((300..700).contains(&low), "{low} of 1000 below 0.5");
    let mut distinct = draws.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(distinct.len() > 990, "{} distinct draws", distinct.len());
}

#[test]
fn service_answers_are_classified_by_code_then_status() {
    use ErrorClass::*;
    let cases = [
        (
            Some("ProvisionedThroughputExceededException"),
            400,
            Throttled,
        ),
        (Some("KMSThrottlingException"), 400, Throttled),
        (Some("LimitExceededException"), 400, Throttled),
        (Some("SlowDown"), 503, Throttled),
        (None, 429, Throttled),
        (Some("InternalFailure"), 500, Transient),
        (Some("ResourceInUseException"), 400, Transient),
        (Some("RequestTimeout"), 400, Transient),
        (Some("Whatever"), 502, Transient),
        (None, 408, Transient),
        (Some("ResourceNotFoundException"), 400, Fatal),
        (Some("AccessDeniedException"), 400, Fatal),
        (Some("InvalidArgumentException"), 400, Rejected),
        (Some("NoSuchBucket"), 404, Rejected),
    ];
    for (code, status, class) in cases {
        assert_eq!(classify_service(code, status), class, "{code:?} {status}");
    }
}

#[test]
fn sdk_errors_name_their_kind() {
    let timeout = SdkError::<PutRecordsError, HttpResponse>::timeout_error("slow");
    let f = describe(&timeout);
    assert_eq!(
        (f.class, f.code.as_str()),
        (ErrorClass::Transient, "Timeout")
    );
    let reset = SdkError::<PutRecordsError, HttpResponse>::dispatch_failure(ConnectorError::io(
        "reset".into(),
    ));
    let f = describe(&reset);
    assert_eq!(
        (f.class, f.code.as_str()),
        (ErrorClass::Transient, "ConnectionError")
    );
    let user = SdkError::<PutRecordsError, HttpResponse>::dispatch_failure(ConnectorError::user(
        "bad url".into(),
    ));
    assert_eq!(describe(&user).class, ErrorClass::Fatal);
    let f = describe(&put_error("ProvisionedThroughputExceededException", 400));
    assert_eq!(f.class, ErrorClass::Throttled);
    assert_eq!(f.code, "ProvisionedThroughputExceededException");
    assert_eq!(f.message, "m");
    let anonymous = service_error(500, PutRecordsError::generic(Default::default()));
    assert_eq!(describe(&anonymous).code, "InternalFailure");
}

#[test]
fn entry_codes() {
    assert!(entry_is_retryable("ProvisionedThroughputExceededException"));
    assert!(entry_is_retryable("InternalFailure"));
    assert!(entry_is_retryable("KMSThrottlingException"));
    assert!(entry_is_retryable("SomethingNew"));
    assert!(!entry_is_retryable("KMSAccessDeniedException"));
}

#[test]
fn policy_stops_at_the_attempts_and_cuts_the_last_wait_to_the_deadline() {
    let now = Instant::now();
    let p = Policy::attempts(3);
    assert!(p.wait_after(1, now).is_ok());
    assert!(p.wait_after(2, now).is_ok());
    assert_eq!(p.wait_after(3, now), Err(Stop::Attempts));
    let p = Policy::until(now + Duration::from_millis(10));
    let wait = p.wait_after(20, now).expect("time left");
    assert!(wait <= Duration::from_millis(10), "{wait:?}");
    assert_eq!(
        p.wait_after(1, now + Duration::from_millis(10)),
        Err(Stop::Deadline)
    );
}

#[tokio::test]
async fn retries_only_what_is_retryable_and_reports_each_retry() {
    let calls = AtomicU32::new(0);
    let mut seen = Vec::new();
    let result = with_retries(
        Policy::attempts(5),
        |n, e| seen.push((n, error_code(e).map(str::to_string))),
        || {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                match n {
                    1 => Err(put_error("ProvisionedThroughputExceededException", 400)),
                    2 => Err(put_error("InternalFailure", 500)),
                    _ => Ok(n),
                }
            }
        },
    )
    .await;
    assert_eq!(result.ok(), Some(3));
    assert_eq!(
        seen,
        vec![
            (1, Some("ProvisionedThroughputExceededException".into())),
            (2, Some("InternalFailure".into()))
        ]
    );

    let rejected = with_retries(
        Policy::attempts(5),
        |_, _| panic!("no retry"),
        || async { Err::<(), _>(put_error("InvalidArgumentException", 400)) },
    )
    .await
    .expect_err("rejected");
    assert_eq!((rejected.attempts, rejected.stop), (1, Stop::NotRetryable));

    let used_up = with_retries(
        Policy::attempts(3),
        |_, _| {},
        || async { Err::<(), _>(put_error("SlowDown", 503)) },
    )
    .await
    .expect_err("used up");
    assert_eq!((used_up.attempts, used_up.stop), (3, Stop::Attempts));
    assert!(
        used_up
            .to_string()
            .contains("after 3 attempts, attempts used up"),
        "{used_up}"
    );
}
