//! Per-test S3 buckets and reading a whole bucket back.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_s3::Client;

use crate::names::unique_name;
use crate::stack::Stack;

/// A uniquely named bucket on the local stack; emptied and deleted when dropped (best effort)
/// or by [`TestBucket::delete`].
#[derive(Debug)]
pub struct TestBucket {
    /// The bucket name (`kds-test-<pid>-<n>-<random>`).
    pub name: String,
    stack: Stack,
    deleted: bool,
}

impl TestBucket {
    /// Creates a bucket named `kds-test-...`.
    pub async fn create(stack: &Stack) -> Result<TestBucket> {
        TestBucket::create_named(stack, "kds-test").await
    }

    /// Like [`TestBucket::create`] with a name made by [`unique_name`]`(prefix)`.
    pub async fn create_named(stack: &Stack, prefix: &str) -> Result<TestBucket> {
        let name = unique_name(prefix);
        let client = stack.s3_client().await;
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .with_context(|| format!("CreateBucket {name}"))?;
        Ok(TestBucket {
            name,
            stack: stack.clone(),
            deleted: false,
        })
    }

    /// Empties and deletes the bucket now.
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        let client = self.stack.s3_client().await;
        empty_and_delete(&client, &self.name).await
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let (stack, name) = (self.stack.clone(), self.name.clone());
        crate::run_detached(Duration::from_secs(30), async move {
            let client = stack.s3_client().await;
            if let Err(e) = empty_and_delete(&client, &name).await {
                eprintln!("testkit: could not delete bucket {name}: {e:#}");
            }
        });
    }
}

async fn empty_and_delete(client: &Client, bucket: &str) -> Result<()> {
    for key in list_keys(client, bucket).await? {
        client
            .delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("DeleteObject {bucket}/{key}"))?;
    }
    client
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("DeleteBucket {bucket}"))?;
    Ok(())
}

/// Every key in `bucket` (ListObjectsV2, all pages), in the service's (lexicographic) order.
pub async fn list_keys(client: &Client, bucket: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .with_context(|| format!("ListObjectsV2 {bucket}"))?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(keys)
}

/// Every object of `bucket` as `(key, bytes)`, sorted by key.
pub async fn list_objects_all(client: &Client, bucket: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut objects = Vec::new();
    for key in list_keys(client, bucket).await? {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("GetObject {bucket}/{key}"))?;
        let body = out
            .body
            .collect()
            .await
            .with_context(|| format!("reading {bucket}/{key}"))?
            .into_bytes()
            .to_vec();
        objects.push((key, body));
    }
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(objects)
}

/// The records kds-s3sink's object reports (one JSON line per object written, on its stdout)
/// add up to.
pub fn reported_records(stdout: &[u8]) -> Result<u64> {
    let lines = stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    lines
        .map(|line| {
            let report: serde_json::Value =
                serde_json::from_slice(line).context("an object report is not JSON")?;
            report["records"]
                .as_u64()
                .with_context(|| format!("object report without records: {report}"))
        })
        .sum()
}
