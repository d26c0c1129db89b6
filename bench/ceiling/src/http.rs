//! Kinesis's JSON protocol over plain HTTP/1.1 keep-alive connections, by hand: a request is built
//! once into bytes and written as is, so the client costs the emulator's measurement almost
//! nothing (no SDK, no signing, no serialisation per call). The emulators accept any
//! well-formed SigV4 `Authorization` header without checking the signature.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context, Result};

/// `http://host:port` of a local emulator (TLS is not spoken here).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host_port: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self> {
        let host_port = url
            .strip_prefix("http://")
            .with_context(|| format!("--endpoint {url}: only http://HOST:PORT is supported"))?
            .trim_end_matches('/');
        Ok(Self {
            host_port: host_port.to_string(),
        })
    }
}

/// The whole HTTP request of one Kinesis call (`target` e.g. `PutRecords`).
pub fn request(endpoint: &Endpoint, target: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Kinesis_20131202.{target}\r\nX-Amz-Date: 20210319T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20210319/us-east-1/kinesis/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0\r\n\
         Content-Length: {len}\r\n\r\n",
        host = endpoint.host_port,
        len = body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// One keep-alive connection.
pub struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(endpoint: &Endpoint) -> Result<Self> {
        let writer = TcpStream::connect(&endpoint.host_port)
            .with_context(|| format!("connecting to {}", endpoint.host_port))?;
        writer.set_nodelay(true).context("TCP_NODELAY")?;
        let reader = BufReader::new(writer.try_clone().context("cloning the socket")?);
        Ok(Self { writer, reader })
    }

    /// Sends one pre-built request; the response body of a 200, or an error naming the status.
    pub fn call(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        self.writer
            .write_all(request)
            .context("sending a request")?;
        let (status, length) = self.read_head()?;
        let mut body = vec![0; length];
        self.reader
            .read_exact(&mut body)
            .context("reading a response body")?;
        if status != 200 {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// The status and Content-Length of the next response (the emulators always send one).
    fn read_head(&mut self) -> Result<(u16, usize)> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .context("reading a status line")?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .context("reading headers")?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.trim().parse().context("bad Content-Length")?);
                }
            }
        }
        Ok((status, length.context("response without Content-Length")?))
    }
}
