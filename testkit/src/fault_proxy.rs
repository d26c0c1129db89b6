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
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

mod answers;
pub use answers::FixedAnswer;

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

// ---------------------------------------------------------------------------------------------
// Internals

struct Upstream {
    host: String,
    port: u16,
    /// Path prefix of the upstream URL without a trailing '/', usually empty.
    base_path: String,
}

impl Upstream {
    fn parse(url: &str) -> anyhow::Result<Upstream> {
        let uri: hyper::Uri = url
            .parse()
            .with_context(|| format!("upstream URL {url:?} is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(s) => bail!("upstream URL {url:?}: scheme {s} is not supported (only http)"),
            None => bail!("upstream URL {url:?} has no scheme (expected http://host:port)"),
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("upstream URL {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        let base_path = uri.path().trim_end_matches('/').to_string();
        Ok(Upstream {
            host,
            port,
            base_path,
        })
    }
}

struct Shared {
    upstream: Upstream,
    /// Print one line per request on stderr (`KDS_FAULT_PROXY_LOG=1`).
    log: bool,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters to tests; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct State {
    config: FaultConfig,
    rng: SplitMix64,
    faults_used: u64,
    stats: FaultStats,
    next_request_id: u64,
}

impl State {
    fn new(config: FaultConfig) -> State {
        State {
            rng: SplitMix64(config.seed),
            config,
            faults_used: 0,
            stats: FaultStats::default(),
            next_request_id: 1,
        }
    }

    /// Draws with probability `p`, honouring the fault budget.
    fn hit(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let r = self.rng.next_f64();
        if r >= p {
            return false;
        }
        self.take_budget()
    }

    fn take_budget(&mut self) -> bool {
        if let Some(max) = self.config.max_faults {
            if self.faults_used >= max {
                return false;
            }
        }
        self.faults_used += 1;
        true
    }
}

/// Small deterministic RNG (SplitMix64), stable across crate versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// awsJson1.1 (Kinesis): `X-Amz-Target` header.
    Json,
    /// S3 REST-XML.
    S3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Forward,
    ResetBefore,
    Http500,
    Slowdown503,
    Throttle,
    ExpiredIterator,
    ResetAfter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryFault {
    ThroughputExceeded,
    KmsThrottling,
    InternalFailure,
}

struct Decision {
    delay: Option<Duration>,
    outcome: Outcome,
    /// For PutRecords: one slot per entry.
    entry_faults: Vec<Option<EntryFault>>,
    request_id: String,
}

fn decide(shared: &Shared, protocol: Protocol, operation: &str, entries: usize) -> Decision {
    let mut st = shared.lock();
    st.stats.requests += 1;
    *st.stats
        .operations
        .entry(operation.to_string())
        .or_insert(0) += 1;
    let request_id = format!(
        "{:08x}-fa17-4000-8000-{:012x}",
        st.next_request_id,
        st.rng.0 & 0xFFFF_FFFF_FFFF
    );
    st.next_request_id += 1;
    let mut d = Decision {
        delay: None,
        outcome: Outcome::Forward,
        entry_faults: Vec::new(),
        request_id,
    };
    let cfg = st.config.clone();
    if !cfg.applies_to(operation) {
        return d;
    }
    if st.hit(cfg.delay) {
        st.stats.delay += 1;
        d.delay = Some(cfg.delay_duration);
    }
    let is_get_records = protocol == Protocol::Json && operation == "GetRecords";
    let candidates = [
        (Outcome::ResetBefore, cfg.reset_before),
        (Outcome::Http500, cfg.http_500),
        (Outcome::Slowdown503, cfg.http_503_slowdown),
        (Outcome::Throttle, cfg.throttle),
        (
            Outcome::ExpiredIterator,
            if is_get_records {
                cfg.expired_iterator
            } else {
                0.0
            },
        ),
        (Outcome::ResetAfter, cfg.reset_after),
    ];
    for (outcome, p) in candidates {
        if st.hit(p) {
            d.outcome = outcome;
            let s = &mut st.stats;
            match outcome {
                Outcome::ResetBefore => s.reset_before += 1,
                Outcome::Http500 => s.http_500 += 1,
                Outcome::Slowdown503 => s.http_503_slowdown += 1,
                Outcome::Throttle => s.throttle += 1,
                Outcome::ExpiredIterator => s.expired_iterator += 1,
                Outcome::ResetAfter => s.reset_after += 1,
                Outcome::Forward => {}
            }
            break;
        }
    }
    let p1 = cfg.put_records_entry_failure;
    let p2 = cfg.put_records_kms_throttling;
    let p3 = cfg.put_records_internal_failure;
    if entries > 0
        && matches!(d.outcome, Outcome::Forward | Outcome::ResetAfter)
        && p1 + p2 + p3 > 0.0
    {
        d.entry_faults = (0..entries)
            .map(|_| {
                let r = st.rng.next_f64();
                let fault = if r < p1 {
                    EntryFault::ThroughputExceeded
                } else if r < p1 + p2 {
                    EntryFault::KmsThrottling
                } else if r < p1 + p2 + p3 {
                    EntryFault::InternalFailure
                } else {
                    return None;
                };
                if !st.take_budget() {
                    return None;
                }
                let s = &mut st.stats;
                s.entries_failed += 1;
                match fault {
                    EntryFault::ThroughputExceeded => s.entry_throughput_exceeded += 1,
                    EntryFault::KmsThrottling => s.entry_kms_throttling += 1,
                    EntryFault::InternalFailure => s.entry_internal_failure += 1,
                }
                Some(fault)
            })
            .collect();
    }
    d
}

/// The operation name used by [`FaultConfig::operations`]: the `X-Amz-Target` suffix
/// (`Kinesis_20131202.PutRecords` → `PutRecords`) for JSON-protocol requests, else the S3 API
/// name derived from method, path and query.
pub fn operation_name(method: &Method, path_and_query: &str, headers: &HeaderMap) -> String {
    classify(method, path_and_query, headers).1
}

fn classify(method: &Method, path_and_query: &str, headers: &HeaderMap) -> (Protocol, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (Protocol::Json, op.to_string());
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    let has = |name: &str| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some(name))
    };
    // Path-style: /bucket, /bucket/, /bucket/key...
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let object_level = !key.is_empty();
    let op = if bucket.is_empty() {
        match *method {
            Method::GET => "ListBuckets",
            _ => "S3",
        }
    } else if !object_level {
        match *method {
            Method::PUT if has("tagging") => "PutBucketTagging",
            Method::GET if has("tagging") => "GetBucketTagging",
            Method::PUT => "CreateBucket",
            Method::HEAD => "HeadBucket",
            Method::DELETE => "DeleteBucket",
            Method::POST if has("delete") => "DeleteObjects",
            Method::GET if has("list-type") => "ListObjectsV2",
            Method::GET if has("uploads") => "ListMultipartUploads",
            Method::GET if has("location") => "GetBucketLocation",
            Method::GET => "ListObjects",
            _ => "S3Bucket",
        }
    } else {
        match *method {
            Method::PUT if has("partNumber") && has("uploadId") => {
                if headers.contains_key("x-amz-copy-source") {
                    "UploadPartCopy"
                } else {
                    "UploadPart"
                }
            }
            Method::PUT if headers.contains_key("x-amz-copy-source") => "CopyObject",
            Method::PUT => "PutObject",
            Method::POST if has("uploads") => "CreateMultipartUpload",
            Method::POST if has("uploadId") => "CompleteMultipartUpload",
            Method::DELETE if has("uploadId") => "AbortMultipartUpload",
            Method::DELETE => "DeleteObject",
            Method::GET if has("uploadId") => "ListParts",
            Method::GET => "GetObject",
            Method::HEAD => "HeadObject",
            _ => "S3Object",
        }
    };
    (Protocol::S3, op.to_string())
}

type ProxyResponse = Response<Full<Bytes>>;

async fn accept_loop(
    listener: StdTcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fault proxy: cannot use the listener: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, shared.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // Keep a second handle on the socket so a reset can set SO_LINGER=0 and close it with RST
    // while hyper owns the first one.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(dup) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let kill = Arc::new(Notify::new());
    let svc_kill = kill.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let kill = svc_kill.clone();
        async move {
            // The request is handled in its own task, so it runs to completion (is forwarded)
            // even if the client gives up meanwhile, as a slow AWS endpoint would.
            match tokio::spawn(handle(shared, req)).await {
                Ok(Reply::Response(r)) => Ok::<_, Infallible>(r),
                Ok(Reply::Reset) | Err(_) => {
                    // Close with RST; never answer (the connection task drops this future).
                    kill.notify_one();
                    std::future::pending().await
                }
            }
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {
            if let Ok(s) = TcpStream::from_std(dup) {
                let _ = s.set_zero_linger();
                drop(s);
            }
        }
    }
}

enum Reply {
    Response(ProxyResponse),
    /// Close the connection with RST without answering.
    Reset,
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    Reply::Response(match handle_inner(shared, req).await {
        Some(r) => r,
        None => return Reply::Reset,
    })
}

/// `None` = reset the connection.
async fn handle_inner(shared: Arc<Shared>, req: Request<Incoming>) -> Option<ProxyResponse> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let (protocol, operation) = classify(&parts.method, &path_and_query, &parts.headers);
    // Reading the whole body also answers `Expect: 100-continue`.
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            // The client went away mid-request; nothing sensible to answer.
            return Some(plain(StatusCode::BAD_REQUEST, "incomplete request body"));
        }
    };

    let mut put_records: Option<Value> = None;
    if protocol == Protocol::Json && operation == "PutRecords" {
        put_records = serde_json::from_slice::<Value>(&body).ok();
    }
    let entries = put_records
        .as_ref()
        .and_then(|v| v.get("Records"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);

    let decision = decide(&shared, protocol, &operation, entries);
    if shared.log {
        let failed = decision.entry_faults.iter().flatten().count();
        eprintln!(
            "fault-proxy: {} {} {operation}: {:?}{}{}",
            parts.method,
            path_and_query,
            decision.outcome,
            match decision.delay {
                Some(d) => format!(" after {d:?}"),
                None => String::new(),
            },
            if failed > 0 {
                format!(", {failed}/{entries} entries failed")
            } else {
                String::new()
            },
        );
    }
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    let (rid, is_head) = (decision.request_id.as_str(), parts.method == Method::HEAD);
    let answers = shared.lock().config.answers.clone();
    let fixed = answers::fixed_answer(
        &answers,
        protocol,
        &operation,
        parts.uri.path(),
        rid,
        is_head,
    );
    if fixed.is_some() {
        return fixed;
    }
    let stream_name = put_records
        .as_ref()
        .and_then(stream_name_of)
        .or_else(|| {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .as_ref()
                .and_then(stream_name_of)
        })
        .unwrap_or_else(|| "unknown".to_string());
    let s3_resource = parts.uri.path();
    let early = match (decision.outcome, protocol) {
        (Outcome::ResetBefore, _) => return None,
        (Outcome::Http500, Protocol::Json) => Some(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "Internal service failure.",
            rid,
        )),
        (Outcome::Http500, Protocol::S3) => Some(s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
            s3_resource,
            rid,
            is_head,
        )),
        (Outcome::Slowdown503 | Outcome::Throttle, Protocol::S3) => Some(s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
            s3_resource,
            rid,
            is_head,
        )),
        (Outcome::Slowdown503, Protocol::Json) => Some(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is unavailable. Please try again later.",
            rid,
        )),
        (Outcome::Throttle, Protocol::Json) => Some(json_error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            &format!(
                "Rate exceeded for shard shardId-000000000000 in stream {stream_name} \
                 under account {ACCOUNT_ID}."
            ),
            rid,
        )),
        (Outcome::ExpiredIterator, _) => Some(json_error(
            StatusCode::BAD_REQUEST,
            "ExpiredIteratorException",
            "Iterator expired. The iterator was created more than 300000 milliseconds ago \
             and is no longer valid.",
            rid,
        )),
        (Outcome::Forward | Outcome::ResetAfter, _) => None,
    };
    if early.is_some() {
        return early;
    }

    let response = match put_records {
        Some(request) if decision.entry_faults.iter().any(Option::is_some) => {
            put_records_with_failures(
                &shared,
                &parts,
                request,
                &decision.entry_faults,
                &stream_name,
                rid,
            )
            .await
        }
        _ => forward_counted(&shared, &parts, body, entries).await,
    };
    if decision.outcome == Outcome::ResetAfter {
        return None;
    }
    Some(response)
}

