//! Wire-level pieces of the Docker Engine API that both `pierd` and `pier`
//! need: the models (re-exported from `bollard-stubs` so field names are
//! exactly Docker's), the error body, API version negotiation constants,
//! the multiplexed stdio stream framing, the `filters` query parameter, and
//! Docker's human-readable sizes and durations.

pub mod filters;
pub mod human;
pub mod stream;
pub mod version;

/// Docker's API models (`ContainerCreateBody`, `ContainerInspectResponse`, ...).
pub use bollard_stubs::models;

use serde::{Deserialize, Serialize};

/// The body of every non-2xx response: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub message: String,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
