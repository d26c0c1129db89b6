//! A fault-injecting HTTP/1.1 reverse proxy for testing retries against the local emulators.
//!
//! [`FaultProxy`] listens on `127.0.0.1:<free port>` in front of an upstream emulator
//! (kinesis-local for the Kinesis JSON protocol, moto_server for S3 REST) and forwards every
//! request to it, except that, by configuration, it injects the failures real AWS produces and
//! the emulators never do: partial PutRecords failures, 500s, throttling, expired iterators,
//! connection resets and delays. Point a tool's `--endpoint-url` (or `AWS_ENDPOINT_URL_KINESIS`
//! / `AWS_ENDPOINT_URL_S3`) at [`FaultProxy::url`].
//!
//! The proxy runs on its own thread with its own tokio runtime, so it works the same from
//! `#[test]` and `#[tokio::test]` functions; it stops when the [`FaultProxy`] is dropped.
//! The configuration can be changed while it runs ([`FaultProxy::set_config`]) and counters are
//! read with [`FaultProxy::stats`].
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::fault_proxy::{FaultConfig, FaultProxy};
//!
//! let kinesis = "http://127.0.0.1:4567"; // e.g. $AWS_ENDPOINT_URL_KINESIS
//! let proxy = FaultProxy::start(
//!     kinesis,
//!     FaultConfig::new()
//!         .seed(42)
//!         .only(["PutRecords"])            // leave ListShards, DescribeStream... alone
//!         .put_records_entry_failure(0.2)   // 20% of entries: ProvisionedThroughputExceededException
//!         .http_500(0.05),                  // 5% of calls: 500 InternalFailure
//! );
//! // run the tool with `--endpoint-url proxy.url()` ...
//! let stats = proxy.stats();
//! assert!(stats.entries_failed > 0);
//! // stop injecting, e.g. to read the stream back through the same proxy:
//! proxy.set_config(FaultConfig::new());
//! # let _ = Duration::ZERO;
//! ```
//!
//! # Faults
//!
//! Every fault is a probability in `[0, 1]`, drawn from a deterministic RNG seeded with
//! [`FaultConfig::seed`] (re-seeded by every [`FaultProxy::set_config`]). Requests whose
//! operation is not in [`FaultConfig::operations`] (when that list is not empty) are forwarded
//! untouched. Operation names: the `X-Amz-Target` suffix for Kinesis (`PutRecords`,
//! `GetRecords`, `GetShardIterator`, `ListShards`, ...); for S3 the API name derived from
//! method, path and query (`PutObject`, `GetObject`, `HeadObject`, `CreateMultipartUpload`,
//! `UploadPart`, `CompleteMultipartUpload`, `AbortMultipartUpload`, `ListObjectsV2`,
//! `CreateBucket`, `DeleteObject`, ...); see [`operation_name`].
//!
//! For each matching request, `delay` is drawn first (independently); then the request-level
//! faults are drawn in this order and the first hit wins:
//!
//! | field | Kinesis (awsJson1.1) | S3 (REST-XML) | forwarded? |
//! |---|---|---|---|
//! | `reset_before` | connection closed with RST, no answer | same | no |
//! | `http_500` | 500 `{"__type":"InternalFailure","message":"Internal service failure."}` | 500 `<Error><Code>InternalError</Code>...` | no |
//! | `http_503_slowdown` | 503 `{"__type":"ServiceUnavailable",...}` | 503 `<Error><Code>SlowDown</Code>...` | no |
//! | `throttle` | 400 `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard ..."}` | 503 `SlowDown` | no |
//! | `expired_iterator` (GetRecords only) | 400 `{"__type":"ExpiredIteratorException","message":"Iterator expired. ..."}` | - | no |
//! | `reset_after` | request forwarded, response thrown away, connection closed with RST | same | yes |
//!
//! All of these are classified by the AWS SDKs as real AWS responses would be: 500/503 are
//! transient (retried), `ProvisionedThroughputExceededException` and `SlowDown` are throttling
//! errors (retried), `ExpiredIteratorException` is not retryable, and a reset is a retryable
//! I/O error (the SDK cannot know whether `reset_after` took effect: producers may duplicate).
//!
//! PutRecords entry faults (`put_records_entry_failure` → `ProvisionedThroughputExceededException`,
//! `put_records_kms_throttling` → `KMSThrottlingException`, `put_records_internal_failure` →
//! `InternalFailure`) are drawn per entry when the call is forwarded. The chosen entries are
//! REMOVED from the request before it is forwarded (so a failed entry is really not written),
//! and failure entries `{"ErrorCode":..,"ErrorMessage":..}` are spliced into the response at
//! their original positions, with `FailedRecordCount` updated. If every entry fails, nothing is
//! forwarded and the proxy answers 200 itself. This keeps exactly-once accounting in tests honest.
//!
//! [`FaultConfig::max_faults`] caps the total number of injected faults (entry failures count
//! one each), e.g. "fail the first 3 calls, then behave".
//!
//! `delay` stalls the request before anything else happens to it. Each request is handled in
//! its own task, so a delayed (or any) request is still forwarded after the client gave up on
//! it (attempt timeout), like a slow AWS call that times out client-side yet takes effect.
//!
//! If the upstream cannot be reached the proxy answers 502 and counts `upstream_errors`.
//! Set `KDS_FAULT_PROXY_LOG=1` to get one stderr line per request (operation and fault).
//!
//! Forwarding: every request goes upstream on a fresh HTTP/1.1 connection, headers as received
//! (including `Host`, so signatures and path-style S3 stay valid) minus hop-by-hop headers;
//! chunked request bodies and `Expect: 100-continue` are handled by the proxy, which forwards
//! the whole body with a `Content-Length`; responses are read whole and passed on with a
//! `Content-Length`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::oneshot;

