//! The Kinesis calls the tools make, behind one narrow trait ([`KinesisApi`]): the SDK client
//! implements it, and unit tests give the tools a scripted fake instead (`crate::fake`, feature
//! `fake`). Requests are plain arguments; answers are the SDK's own output and error types, so
//! the tools' handling of them is the same code in production and under test.
//!
//! Also here: the one ListShards pager ([`list_shards`]) every tool and test uses.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_kinesis::operation::describe_stream_summary::{
    DescribeStreamSummaryError, DescribeStreamSummaryOutput,
};
use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::{
    GetShardIteratorError, GetShardIteratorOutput,
};
use aws_sdk_kinesis::operation::list_shards::{ListShardsError, ListShardsOutput};
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, Shard, ShardIteratorType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::retry::{with_retries, GaveUp, Policy};

/// One call in flight: the SDK's answer or its error.
pub type Call<'a, O, E> =
    Pin<Box<dyn Future<Output = Result<O, SdkError<E, HttpResponse>>> + Send + 'a>>;

/// Where a shard iterator starts (GetShardIterator's ShardIteratorType and its argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IteratorStart {
    TrimHorizon,
    Latest,
    /// Epoch milliseconds.
    AtTimestamp(i64),
    AtSequence(String),
    AfterSequence(String),
}

/// The Kinesis Data Streams calls of kds-put and kds-tail.
pub trait KinesisApi: Send + Sync {
    /// The start-up check ([`crate::preflight::stream_active`]): status and limits of `stream`.
    fn describe_stream_summary(
        &self,
        stream: &str,
    ) -> Call<'_, DescribeStreamSummaryOutput, DescribeStreamSummaryError>;

    fn put_records(
        &self,
        stream: &str,
        records: Vec<PutRecordsRequestEntry>,
    ) -> Call<'_, PutRecordsOutput, PutRecordsError>;

    fn get_shard_iterator(
        &self,
        stream: &str,
        shard: &str,
        start: &IteratorStart,
    ) -> Call<'_, GetShardIteratorOutput, GetShardIteratorError>;

    fn get_records(
        &self,
        iterator: &str,
        limit: i32,
    ) -> Call<'_, GetRecordsOutput, GetRecordsError>;

    /// One ListShards page: the first (by stream name) or the one `next_token` names (with a
    /// NextToken the stream name must not be given: Kinesis API Reference, "ListShards").
    fn list_shards(
        &self,
        stream: &str,
        next_token: Option<&str>,
    ) -> Call<'_, ListShardsOutput, ListShardsError>;
}

impl KinesisApi for aws_sdk_kinesis::Client {
    fn describe_stream_summary(
        &self,
        stream: &str,
    ) -> Call<'_, DescribeStreamSummaryOutput, DescribeStreamSummaryError> {
        Box::pin(self.describe_stream_summary().stream_name(stream).send())
    }

    fn put_records(
        &self,
        stream: &str,
        records: Vec<PutRecordsRequestEntry>,
    ) -> Call<'_, PutRecordsOutput, PutRecordsError> {
        let req = self
            .put_records()
            .stream_name(stream)
            .set_records(Some(records));
        Box::pin(req.send())
    }

    fn get_shard_iterator(
        &self,
        stream: &str,
        shard: &str,
        start: &IteratorStart,
    ) -> Call<'_, GetShardIteratorOutput, GetShardIteratorError> {
        let req = self
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard);
        let req = match start {
            IteratorStart::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            IteratorStart::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            IteratorStart::AtTimestamp(ms) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from_millis(*ms)),
            IteratorStart::AtSequence(seq) => req
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(seq),
            IteratorStart::AfterSequence(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
        };
        Box::pin(req.send())
    }

    fn get_records(
        &self,
        iterator: &str,
        limit: i32,
    ) -> Call<'_, GetRecordsOutput, GetRecordsError> {
        Box::pin(
            self.get_records()
                .shard_iterator(iterator)
                .limit(limit)
                .send(),
        )
    }

    fn list_shards(
        &self,
        stream: &str,
        next_token: Option<&str>,
    ) -> Call<'_, ListShardsOutput, ListShardsError> {
        let req = match next_token {
            Some(t) => self.list_shards().next_token(t),
            None => self.list_shards().stream_name(stream),
        };
        Box::pin(req.send())
    }
}

