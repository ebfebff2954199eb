//! Runtime glue (see ARCHITECTURE.md).
