//! `KDS_LOG`: the debug log every tool shares, and the SDK interceptor that logs each AWS call.
//!
//! `KDS_LOG` takes tracing's filter directives, as `RUST_LOG` does (`KDS_LOG=debug`,
//! `KDS_LOG=kds=debug,aws_smithy_runtime=trace`). A bare level applies to kds-tools' own
//! targets (`kds::...`) and leaves the SDK's and hyper's at `warn`: `KDS_LOG=debug` is then one
//! line per AWS call attempt, not the SDK's internals. Lines go to stderr, never stdout.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use kds_common::exit::usage;
use tracing_subscriber::EnvFilter;

/// The variable that turns the log on.
pub const ENV: &str = "KDS_LOG";
/// The target of the call log's lines.
pub const TARGET: &str = "kds::aws";

/// Starts the stderr log when `KDS_LOG` is set; a filter that does not parse is a usage error.
pub fn init() -> anyhow::Result<()> {
    let Some(value) = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(());
    };
    let filter = EnvFilter::try_new(directives(&value))
        .map_err(|e| usage(format!("{ENV}={value:?} is not a valid filter: {e}")))?;
    // A second init (a test running two tools in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}

/// A bare level becomes `warn,kds=LEVEL`; anything else is taken as written.
fn directives(value: &str) -> String {
    let v = value.trim();
    let bare = ["trace", "debug", "info", "warn", "error", "off"]
        .iter()
        .any(|l| v.eq_ignore_ascii_case(l));
    if bare {
        format!("warn,kds={}", v.to_ascii_lowercase())
    } else {
        v.to_string()
    }
}

/// When the attempt went on the wire, for its latency.
#[derive(Debug, Clone)]
struct AttemptStart {
    at: Instant,
    target: String,
}

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

/// Logs every attempt of every call: operation, stream or bucket, HTTP status (or the error),
/// attempt number, latency. Only does work when its target is enabled at debug.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallLog;

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "kds::CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            let target = call_target(context.request());
            cfg.interceptor_state().store_put(AttemptStart {
                at: Instant::now(),
                target,
            });
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            return Ok(());
        }
        let operation = cfg.load::<Metadata>().map_or("?", |m| m.name());
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let (latency_ms, target) = match cfg.load::<AttemptStart>() {
            Some(s) => (s.at.elapsed().as_millis(), s.target.as_str()),
            None => (0, "-"),
        };
        match context.response() {
            Some(response) => tracing::debug!(
                target: TARGET,
                operation,
                target,
                status = response.status().as_u16(),
                attempt,
                latency_ms,
                "aws call"
            ),
            None => {
                let error = match context.output_or_error() {
                    Some(Err(e)) => e.to_string(),
                    _ => "no response".to_string(),
                };
                tracing::debug!(
                    target: TARGET,
                    operation,
                    target,
                    error,
                    attempt,
                    latency_ms,
                    "aws call failed"
                )
            }
        }
        Ok(())
    }
}

/// The stream (Kinesis: `StreamName` or `StreamARN` in the JSON body) or the bucket (S3: the
/// host's first label with virtual-hosted addressing, else the path's first segment).
fn call_target(request: &HttpRequest) -> String {
    if let Some(body) = request.body().bytes() {
        for key in [&b"\"StreamName\":\""[..], b"\"StreamARN\":\""] {
            if let Some(at) = memchr::memmem::find(body, key) {
                let rest = &body[at + key.len()..];
                let end = memchr::memchr(b'"', rest).unwrap_or(rest.len());
                return String::from_utf8_lossy(&rest[..end]).into_owned();
            }
        }
    }
    bucket_of(request.uri()).unwrap_or_else(|| "-".to_string())
}

fn bucket_of(uri: &str) -> Option<String> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, r)| r);
    let (host, path) = after_scheme
        .split_once('/')
        .map_or((after_scheme, ""), |(h, p)| (h, p));
    if let Some((bucket, _)) = host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
        return Some(bucket.to_string());
    }
    let first = path.split(['/', '?']).next().unwrap_or("");
    (!first.is_empty()).then(|| first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_levels_are_for_our_targets() {
        assert_eq!(directives("debug"), "warn,kds=debug");
        assert_eq!(directives("TRACE"), "warn,kds=trace");
        assert_eq!(directives("kds=debug,hyper=info"), "kds=debug,hyper=info");
    }

    #[test]
    fn bucket_from_either_addressing_style() {
        assert_eq!(
            bucket_of("http://127.0.0.1:4566/lab-bucket/a/b.json?x-id=PutObject").as_deref(),
            Some("lab-bucket")
        );
        assert_eq!(
            bucket_of("https://lab-bucket.s3.eu-west-1.amazonaws.com/a/b.json").as_deref(),
            Some("lab-bucket")
        );
        assert_eq!(bucket_of("https://kinesis.eu-west-1.amazonaws.com/"), None);
    }

    #[test]
    fn stream_from_a_kinesis_body() {
        let mut request = HttpRequest::new(aws_smithy_types::body::SdkBody::from(
            r#"{"Records":[{"Data":"eA=="}],"StreamName":"kds-lab1"}"#,
        ));
        let _ = request.set_uri("https://kinesis.eu-west-1.amazonaws.com/");
        assert_eq!(call_target(&request), "kds-lab1");
    }
}
