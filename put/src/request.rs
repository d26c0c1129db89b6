//! Request building: the PutRecords entries of one call from the packed entries.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::batch::Entry;

/// The request entries for `pending`, in order; an error names what the SDK refused.
pub fn request_entries(pending: &[Entry]) -> Result<Vec<PutRecordsRequestEntry>, String> {
    pending
        .iter()
        .map(|e| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(e.data.clone()))
                .partition_key(&e.partition_key)
                .set_explicit_hash_key(e.explicit_hash_key.clone())
                .build()
                .map_err(|err| err.to_string())
        })
        .collect()
}
