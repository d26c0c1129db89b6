//! Talking to the upstream emulator: its URL, one fresh HTTP/1.1 connection per request with
//! hop-by-hop headers dropped, and the answers the proxy builds itself (JSON and S3 XML errors).

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use super::*;

pub(super) struct Upstream {
    pub(super) host: String,
    pub(super) port: u16,
    /// Path prefix of the upstream URL without a trailing '/', usually empty.
    pub(super) base_path: String,
}

impl Upstream {
    pub(super) fn parse(url: &str) -> anyhow::Result<Upstream> {
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

pub(super) const HOP_BY_HOP: &[&str] = &[
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

pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Sends the request upstream on a fresh connection and reads the whole response.
pub(super) async fn forward(
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

pub(super) fn build_response(
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

pub(super) fn json_response(status: StatusCode, body: &Value, request_id: &str) -> ProxyResponse {
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

pub(super) fn json_error(
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

pub(super) fn s3_error(
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

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn plain(status: StatusCode, text: &str) -> ProxyResponse {
    let mut resp = Response::new(Full::new(Bytes::from(text.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
