//! The one AWS layer of kds-tools: everything that needs the AWS SDK or tokio lives here, so
//! the offline tools (kds-gen, kds-window) and `kds-common` build neither.
//!
//! A tool's start-up, top-down:
//! 1. [`log::init`] reads `KDS_LOG`;
//! 2. [`resolve::resolve`] loads region, profile, endpoint and credentials once and fails fast
//!    (exit 2, one line naming the fix) when one is missing, as the AWS CLI would;
//! 3. `--show-config` prints what was resolved ([`show::render`]) and stops;
//! 4. [`client`] builds the Kinesis and S3 clients, every call bounded in time, each carrying
//!    the call log interceptor ([`log::CallLog`]);
//! 5. [`preflight`] makes one cheap call that proves the credentials and the target (stream
//!    ACTIVE, bucket in this region) before any record is read.

pub mod args;
pub mod client;
pub mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod kinesis;
pub mod log;
pub mod preflight;
pub mod resolve;
pub mod retry;
pub mod runtime;
pub mod s3;
pub mod show;

pub use args::AwsArgs;
pub use error::describe_sdk_error;
pub use resolve::{resolve, Resolved};
pub use runtime::{runtime, wait_for_shutdown};

pub use args::Service;

/// The start-up every AWS tool shares: the log, the configuration (fail fast), and
/// `--show-config`, which prints to stdout and answers `None`: the tool then exits 0.
pub async fn start(args: &AwsArgs, services: &[Service]) -> anyhow::Result<Option<Resolved>> {
    log::init()?;
    let resolved = resolve(args).await?;
    if args.show_config {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(show::render(&resolved, services).as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| anyhow::Error::new(e).context("writing the configuration to stdout"))?;
        return Ok(None);
    }
    Ok(Some(resolved))
}
