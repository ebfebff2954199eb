//! The one place where errors become HTTP responses: Docker's status codes
//! and a JSON `{"message": ...}` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pier_api::ErrorBody;
use pier_image::ImageError;

use crate::containers::ContainerError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    /// An error whose status its source decided (networking).
    #[error("{1}")]
    Status(StatusCode, String),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Volume(#[from] pier_volume::VolumeError),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Status(s, _) => *s,
            ApiError::Image(e) => image_status(e),
            ApiError::Volume(e) => volume_status(e),
            ApiError::Container(e) => match e {
                ContainerError::NotFound(_)
                | ContainerError::NetworkNotFound(_)
                | ContainerError::PlatformMismatch(_) => StatusCode::NOT_FOUND,
                ContainerError::Ambiguous(_)
                | ContainerError::InvalidName(_)
                | ContainerError::NoCommand
                | ContainerError::InvalidParameter(_)
                | ContainerError::StartFailed(_) => StatusCode::BAD_REQUEST,
                ContainerError::NameInUse { .. }
                | ContainerError::NotRunning(_)
                | ContainerError::RemoveRunning(_)
                | ContainerError::RemovePaused(_)
                | ContainerError::RemoveRestarting(_)
                | ContainerError::Restarting(_)
                | ContainerError::RemovalInProgress(_) => StatusCode::CONFLICT,
                ContainerError::NotModified => StatusCode::NOT_MODIFIED,
                ContainerError::LogsNotSupported => StatusCode::NOT_IMPLEMENTED,
                ContainerError::Image(e) => image_status(e),
                ContainerError::Volume(e) => volume_status(e),
                ContainerError::Runtime(_) | ContainerError::Io { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }
}

fn volume_status(e: &pier_volume::VolumeError) -> StatusCode {
    StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn image_status(e: &ImageError) -> StatusCode {
    StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<pier_api::filters::FilterError> for ApiError {
    fn from(e: pier_api::filters::FilterError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "{self}");
        } else {
            tracing::debug!(status = status.as_u16(), "{self}");
        }
        if status == StatusCode::NOT_MODIFIED {
            // 304 must not carry a body.
            return status.into_response();
        }
        json_error(status, &self.to_string())
    }
}

/// A JSON error response with Docker's body shape.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody::new(message))
        .unwrap_or_else(|_| b"{\"message\":\"internal error\"}".to_vec());
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Maps a failed blocking task (a panic inside spawn_blocking) to a 500.
pub fn join_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::Internal(format!("internal error: {e}"))
}
