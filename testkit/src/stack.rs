//! The running local stack, as described by `<repo>/.tools/stack.env`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The message every stack failure carries, so a failing test says what to do.
pub const NOT_RUNNING: &str = "local stack not running: run scripts/stack start";

/// Region the local stack is used with.
pub const REGION: &str = "us-east-1";

/// Environment variables a child process must NOT inherit when it talks to the local stack
/// (a machine profile or a global endpoint would otherwise win or interfere).
const REMOVED_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
];

/// The local Kinesis + S3 emulators started by `scripts/stack start`.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `http://127.0.0.1:<port>` of kinesis-local.
    pub kinesis_endpoint: String,
    /// `http://127.0.0.1:<port>` of moto_server (S3, STS).
    pub s3_endpoint: String,
    vars: Vec<(String, String)>,
}

impl Stack {
    /// Reads `<repo>/.tools/stack.env` (or the file named by `KDS_STACK_ENV`) and checks that
    /// both endpoints answer HTTP. Errors name `scripts/stack start`.
    pub fn from_env_file() -> Result<Stack> {
        let path = match std::env::var_os("KDS_STACK_ENV") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => repo_root().join(".tools").join("stack.env"),
        };
        Stack::from_path(&path)
    }

    /// Like [`Stack::from_env_file`] for an explicit env file.
    pub fn from_path(path: &Path) -> Result<Stack> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => bail!("{NOT_RUNNING} ({}: {e})", path.display()),
        };
        let vars = parse_env(&text);
        let get = |k: &str| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .with_context(|| format!("{NOT_RUNNING} ({} has no {k})", path.display()))
        };
        let stack = Stack {
            kinesis_endpoint: get("AWS_ENDPOINT_URL_KINESIS")?,
            s3_endpoint: get("AWS_ENDPOINT_URL_S3")?,
            vars,
        };
        for (what, url) in [
            ("kinesis-local", &stack.kinesis_endpoint),
            ("moto_server", &stack.s3_endpoint),
        ] {
            probe_http(url).with_context(|| format!("{NOT_RUNNING} ({what} at {url})"))?;
        }
        Ok(stack)
    }

    /// The stack for tests: [`Stack::from_env_file`] once per process, panicking with
    /// "local stack not running: run scripts/stack start" when it is not available.
    pub fn get() -> Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        if let Some(s) = STACK.get() {
            return s.clone();
        }
        match Stack::from_env_file() {
            Ok(s) => STACK.get_or_init(|| s).clone(),
            Err(e) => panic!("{e:#}"),
        }
    }

    /// The variables of `stack.env` (`AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL_STS`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, ...), for
    /// `Command::envs`. Prefer [`Stack::command`], which also removes `AWS_PROFILE` etc.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.vars.clone()
    }

    /// A `Command` for `program` with the stack's environment set and `AWS_PROFILE`,
    /// `AWS_SESSION_TOKEN` and `AWS_ENDPOINT_URL` removed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        for v in REMOVED_VARS {
            cmd.env_remove(v);
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// A Kinesis client for kinesis-local (credentials test/test, us-east-1, nothing read
    /// from the machine's AWS config). Build it inside the runtime that uses it.
    pub async fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
            .endpoint_url(&self.kinesis_endpoint)
            .retry_config(
                aws_sdk_kinesis::config::retry::RetryConfig::standard().with_max_attempts(8),
            )
            .build();
        aws_sdk_kinesis::Client::from_conf(conf)
    }

    /// An S3 client for moto_server (path-style, test/test, us-east-1).
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
            .endpoint_url(&self.s3_endpoint)
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(8))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// The repository root: the parent of this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Parses `export NAME='value'` / `NAME=value` lines; other lines (comments, `unset`) are ignored.
fn parse_env(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .unwrap_or(value);
        vars.push((name.to_string(), value.to_string()));
    }
    vars
}

/// Connects to `http://host:port` and checks that something listens there and, unless it is
/// too busy to answer within 10 s (kinesis-local on a loaded machine can be), that it speaks HTTP.
fn probe_http(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("not an http:// URL: {url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .with_context(|| format!("bad address {authority}"))?
        .collect();
    let addr = addrs
        .first()
        .with_context(|| format!("no address for {authority}"))?;
    let mut conn = TcpStream::connect_timeout(addr, Duration::from_secs(3)).context("connect")?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(3)))?;
    write!(
        conn,
        "GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .context("send")?;
    let mut head = [0u8; 5];
    match conn.read_exact(&mut head) {
        Ok(()) if &head == b"HTTP/" => Ok(()),
        Ok(()) => bail!("not an HTTP server"),
        // Listening but busy: good enough, the SDK calls have their own retries.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e).context("no HTTP response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_env_file_format() {
        let vars = parse_env(
            "# comment\nexport A='x y'\nexport B=\"q\"\nC=plain\nunset AWS_PROFILE X\nexport bad-name=1\n",
        );
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "x y".to_string()),
                ("B".to_string(), "q".to_string()),
                ("C".to_string(), "plain".to_string()),
            ]
        );
    }

    #[test]
    fn missing_env_file_names_the_fix() {
        let err = Stack::from_path(Path::new("/nonexistent/kds/stack.env")).unwrap_err();
        assert!(
            format!("{err:#}").contains("run scripts/stack start"),
            "{err:#}"
        );
    }
}
