//! The async runtime the AWS tools run on, and the async side of the shutdown flag.

use std::time::Duration;

use anyhow::Context;
use kds_common::signal::Shutdown;

/// The small multi-threaded runtime the AWS tools run on: two workers match the two cores
/// the tools are sized for, and the work is network-bound.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves once shutdown has been requested (polled: signal handlers only set an atomic).
pub async fn wait_for_shutdown(shutdown: &Shutdown) {
    while !shutdown.requested() {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_resolves_after_trigger() {
        let s = Shutdown::manual();
        let t = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            t.trigger();
        });
        tokio::time::timeout(Duration::from_secs(5), wait_for_shutdown(&s))
            .await
            .expect("wait_for_shutdown should resolve once triggered");
    }
}
