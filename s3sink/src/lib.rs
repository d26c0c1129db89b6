//! kds-s3sink (not yet implemented).