/// Every shard of `stream`, open and closed, in the service's order: ListShards following
/// NextToken, each page under `policy` (throttling and transient failures retried).
pub async fn list_shards(
    api: &dyn KinesisApi,
    stream: &str,
    policy: Policy,
) -> Result<Vec<Shard>, GaveUp<ListShardsError>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = with_retries(
            policy,
            |_, _| {},
            || api.list_shards(stream, token.as_deref()),
        )
        .await?;
        let next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        shards.extend(page.shards.unwrap_or_default());
        match next {
            Some(t) => token = Some(t),
            None => return Ok(shards),
        }
    }
}

/// True while the shard takes records: no ending sequence number yet.
pub fn is_open(shard: &Shard) -> bool {
    shard
        .sequence_number_range()
        .is_none_or(|r| r.ending_sequence_number().is_none())
}

/// True when the error is Kinesis's ResourceNotFoundException (the stream does not exist).
pub fn is_stream_not_found(err: &GaveUp<ListShardsError>) -> bool {
    err.last
        .as_service_error()
        .is_some_and(ListShardsError::is_resource_not_found_exception)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{meta, service_error, FakeKinesis, KinesisCall};
    use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange};

    fn shard(id: &str, closed: bool) -> Shard {
        let range = SequenceNumberRange::builder().starting_sequence_number("1");
        let range = if closed {
            range.ending_sequence_number("9")
        } else {
            range
        };
        Shard::builder()
            .shard_id(id)
            .hash_key_range(
                HashKeyRange::builder()
                    .starting_hash_key("0")
                    .ending_hash_key("1")
                    .build()
                    .expect("hash key range"),
            )
            .sequence_number_range(range.build().expect("sequence range"))
            .build()
            .expect("shard")
    }

    /// Pages are followed by NextToken (without the stream name), a throttled page is asked
    /// again, and the shards come back in the service's order.
    #[tokio::test]
    async fn the_pager_follows_next_token_and_retries_a_throttled_page() {
        let fake = FakeKinesis::new();
        fake.push_list_shards(Ok(ListShardsOutput::builder()
            .shards(shard("shardId-0", true))
            .next_token("t1")
            .build()));
        fake.push_list_shards(Err(service_error(
            400,
            ListShardsError::generic(meta("LimitExceededException", "slow down")),
        )));
        fake.push_list_shards(Ok(ListShardsOutput::builder()
            .shards(shard("shardId-1", false))
            .build()));
        let shards = list_shards(&fake, "s", Policy::attempts(3))
            .await
            .expect("listed");
        let ids: Vec<_> = shards.iter().map(Shard::shard_id).collect();
        assert_eq!(ids, ["shardId-0", "shardId-1"]);
        assert!(!is_open(&shards[0]) && is_open(&shards[1]));
        let tokens: Vec<_> = fake
            .calls()
            .into_iter()
            .map(|c| match c {
                KinesisCall::ListShards { next_token, .. } => next_token,
                other => panic!("unexpected call {other:?}"),
            })
            .collect();
        assert_eq!(tokens, [None, Some("t1".into()), Some("t1".into())]);
    }

    #[tokio::test]
    async fn a_missing_stream_is_named() {
        let fake = FakeKinesis::new();
        fake.push_list_shards(Err(service_error(
            400,
            ListShardsError::ResourceNotFoundException(
                aws_sdk_kinesis::types::error::ResourceNotFoundException::builder()
                    .meta(meta("ResourceNotFoundException", "no stream"))
                    .build(),
            ),
        )));
        let err = list_shards(&fake, "s", Policy::attempts(3))
            .await
            .expect_err("missing");
        assert!(is_stream_not_found(&err));
        assert_eq!(err.attempts, 1, "not retried");
    }
}
