//! Exit statuses and the thin `main` every tool shares.
//!
//! 0 success, 1 runtime failure (including any record not delivered and not dead-lettered),
//! 2 usage error. A closed stdout (`kds-gen | head`) is success, as in ripgrep.

use std::fmt::Display;

/// The three exit statuses every tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Failure,
    Usage,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
        }
    }
}

/// A usage error (bad flag value, missing stream, bad SQL): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Wraps a message as an error that maps to exit status 2.
pub fn usage(msg: impl Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.to_string()))
}

/// True when the error chain holds a usage error.
pub fn is_usage(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<UsageError>().is_some())
}

/// True when the error chain holds a broken pipe: the reader of our stdout went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One line: the error and its causes joined by ": ".
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        // anyhow contexts often repeat the inner message; don't print it twice.
        if i > 0 && line.ends_with(&text) {
            continue;
        }
        if i > 0 {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Maps a run result to an exit status, printing the error as one line on stderr.
pub fn report(tool: &str, result: anyhow::Result<Exit>) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(err) if is_broken_pipe(&err) => Exit::Ok,
        Err(err) => {
            crate::diag!("{tool}: {}", one_line(&err));
            if is_usage(&err) {
                Exit::Usage
            } else {
                Exit::Failure
            }
        }
    }
}

/// Parses the arguments, runs the tool, prints any error and exits; see [`crate::cli::main_with`].
pub fn main_with<A: clap::Parser>(tool: &str, run: impl FnOnce(A) -> anyhow::Result<Exit>) -> ! {
    crate::cli::main_with(tool, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn usage_errors_map_to_2_through_context() {
        let err = Err::<(), _>(usage("--size must be > 0"))
            .context("reading flags")
            .unwrap_err();
        assert!(is_usage(&err));
        assert_eq!(report("t", Err(err)), Exit::Usage);
    }

    #[test]
    fn broken_pipe_is_success() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        let err = anyhow::Error::new(io).context("writing stdout");
        assert_eq!(report("t", Err(err)), Exit::Ok);
    }

    #[test]
    fn other_errors_are_failures_and_one_line() {
        let err = anyhow::anyhow!("bad\nthing").context("line 3");
        assert_eq!(one_line(&err), "line 3: bad thing");
        assert_eq!(report("t", Err(err)), Exit::Failure);
    }
}
