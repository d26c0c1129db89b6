//! Shard relisting on its own task, so a slow or retried ListShards never holds up the writer
//! (and with it every shard's output).
//!
//! The task lists the shards every `--list-interval`, and at once when the writer asks (a shard
//! was read to its end: its children are wanted now). Listings arrive on a channel; a listing
//! that failed ends the task after it is delivered, as it ended the run before.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::shards::{list_shards, ShardInfo};

pub type Listing = anyhow::Result<Vec<ShardInfo>>;

pub struct Lister {
    wanted: Arc<Notify>,
    pub listings: mpsc::Receiver<Listing>,
    /// A listing was asked for and has not arrived yet.
    pending: bool,
    task: JoinHandle<()>,
}

impl Lister {
    pub fn spawn(client: Client, stream: String, interval: Duration) -> Lister {
        let wanted = Arc::new(Notify::new());
        let (tx, listings) = mpsc::channel(1);
        let task = tokio::spawn(list_loop(client, stream, interval, Arc::clone(&wanted), tx));
        Lister {
            wanted,
            listings,
            pending: false,
            task,
        }
    }

    /// Asks for a listing now (one more after the one in flight, if any).
    pub fn request(&mut self) {
        self.pending = true;
        self.wanted.notify_one();
    }

    /// True from [`Lister::request`] until the next listing is received.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Marks a listing as received.
    pub fn received(&mut self) {
        self.pending = false;
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

async fn list_loop(
    client: Client,
    stream: String,
    interval: Duration,
    wanted: Arc<Notify>,
    tx: mpsc::Sender<Listing>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wanted.notified() => {}
        }
        let listing = list_shards(&client, &stream).await;
        let failed = listing.is_err();
        if tx.send(listing).await.is_err() || failed {
            return;
        }
    }
}
