//! kds-tail (not yet implemented).
