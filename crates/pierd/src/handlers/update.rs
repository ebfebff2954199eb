//! `POST /containers/{id}/update`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pier_api::models::{ContainerUpdateBody, ContainerUpdateResponse};

use super::system::AppState;
use crate::containers::update;
use crate::server::error::ApiResult;
use crate::server::extract::JsonBody;
use crate::server::middleware::json_response;

pub async fn update(
    State(d): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ContainerUpdateBody>,
) -> ApiResult<Response> {
    let c = d.containers.get(&id)?;
    let warnings = update::update(&d, &c, body).await?;
    Ok(json_response(
        StatusCode::OK,
        &ContainerUpdateResponse {
            warnings: Some(warnings),
        },
    ))
}