fn stream_name_of(v: &Value) -> Option<String> {
    if let Some(name) = v.get("StreamName").and_then(Value::as_str) {
        return Some(name.to_string());
    }
    v.get("StreamARN")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string)
}

async fn forward_counted(
    shared: &Shared,
    parts: &Parts,
    body: Bytes,
    entries: usize,
) -> ProxyResponse {
    match forward(shared, parts, body, false).await {
        Ok((status, headers, body)) => {
            {
                let mut st = shared.lock();
                st.stats.forwarded += 1;
                st.stats.entries_received += entries as u64;
                st.stats.entries_forwarded += entries as u64;
            }
            build_response(status, headers, body, false)
        }
        Err(e) => upstream_failed(shared, &e),
    }
}

fn upstream_failed(shared: &Shared, e: &anyhow::Error) -> ProxyResponse {
    shared.lock().stats.upstream_errors += 1;
    plain(
        StatusCode::BAD_GATEWAY,
        &format!("fault proxy: upstream request failed: {e:#}"),
    )
}

async fn put_records_with_failures(
    shared: &Shared,
    parts: &Parts,
    mut request: Value,
    faults: &[Option<EntryFault>],
    stream_name: &str,
    rid: &str,
) -> ProxyResponse {
    let records = match request.get_mut("Records").and_then(Value::as_array_mut) {
        Some(r) => std::mem::take(r),
        None => Vec::new(),
    };
    let total = records.len();
    let kept: Vec<Value> = records
        .into_iter()
        .zip(faults.iter())
        .filter(|(_, f)| f.is_none())
        .map(|(r, _)| r)
        .collect();
    let kept_count = kept.len();
    let failure = |f: EntryFault| -> Value {
        match f {
            EntryFault::ThroughputExceeded => json!({
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": format!(
                    "Rate exceeded for shard shardId-000000000000 in stream {stream_name} under account {ACCOUNT_ID}."
                ),
            }),
            EntryFault::KmsThrottling => json!({
                "ErrorCode": "KMSThrottlingException",
                "ErrorMessage": "The request was denied due to request throttling. For more information about throttling, see Limits in the AWS KMS Developer Guide.",
            }),
            EntryFault::InternalFailure => json!({
                "ErrorCode": "InternalFailure",
                "ErrorMessage": "Internal Service Failure",
            }),
        }
    };
    let injected = faults.iter().filter(|f| f.is_some()).count();

    if kept.is_empty() {
        // Every entry fails: answer without forwarding (an empty PutRecords is invalid).
        shared.lock().stats.entries_received += total as u64;
        let result: Vec<Value> = faults.iter().flatten().map(|f| failure(*f)).collect();
        let body = json!({
            "FailedRecordCount": injected,
            "Records": result,
            "EncryptionType": "NONE",
        });
        return json_response(StatusCode::OK, &body, rid);
    }

    if let Some(r) = request.get_mut("Records") {
        *r = Value::Array(kept);
    }
    let new_body = match serde_json::to_vec(&request) {
        Ok(b) => Bytes::from(b),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}")),
    };
    let (status, headers, body) = match forward(shared, parts, new_body, true).await {
        Ok(r) => r,
        Err(e) => return upstream_failed(shared, &e),
    };
    {
        let mut st = shared.lock();
        st.stats.forwarded += 1;
        st.stats.entries_received += total as u64;
        st.stats.entries_forwarded += kept_count as u64;
    }
    if status != StatusCode::OK {
        return build_response(status, headers, body, false);
    }
    let Ok(mut upstream) = serde_json::from_slice::<Value>(&body) else {
        return build_response(status, headers, body, false);
    };
    let upstream_failed_count = upstream
        .get("FailedRecordCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let results = match upstream.get_mut("Records").and_then(Value::as_array_mut) {
        Some(r) if r.len() == kept_count => std::mem::take(r),
        _ => return build_response(status, headers, body, false),
    };
    let mut results = results.into_iter();
    let mut merged = Vec::with_capacity(total);
    for f in faults.iter().take(total) {
        match f {
            Some(f) => merged.push(failure(*f)),
            None => merged.push(results.next().unwrap_or(Value::Null)),
        }
    }
    if let Some(obj) = upstream.as_object_mut() {
        obj.insert("Records".to_string(), Value::Array(merged));
        obj.insert(
            "FailedRecordCount".to_string(),
            json!(upstream_failed_count + injected as u64),
        );
    }
    match serde_json::to_vec(&upstream) {
        Ok(b) => build_response(status, headers, Bytes::from(b), true),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}")),
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Sends the request upstream on a fresh connection and reads the whole response.
async fn forward(
    shared: &Shared,
    parts: &Parts,
    body: Bytes,
    body_changed: bool,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let up = &shared.upstream;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let target = format!("{}{}", up.base_path, path_and_query);
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(target.as_str());
    let had_body_framing = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if let Some(h) = builder.headers_mut() {
        for (name, value) in &parts.headers {
            if is_hop_by_hop(name) || name == header::CONTENT_LENGTH {
                continue;
            }
            if body_changed && (name.as_str() == "x-amz-content-sha256") {
                continue;
            }
            h.append(name.clone(), value.clone());
        }
        if had_body_framing || !body.is_empty() {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        if !h.contains_key(header::HOST) {
            if let Ok(v) = HeaderValue::from_str(&format!("{}:{}", up.host, up.port)) {
                h.insert(header::HOST, v);
            }
        }
    }
    let request = builder
        .body(Full::new(body))
        .context("building the upstream request")?;

    let tcp = TcpStream::connect((up.host.as_str(), up.port))
        .await
        .with_context(|| format!("connecting to {}:{}", up.host, up.port))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .context("HTTP handshake with upstream")?;
    let conn_task = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .context("sending the request upstream")?;
    let (rparts, rbody) = response.into_parts();
    let bytes = rbody
        .collect()
        .await
        .context("reading the upstream response body")?
        .to_bytes();
    drop(sender);
    conn_task.abort();
    Ok((rparts.status, rparts.headers, bytes))
}

fn build_response(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    body_changed: bool,
) -> ProxyResponse {
    let len = body.len();
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (name, value) in &headers {
        if is_hop_by_hop(name) {
            continue;
        }
        if body_changed && (name == header::CONTENT_LENGTH || name.as_str() == "x-amz-crc32") {
            continue;
        }
        h.append(name.clone(), value.clone());
    }
    if body_changed {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> ProxyResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn json_error(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> ProxyResponse {
    json_response(
        status,
        &json!({ "__type": error_type, "message": message }),
        request_id,
    )
}

fn s3_error(
    status: StatusCode,
    code: &str,
    message: &str,
    resource: &str,
    request_id: &str,
    is_head: bool,
) -> ProxyResponse {
    let body = if is_head {
        // HEAD responses carry no body; the SDK classifies them by status code.
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId>\
             <HostId>fault-proxy</HostId></Error>",
            xml_escape(resource)
        ))
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v);
    }
    h.insert("x-amz-id-2", HeaderValue::from_static("fault-proxy"));
    resp
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn plain(status: StatusCode, text: &str) -> ProxyResponse {
    let mut resp = Response::new(Full::new(Bytes::from(text.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rng_is_deterministic_and_uniformish() {
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let below_half = xs.iter().filter(|x| **x < 0.5).count();
        assert!((400..600).contains(&below_half), "{below_half}");
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
