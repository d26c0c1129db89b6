//! Serving: the accept loop, one task per connection and per request, applying the decision
//! (reset, error answer, delay, PutRecords entry failures spliced into the upstream answer).

use std::convert::Infallible;
use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use super::*;

pub(super) type ProxyResponse = Response<Full<Bytes>>;

pub(super) async fn accept_loop(
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

pub(super) async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
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

pub(super) enum Reply {
    Response(ProxyResponse),
    /// Close the connection with RST without answering.
    Reset,
}

pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let request = match ProxyRequest::read(req).await {
        Ok(r) => r,
        Err(answer) => return Reply::Response(answer),
    };
    let decision = decide(
        &shared,
        request.protocol,
        &request.operation,
        request.entries(),
    );
    if shared.log {
        log_request(&request, &decision);
    }
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    let (rid, is_head) = (decision.request_id.as_str(), request.is_head());
    let answers = shared.lock().config.answers.clone();
    let (protocol, resource) = (request.protocol, request.parts.uri.path());
    if let Some(fixed) = answers::fixed_answer(
        &answers,
        protocol,
        &request.operation,
        resource,
        rid,
        is_head,
    ) {
        return Reply::Response(fixed);
    }
    if let Some(reply) = injected_fault(&request, decision.outcome, rid) {
        return reply;
    }
    let injects_entry_faults = decision.entry_faults.iter().any(Option::is_some);
    let entries = request.entries();
    let response = match request.put_records {
        Some(body) if injects_entry_faults => {
            let stream_name = stream_name(Some(&body), &request.body);
            let faults = &decision.entry_faults;
            put_records_with_failures(&shared, &request.parts, body, faults, &stream_name, rid)
                .await
        }
        _ => forward_counted(&shared, &request.parts, request.body, entries).await,
    };
    if decision.outcome == Outcome::ResetAfter {
        return Reply::Reset;
    }
    Reply::Response(response)
}

/// One request as the proxy decides on it: its head, body, protocol and operation, and for
/// PutRecords the parsed body.
pub(super) struct ProxyRequest {
    parts: Parts,
    path_and_query: String,
    protocol: Protocol,
    operation: String,
    body: Bytes,
    put_records: Option<Value>,
}

impl ProxyRequest {
    /// Reads the whole body (which also answers `Expect: 100-continue`); a body cut short is
    /// answered 400 at once.
    async fn read(req: Request<Incoming>) -> Result<ProxyRequest, ProxyResponse> {
        let (parts, body) = req.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        let (protocol, operation) = classify(&parts.method, &path_and_query, &parts.headers);
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            // The client went away mid-request; nothing sensible to answer.
            Err(_) => return Err(plain(StatusCode::BAD_REQUEST, "incomplete request body")),
        };
        let put_records = (protocol == Protocol::Json && operation == "PutRecords")
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten();
        Ok(ProxyRequest {
            parts,
            path_and_query,
            protocol,
            operation,
            body,
            put_records,
        })
    }

    /// PutRecords entries in the request (0 for any other operation).
    fn entries(&self) -> usize {
        entries_of(self.put_records.as_ref())
    }

    fn is_head(&self) -> bool {
        self.parts.method == Method::HEAD
    }
}

fn entries_of(put_records: Option<&Value>) -> usize {
    put_records
        .and_then(|v| v.get("Records"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// `KDS_FAULT_PROXY_LOG=1`: one line per request on stderr.
fn log_request(request: &ProxyRequest, decision: &Decision) {
    let failed = decision.entry_faults.iter().flatten().count();
    eprintln!(
        "fault-proxy: {} {} {}: {:?}{}{}",
        request.parts.method,
        request.path_and_query,
        request.operation,
        decision.outcome,
        match decision.delay {
            Some(d) => format!(" after {d:?}"),
            None => String::new(),
        },
        if failed > 0 {
            format!(", {failed}/{} entries failed", request.entries())
        } else {
            String::new()
        },
    );
}

/// The stream a Kinesis request names (by StreamName or StreamARN), for error messages.
fn stream_name(put_records: Option<&Value>, body: &Bytes) -> String {
    put_records
        .and_then(stream_name_of)
        .or_else(|| {
            serde_json::from_slice::<Value>(body)
                .ok()
                .as_ref()
                .and_then(stream_name_of)
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The answer a request-level fault gives instead of forwarding: a reset before it, or an
/// error in the service's own words; `None` to forward.
fn injected_fault(request: &ProxyRequest, outcome: Outcome, rid: &str) -> Option<Reply> {
    let (resource, is_head) = (request.parts.uri.path(), request.is_head());
    let answer = match (outcome, request.protocol) {
        (Outcome::ResetBefore, _) => return Some(Reply::Reset),
        (Outcome::Forward | Outcome::ResetAfter, _) => return None,
        (Outcome::Http500, Protocol::Json) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "Internal service failure.",
            rid,
        ),
        (Outcome::Http500, Protocol::S3) => s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
            resource,
            rid,
            is_head,
        ),
        (Outcome::Slowdown503 | Outcome::Throttle, Protocol::S3) => s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
            resource,
            rid,
            is_head,
        ),
        (Outcome::Slowdown503, Protocol::Json) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is unavailable. Please try again later.",
            rid,
        ),
        (Outcome::Throttle, Protocol::Json) => json_error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            &format!(
                "Rate exceeded for shard shardId-000000000000 in stream {} \
                 under account {ACCOUNT_ID}.",
                stream_name(request.put_records.as_ref(), &request.body)
            ),
            rid,
        ),
        (Outcome::ExpiredIterator, _) => json_error(
            StatusCode::BAD_REQUEST,
            "ExpiredIteratorException",
            "Iterator expired. The iterator was created more than 300000 milliseconds ago \
             and is no longer valid.",
            rid,
        ),
    };
    Some(Reply::Response(answer))
}

pub(super) fn stream_name_of(v: &Value) -> Option<String> {
    if let Some(name) = v.get("StreamName").and_then(Value::as_str) {
        return Some(name.to_string());
    }
    v.get("StreamARN")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string)
}

pub(super) async fn forward_counted(
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

pub(super) fn upstream_failed(shared: &Shared, e: &anyhow::Error) -> ProxyResponse {
    shared.lock().stats.upstream_errors += 1;
    plain(
        StatusCode::BAD_GATEWAY,
        &format!("fault proxy: upstream request failed: {e:#}"),
    )
}