mod answers;
mod decide;
mod forward;
mod serve;
mod splice;
pub use answers::FixedAnswer;
// The internals, one concern per file; siblings see each other's items through this root.
pub use decide::operation_name;
use decide::*;
use forward::*;
use kds_common::rng::SplitMix64;
use serve::*;
use splice::*;

/// Account id used in injected error messages.
pub const ACCOUNT_ID: &str = "123456789012";

/// What to inject; see the [module documentation](self). `FaultConfig::default()` injects nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// RNG seed; the same seed and the same request sequence give the same faults.
    pub seed: u64,
    /// Operations faults apply to (e.g. `"PutRecords"`, `"GetRecords"`, `"PutObject"`);
    /// empty = every operation.
    pub operations: Vec<String>,
    /// Per PutRecords entry: fail with `ProvisionedThroughputExceededException` (not written).
    pub put_records_entry_failure: f64,
    /// Per PutRecords entry: fail with `KMSThrottlingException` (not written).
    pub put_records_kms_throttling: f64,
    /// Per PutRecords entry: fail with `InternalFailure` (not written).
    pub put_records_internal_failure: f64,
    /// Per request: 500 InternalFailure / S3 InternalError, not forwarded.
    pub http_500: f64,
    /// Per request: 503 SlowDown (S3) / ServiceUnavailable (Kinesis), not forwarded.
    pub http_503_slowdown: f64,
    /// Per request: 400 ProvisionedThroughputExceededException (Kinesis) / 503 SlowDown (S3).
    pub throttle: f64,
    /// Per GetRecords request: 400 ExpiredIteratorException, not forwarded.
    pub expired_iterator: f64,
    /// Per request: close the connection (RST) without forwarding or answering.
    pub reset_before: f64,
    /// Per request: forward it, then close the connection (RST) without answering.
    pub reset_after: f64,
    /// Per request: wait `delay_duration` before handling it.
    pub delay: f64,
    /// How long a `delay` fault stalls (default 2 s).
    pub delay_duration: Duration,
    /// At most this many faults in total (None = unlimited).
    pub max_faults: Option<u64>,
    /// Operations always answered with a fixed error status ([`FaultConfig::answer`]).
    pub answers: Vec<FixedAnswer>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            operations: Vec::new(),
            put_records_entry_failure: 0.0,
            put_records_kms_throttling: 0.0,
            put_records_internal_failure: 0.0,
            http_500: 0.0,
            http_503_slowdown: 0.0,
            throttle: 0.0,
            expired_iterator: 0.0,
            reset_before: 0.0,
            reset_after: 0.0,
            delay: 0.0,
            delay_duration: Duration::from_secs(2),
            max_faults: None,
            answers: Vec::new(),
        }
    }
}

