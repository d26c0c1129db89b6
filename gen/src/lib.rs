//! kds-gen (not yet implemented).
