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
use serde_json::{json, Value};
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
    Reply::Response(match handle_inner(shared, req).await {
        Some(r) => r,
        None => return Reply::Reset,
    })
}

/// `None` = reset the connection.
pub(super) async fn handle_inner(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Option<ProxyResponse> {
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

pub(super) async fn put_records_with_failures(
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