impl FaultConfig {
    /// No faults (a transparent proxy).
    pub fn new() -> Self {
        Self::default()
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Restrict faults to these operations.
    pub fn only<I, S>(mut self, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations = operations.into_iter().map(Into::into).collect();
        self
    }
    pub fn put_records_entry_failure(mut self, p: f64) -> Self {
        self.put_records_entry_failure = p;
        self
    }
    pub fn put_records_kms_throttling(mut self, p: f64) -> Self {
        self.put_records_kms_throttling = p;
        self
    }
    pub fn put_records_internal_failure(mut self, p: f64) -> Self {
        self.put_records_internal_failure = p;
        self
    }
    pub fn http_500(mut self, p: f64) -> Self {
        self.http_500 = p;
        self
    }
    pub fn http_503_slowdown(mut self, p: f64) -> Self {
        self.http_503_slowdown = p;
        self
    }
    pub fn throttle(mut self, p: f64) -> Self {
        self.throttle = p;
        self
    }
    pub fn expired_iterator(mut self, p: f64) -> Self {
        self.expired_iterator = p;
        self
    }
    pub fn reset_before(mut self, p: f64) -> Self {
        self.reset_before = p;
        self
    }
    pub fn reset_after(mut self, p: f64) -> Self {
        self.reset_after = p;
        self
    }
    /// Stall `duration` before handling a fraction `p` of the requests.
    pub fn delay(mut self, p: f64, duration: Duration) -> Self {
        self.delay = p;
        self.delay_duration = duration;
        self
    }
    pub fn max_faults(mut self, n: u64) -> Self {
        self.max_faults = Some(n);
        self
    }

    /// Checks every probability is in `[0, 1]` and the entry-failure probabilities sum to at most 1.
    pub fn validate(&self) -> anyhow::Result<()> {
        let probs = [
            ("put_records_entry_failure", self.put_records_entry_failure),
            (
                "put_records_kms_throttling",
                self.put_records_kms_throttling,
            ),
            (
                "put_records_internal_failure",
                self.put_records_internal_failure,
            ),
            ("http_500", self.http_500),
            ("http_503_slowdown", self.http_503_slowdown),
            ("throttle", self.throttle),
            ("expired_iterator", self.expired_iterator),
            ("reset_before", self.reset_before),
            ("reset_after", self.reset_after),
            ("delay", self.delay),
        ];
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                bail!("fault probability {name} = {p} is not in [0, 1]");
            }
        }
        let entry_sum = self.put_records_entry_failure
            + self.put_records_kms_throttling
            + self.put_records_internal_failure;
        if entry_sum > 1.0 + 1e-9 {
            bail!("PutRecords entry failure probabilities sum to {entry_sum} > 1");
        }
        Ok(())
    }

    fn applies_to(&self, operation: &str) -> bool {
        self.operations.is_empty() || self.operations.iter().any(|o| o == operation)
    }
}

/// Counters since start (or the last [`FaultProxy::reset_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests received (complete requests, whatever happened to them).
    pub requests: u64,
    /// Requests sent upstream whose response came back (including `reset_after` ones).
    pub forwarded: u64,
    /// Upstream connection/protocol failures (answered with 502).
    pub upstream_errors: u64,
    /// Entries of the PutRecords calls that reached the entry stage (forwarded, or answered
    /// by the proxy because every entry failed); calls failed as a whole are not counted.
    pub entries_received: u64,
    /// PutRecords entries forwarded upstream (received minus injected entry failures).
    pub entries_forwarded: u64,
    /// Injected entry failures, all codes (the sum of the three below).
    pub entries_failed: u64,
    pub entry_throughput_exceeded: u64,
    pub entry_kms_throttling: u64,
    pub entry_internal_failure: u64,
    pub http_500: u64,
    pub http_503_slowdown: u64,
    pub throttle: u64,
    pub expired_iterator: u64,
    pub reset_before: u64,
    pub reset_after: u64,
    pub delay: u64,
    /// Requests per operation name.
    pub operations: BTreeMap<String, u64>,
}

impl FaultStats {
    /// Request-level faults injected (500, 503, throttle, expired iterator, resets; not delays).
    pub fn injected_requests(&self) -> u64 {
        self.http_500
            + self.http_503_slowdown
            + self.throttle
            + self.expired_iterator
            + self.reset_before
            + self.reset_after
    }
    /// Requests seen for one operation.
    pub fn operation(&self, name: &str) -> u64 {
        self.operations.get(name).copied().unwrap_or(0)
    }
}

