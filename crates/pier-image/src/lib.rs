//! Image store (see ARCHITECTURE.md).
