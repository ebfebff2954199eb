//! Holder for the end-to-end tests under `tests/`; no code of its own.
