//! PutRecords entry failures: the entries drawn to fail are taken out of the request, the rest
//! is forwarded, and the failures are spliced back into the upstream answer at their places,
//! with the error codes of the Kinesis API Reference ("PutRecords").

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::*;

/// Forwards the entries of `request` that `faults` leaves alone and answers with the upstream
/// result merged with one failure per faulted entry.
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
    if kept.is_empty() {
        // Every entry fails: answer without forwarding (an empty PutRecords is invalid).
        shared.lock().stats.entries_received += total as u64;
        return all_failed(faults, stream_name, rid);
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
    match merged_answer(&body, faults, total, kept_count, stream_name) {
        Some(Ok(merged)) => build_response(status, headers, Bytes::from(merged), true),
        Some(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}")),
        // Not the answer expected: pass it on as it is.
        None => build_response(status, headers, body, false),
    }
}

/// The result entry of a failed record, as Kinesis words it.
fn entry_failure(fault: EntryFault, stream_name: &str) -> Value {
    match fault {
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
}

/// The answer when every entry fails.
fn all_failed(faults: &[Option<EntryFault>], stream_name: &str, rid: &str) -> ProxyResponse {
    let result: Vec<Value> = faults
        .iter()
        .flatten()
        .map(|f| entry_failure(*f, stream_name))
        .collect();
    let body = json!({
        "FailedRecordCount": result.len(),
        "Records": result,
        "EncryptionType": "NONE",
    });
    json_response(StatusCode::OK, &body, rid)
}

/// The upstream answer `body` (for the `kept` entries) with the injected failures put back at
/// their places and counted; `None` when the answer is not the JSON expected.
fn merged_answer(
    body: &[u8],
    faults: &[Option<EntryFault>],
    total: usize,
    kept: usize,
    stream_name: &str,
) -> Option<serde_json::Result<Vec<u8>>> {
    let mut upstream = serde_json::from_slice::<Value>(body).ok()?;
    let upstream_failed_count = upstream
        .get("FailedRecordCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let results = match upstream.get_mut("Records").and_then(Value::as_array_mut) {
        Some(r) if r.len() == kept => std::mem::take(r),
        _ => return None,
    };
    let mut results = results.into_iter();
    let merged: Vec<Value> = faults
        .iter()
        .take(total)
        .map(|f| match f {
            Some(f) => entry_failure(*f, stream_name),
            None => results.next().unwrap_or(Value::Null),
        })
        .collect();
    let injected = faults.iter().filter(|f| f.is_some()).count();
    if let Some(obj) = upstream.as_object_mut() {
        obj.insert("Records".to_string(), Value::Array(merged));
        obj.insert(
            "FailedRecordCount".to_string(),
            json!(upstream_failed_count + injected as u64),
        );
    }
    Some(serde_json::to_vec(&upstream))
}