/// A running proxy; see the [module documentation](self). Stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:4567`).
    ///
    /// # Panics
    /// If the configuration is invalid or no port can be bound (this is a test helper; use
    /// [`FaultProxy::try_start`] to get the error instead).
    pub fn start(upstream: impl AsRef<str>, config: FaultConfig) -> FaultProxy {
        match Self::try_start(upstream.as_ref(), config) {
            Ok(p) => p,
            Err(e) => panic!("fault proxy: {e:#}"),
        }
    }

    /// Like [`FaultProxy::start`], returning errors.
    pub fn try_start(upstream: &str, config: FaultConfig) -> anyhow::Result<FaultProxy> {
        config.validate()?;
        let target = Upstream::parse(upstream)?;
        let listener = StdTcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        listener
            .set_nonblocking(true)
            .context("setting the listener non-blocking")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let shared = Arc::new(Shared {
            upstream: target,
            log: std::env::var_os("KDS_FAULT_PROXY_LOG").is_some_and(|v| !v.is_empty() && v != "0"),
            state: Mutex::new(State::new(config)),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the proxy runtime")?;
        let (tx, rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, thread_shared, rx));
                // Dropping the runtime cancels every connection task.
                drop(runtime);
            })
            .context("spawning the proxy thread")?;
        Ok(FaultProxy {
            addr,
            upstream: upstream.to_string(),
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`: use as the endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream URL given to `start`.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Replaces the configuration (takes effect for the next request), re-seeds the RNG and
    /// restarts the [`FaultConfig::max_faults`] budget. Counters are kept.
    ///
    /// # Panics
    /// If the configuration is invalid.
    pub fn set_config(&self, config: FaultConfig) {
        if let Err(e) = config.validate() {
            panic!("fault proxy: {e:#}");
        }
        let mut st = self.shared.lock();
        st.rng = SplitMix64(config.seed);
        st.faults_used = 0;
        st.config = config;
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        self.shared.lock().config.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FaultStats {
        self.shared.lock().stats.clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.shared.lock().stats = FaultStats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url())
            .field("upstream", &self.upstream)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderMap, HeaderValue};
    use hyper::Method;

    fn op(method: Method, pq: &str) -> String {
        operation_name(&method, pq, &HeaderMap::new())
    }

    #[test]
    fn kinesis_operation_from_target() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-target",
            HeaderValue::from_static("Kinesis_20131202.PutRecords"),
        );
        assert_eq!(operation_name(&Method::POST, "/", &h), "PutRecords");
    }

    #[test]
    fn s3_operations_from_method_and_path() {
        assert_eq!(op(Method::PUT, "/bucket"), "CreateBucket");
        assert_eq!(op(Method::PUT, "/bucket/"), "CreateBucket");
        assert_eq!(
            op(Method::GET, "/bucket?list-type=2&prefix=a"),
            "ListObjectsV2"
        );
        assert_eq!(op(Method::GET, "/bucket/?list-type=2"), "ListObjectsV2");
        assert_eq!(op(Method::GET, "/"), "ListBuckets");
        assert_eq!(op(Method::PUT, "/bucket/a/b.json"), "PutObject");
        assert_eq!(op(Method::PUT, "/bucket/k?x-id=PutObject"), "PutObject");
        assert_eq!(op(Method::GET, "/bucket/k"), "GetObject");
        assert_eq!(op(Method::HEAD, "/bucket/k"), "HeadObject");
        assert_eq!(
            op(Method::POST, "/bucket/k?uploads"),
            "CreateMultipartUpload"
        );
        assert_eq!(
            op(Method::PUT, "/bucket/k?partNumber=1&uploadId=abc"),
            "UploadPart"
        );
        assert_eq!(
            op(Method::POST, "/bucket/k?uploadId=abc"),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            op(Method::DELETE, "/bucket/k?uploadId=abc"),
            "AbortMultipartUpload"
        );
        assert_eq!(op(Method::DELETE, "/bucket/k"), "DeleteObject");
    }

    #[test]
    fn validate_rejects_bad_probabilities() {
        assert!(FaultConfig::new().http_500(1.5).validate().is_err());
        assert!(FaultConfig::new().throttle(-0.1).validate().is_err());
        assert!(FaultConfig::new()
            .put_records_entry_failure(0.6)
            .put_records_internal_failure(0.6)
            .validate()
            .is_err());
        assert!(FaultConfig::new().http_500(1.0).validate().is_ok());
    }

    #[test]
    fn budget_limits_faults() {
        let shared = Shared {
            upstream: Upstream::parse("http://127.0.0.1:1").unwrap(),
            log: false,
            state: Mutex::new(State::new(FaultConfig::new().http_500(1.0).max_faults(2))),
        };
        let outcomes: Vec<Outcome> = (0..4)
            .map(|_| decide(&shared, Protocol::Json, "PutRecords", 0).outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Http500,
                Outcome::Http500,
                Outcome::Forward,
                Outcome::Forward
            ]
        );
    }

    #[test]
    fn operations_filter() {
        let shared = Shared {
            upstream: Upstream::parse("http://127.0.0.1:1").unwrap(),
            log: false,
            state: Mutex::new(State::new(
                FaultConfig::new().http_500(1.0).only(["GetRecords"]),
            )),
        };
        assert_eq!(
            decide(&shared, Protocol::Json, "GetShardIterator", 0).outcome,
            Outcome::Forward
        );
        assert_eq!(
            decide(&shared, Protocol::Json, "GetRecords", 0).outcome,
            Outcome::Http500
        );
        let st = shared.lock();
        assert_eq!(st.stats.requests, 2);
        assert_eq!(st.stats.http_500, 1);
    }

    #[test]
    fn proxy_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<FaultProxy>();
        check::<FaultConfig>();
        check::<FaultStats>();
    }

    #[test]
    fn upstream_url_parsing() {
        let u = Upstream::parse("http://localhost:4567").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.base_path.as_str()),
            ("localhost", 4567, "")
        );
        assert!(Upstream::parse("https://x:1").is_err());
        assert!(Upstream::parse("127.0.0.1:1").is_err());
    }
}
