//! The HTTP server: routes, the outer middleware, and the listeners (Unix
//! socket, TLS over TCP).

pub mod body;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod tls;

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::daemon::Daemon;
use crate::handlers::{
    attach, build, containers, distribution, events, exec, fs, images, logs, ops, prune, system,
    volumes,
};
use crate::network::api as network;

pub fn router(d: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/system/df", get(system::df))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/rename", post(containers::rename))
        .route(
            "/containers/{id}/update",
            post(crate::handlers::update::update),
        )
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/pause", post(ops::pause))
        .route("/containers/{id}/unpause", post(ops::unpause))
        .route("/containers/{id}/top", get(ops::top))
        .route("/containers/{id}/stats", get(ops::container_stats))
        .route(
            "/containers/{id}/archive",
            get(fs::archive_get)
                .head(fs::archive_head)
                .put(fs::archive_put),
        )
        .route("/containers/{id}/changes", get(fs::changes))
        .route("/containers/{id}/export", get(fs::export))
        .route("/commit", post(fs::commit_container))
        .route("/containers/prune", post(prune::containers))
        .route("/images/prune", post(prune::images))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/networks", get(network::list))
        .route("/networks/create", post(network::create))
        .route("/networks/prune", post(network::prune))
        .route(
            "/networks/{id}",
            get(network::inspect).delete(network::remove),
        )
        .route("/networks/{id}/connect", post(network::connect))
        .route("/networks/{id}/disconnect", post(network::disconnect))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::get_many))
        .route("/images/create", post(images::create))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*name}", get(distribution::inspect))
        .route(
            "/images/{*name}",
            get(images::get_named)
                .post(images::post_named)
                .delete(images::delete),
        )
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::not_found)
        .with_state(d)
}

/// The router wrapped in the API layer (version prefix, headers, errors).
/// The layer sits on an outer router whose only route is the fallback, so
/// it runs before the inner router matches the (rewritten) path.
pub fn app(d: Arc<Daemon>) -> Router {
    Router::new()
        .fallback_service(router(d))
        .layer(axum::middleware::from_fn(middleware::api_layer))
}

#[cfg(test)]
mod tests;
