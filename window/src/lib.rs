//! kds-window (not yet implemented).
