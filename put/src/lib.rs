//! kds-put (not yet implemented).
