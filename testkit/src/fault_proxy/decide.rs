//! Deciding each request's fate: the shared state (configuration, RNG, fault budget, counters),
//! the draw of a delay, a request-level fault or per-entry PutRecords failures, and the
//! operation name of a request.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hyper::header::HeaderMap;
use hyper::Method;
use kds_common::rng::SplitMix64;

use super::*;

pub(super) struct Shared {
    pub(super) upstream: Upstream,
    /// Print one line per request on stderr (`KDS_FAULT_PROXY_LOG=1`).
    pub(super) log: bool,
    pub(super) state: Mutex<State>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters to tests; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct State {
    pub(super) config: FaultConfig,
    pub(super) rng: SplitMix64,
    pub(super) faults_used: u64,
    pub(super) stats: FaultStats,
    pub(super) next_request_id: u64,
}

impl State {
    pub(super) fn new(config: FaultConfig) -> State {
        State {
            rng: SplitMix64(config.seed),
            config,
            faults_used: 0,
            stats: FaultStats::default(),
            next_request_id: 1,
        }
    }

    /// Draws with probability `p`, honouring the fault budget.
    pub(super) fn hit(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let r = self.rng.next_f64();
        if r >= p {
            return false;
        }
        self.take_budget()
    }

    pub(super) fn take_budget(&mut self) -> bool {
        if let Some(max) = self.config.max_faults {
            if self.faults_used >= max {
                return false;
            }
        }
        self.faults_used += 1;
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Protocol {
    /// awsJson1.1 (Kinesis): `X-Amz-Target` header.
    Json,
    /// S3 REST-XML.
    S3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Forward,
    ResetBefore,
    Http500,
    Slowdown503,
    Throttle,
    ExpiredIterator,
    ResetAfter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EntryFault {
    ThroughputExceeded,
    KmsThrottling,
    InternalFailure,
}

pub(super) struct Decision {
    pub(super) delay: Option<Duration>,
    pub(super) outcome: Outcome,
    /// For PutRecords: one slot per entry.
    pub(super) entry_faults: Vec<Option<EntryFault>>,
    pub(super) request_id: String,
}

/// Draws the fate of one request: a delay, then at most one request-level fault, then (for a
/// PutRecords that is forwarded) a fault per entry; counts each in the stats.
pub(super) fn decide(
    shared: &Shared,
    protocol: Protocol,
    operation: &str,
    entries: usize,
) -> Decision {
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
    d.outcome = st.draw_outcome(&cfg, is_get_records);
    if entries > 0 && matches!(d.outcome, Outcome::Forward | Outcome::ResetAfter) {
        d.entry_faults = st.draw_entry_faults(&cfg, entries);
    }
    d
}

impl State {
    /// At most one request-level fault, tried in a fixed order (the first hit wins);
    /// an expired iterator only for GetRecords.
    fn draw_outcome(&mut self, cfg: &FaultConfig, is_get_records: bool) -> Outcome {
        let expired_iterator = if is_get_records {
            cfg.expired_iterator
        } else {
            0.0
        };
        let candidates = [
            (Outcome::ResetBefore, cfg.reset_before),
            (Outcome::Http500, cfg.http_500),
            (Outcome::Slowdown503, cfg.http_503_slowdown),
            (Outcome::Throttle, cfg.throttle),
            (Outcome::ExpiredIterator, expired_iterator),
            (Outcome::ResetAfter, cfg.reset_after),
        ];
        for (outcome, p) in candidates {
            if self.hit(p) {
                let s = &mut self.stats;
                match outcome {
                    Outcome::ResetBefore => s.reset_before += 1,
                    Outcome::Http500 => s.http_500 += 1,
                    Outcome::Slowdown503 => s.http_503_slowdown += 1,
                    Outcome::Throttle => s.throttle += 1,
                    Outcome::ExpiredIterator => s.expired_iterator += 1,
                    Outcome::ResetAfter => s.reset_after += 1,
                    Outcome::Forward => {}
                }
                return outcome;
            }
        }
        Outcome::Forward
    }

    /// One draw per PutRecords entry (none when no entry fault is configured), within the
    /// fault budget.
    fn draw_entry_faults(&mut self, cfg: &FaultConfig, entries: usize) -> Vec<Option<EntryFault>> {
        let p1 = cfg.put_records_entry_failure;
        let p2 = cfg.put_records_kms_throttling;
        let p3 = cfg.put_records_internal_failure;
        if p1 + p2 + p3 <= 0.0 {
            return Vec::new();
        }
        (0..entries)
            .map(|_| {
                let r = self.rng.next_f64();
                let fault = if r < p1 {
                    EntryFault::ThroughputExceeded
                } else if r < p1 + p2 {
                    EntryFault::KmsThrottling
                } else if r < p1 + p2 + p3 {
                    EntryFault::InternalFailure
                } else {
                    return None;
                };
                if !self.take_budget() {
                    return None;
                }
                let s = &mut self.stats;
                s.entries_failed += 1;
                match fault {
                    EntryFault::ThroughputExceeded => s.entry_throughput_exceeded += 1,
                    EntryFault::KmsThrottling => s.entry_kms_throttling += 1,
                    EntryFault::InternalFailure => s.entry_internal_failure += 1,
                }
                Some(fault)
            })
            .collect()
    }
}

/// The operation name used by [`FaultConfig::operations`]: the `X-Amz-Target` suffix
/// (`Kinesis_20131202.PutRecords` → `PutRecords`) for JSON-protocol requests, else the S3 API
/// name derived from method, path and query.
pub fn operation_name(method: &Method, path_and_query: &str, headers: &HeaderMap) -> String {
    classify(method, path_and_query, headers).1
}

pub(super) fn classify(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> (Protocol, String) {
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
