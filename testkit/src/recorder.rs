//! A recording HTTP/1.1 endpoint: it notes the access key id of every request (from the SigV4
//! `Authorization` header), then forwards the request to an upstream emulator or answers with
//! a canned response. For tests of which credentials a tool signs with, and of how it takes
//! answers the emulators never give (403 for unknown keys, S3's 301 region redirect).
//!
//! Deliberately small and blocking (a thread per connection, one request per connection,
//! `Connection: close` on every answer): it sees a handful of calls per test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the endpoint does with a request once it has recorded it.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Forward to this base URL (`http://host:port`) and relay the answer.
    Forward(String),
    /// Answer every request with this status line (e.g. `"403 Forbidden"`), extra headers
    /// and body (the body is dropped for HEAD requests).
    Fixed {
        status: String,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Answer {
    /// Kinesis's answer to an access key id it does not know.
    pub fn kinesis_unrecognized_client() -> Answer {
        Answer::Fixed {
            status: "400 Bad Request".into(),
            headers: vec![("Content-Type".into(), "application/x-amz-json-1.1".into())],
            body: r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#.into(),
        }
    }

    /// S3's answer to an access key id it does not know.
    pub fn s3_invalid_access_key_id() -> Answer {
        Answer::Fixed {
            status: "403 Forbidden".into(),
            headers: vec![("Content-Type".into(), "application/xml".into())],
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><RequestId>KDS0TEST</RequestId></Error>".into(),
        }
    }

    /// S3's answer to a request for a bucket that lives in `region`.
    pub fn s3_bucket_in_region(region: &str) -> Answer {
        Answer::Fixed {
            status: "301 Moved Permanently".into(),
            headers: vec![
                ("Content-Type".into(), "application/xml".into()),
                ("x-amz-bucket-region".into(), region.into()),
            ],
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>".into(),
        }
    }
}

/// The running endpoint; it stops accepting when dropped (the listener thread then ends at its
/// next connection or with the process).
pub struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `X-Amz-Target`'s operation (Kinesis) or `METHOD /path` (S3).
    pub operation: String,
    /// The access key id the request was signed with (empty when unsigned).
    pub access_key_id: String,
}

impl Recorder {
    pub fn start(answer: Answer) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recorder");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("recorder address")
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (log, answer) = (Arc::clone(&log), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &answer, &log);
                });
            }
        });
        Recorder { url, seen }
    }

    /// The base URL to pass as `--endpoint-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request seen so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The distinct access key ids seen so far.
    pub fn access_key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.seen().into_iter().map(|s| s.access_key_id).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    method: String,
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    conn: &mut TcpStream,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let method = line.split(' ').next().unwrap_or("").to_string();
    let mut head = vec![line.trim_end().to_string()];
    let (mut length, mut expect) = (0usize, false);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        } else if lower.starts_with("expect:") {
            expect = true;
            continue;
        } else if lower.starts_with("connection:") {
            continue;
        }
        head.push(h);
    }
    if expect {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request { head, body, method }))
}

fn serve(conn: TcpStream, answer: &Answer, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    let Some(request) = read_request(&mut reader, &mut conn)? else {
        return Ok(());
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(describe(&request));
    match answer {
        Answer::Forward(upstream) => forward(&request, upstream, &mut conn),
        Answer::Fixed {
            status,
            headers,
            body,
        } => {
            let body = if request.method == "HEAD" {
                ""
            } else {
                body.as_str()
            };
            let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
            for (k, v) in headers {
                text.push_str(&format!("{k}: {v}\r\n"));
            }
            text.push_str("x-amzn-RequestId: KDS0TEST\r\nConnection: close\r\n\r\n");
            text.push_str(body);
            conn.write_all(text.as_bytes())?;
            conn.flush()
        }
    }
}

fn describe(request: &Request) -> Seen {
    let header = |name: &str| {
        request.head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let access_key_id = header("authorization")
        .and_then(|a| {
            let (_, rest) = a.split_once("Credential=")?;
            rest.split('/').next().map(str::to_string)
        })
        .unwrap_or_default();
    let operation = header("x-amz-target")
        .map(|t| t.rsplit('.').next().unwrap_or("").to_string())
        .unwrap_or_else(|| {
            let mut parts = request.head[0].split(' ');
            format!(
                "{} {}",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            )
        });
    Seen {
        operation,
        access_key_id,
    }
}

/// Relays one request to `upstream` (`Connection: close`, so the answer ends at EOF).
fn forward(request: &Request, upstream: &str, conn: &mut TcpStream) -> std::io::Result<()> {
    let authority = upstream
        .split_once("://")
        .map_or(upstream, |(_, rest)| rest)
        .trim_end_matches('/');
    let mut up = TcpStream::connect(authority)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut text = String::new();
    for h in &request.head {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    up.write_all(text.as_bytes())?;
    up.write_all(&request.body)?;
    up.flush()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    conn.write_all(&close_connection(answer))?;
    conn.flush()
}

/// The answer with `Connection: close` in its head, so the client opens a new connection for
/// its next request (we serve one per connection).
fn close_connection(answer: Vec<u8>) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|h| !h.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(b"\r\nConnection: close");
    out.extend_from_slice(&answer[end..]);
    out
}
