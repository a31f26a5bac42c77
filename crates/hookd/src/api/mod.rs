//! The HTTP API: Svix v1 paths and shapes, plus hookd's own extensions.
//! Handlers check the caller's scope, validate, call the store or the engine,
//! and shape the answer; errors become responses only in [`error`].

pub mod applications;
pub mod attempts;
pub mod auth;
pub mod auth_routes;
pub mod background_tasks;
pub mod catalog;
pub mod endpoint_extras;
pub mod endpoints;
pub mod error;
pub mod event_types;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod listen;
pub mod message_extras;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod operational;
pub mod pagination;
pub mod preview;
pub mod testing;
pub mod transactional;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::delivery::Engine;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::committer::Committer;

/// What every handler reaches, behind one pointer: axum clones the state for
/// each extractor and layer of every request, and a struct of six `Arc`s made
/// that a sixth of the API thread's own work on a publish.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub cfg: Arc<Config>,
    pub committer: Committer,
    pub tokens: Arc<auth::TokenCache>,
    pub contracts: Arc<crate::contracts::Contracts>,
    pub metrics: Arc<Metrics>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        engine: Engine,
        committer: Committer,
        cfg: Arc<Config>,
        metrics: Arc<Metrics>,
    ) -> AppState {
        let tokens = Arc::new(auth::TokenCache::new(cfg.admin_token.as_ref().map(|t| t.expose())));
        AppState(Arc::new(Shared {
            store,
            engine,
            cfg,
            committer,
            tokens,
            contracts: Arc::default(),
            metrics,
        }))
    }

    /// Largest request body: the payload limit and room for the message around it.
    pub fn body_limit(&self) -> usize {
        self.cfg.max_payload_bytes + 64 * 1024
    }
}

/// The whole API, and its OpenAPI document built from the same routes.
pub fn router(state: AppState) -> Router {
    let protected = OpenApiRouter::new()
        .merge(applications::routes())
        .merge(event_types::routes())
        .merge(catalog::routes())
        .merge(endpoints::routes())
        .merge(messages::routes())
        .merge(message_extras::routes())
        .merge(attempts::routes())
        .merge(auth_routes::routes())
        .merge(testing::routes())
        .merge(preview::routes())
        .merge(transactional::routes())
        .merge(listen::routes())
        .merge(metrics::routes())
        .merge(operational::routes())
        .merge(background_tasks::routes())
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let (router, api) = OpenApiRouter::with_openapi(openapi::base())
        .merge(protected)
        .merge(health::routes())
        .split_for_parts();
    let limit = state.body_limit();
    router
        .merge(openapi::serve(api))
        .fallback(|| async { error::ApiError::NotFound("path") })
        .layer(middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(extract::BodyLimit(limit)))
        .layer(
            // At debug level, a line per answer.
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG))
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .with_state(state)
}

/// Each request's id: the caller's `x-request-id`, or a new one. It is
/// answered in `x-request-id`.
#[derive(Clone, Copy)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = crate::ids::new(crate::ids::Kind::Request);
        Some(RequestId::new(axum::http::HeaderValue::from_str(&id).ok()?))
    }
}

/// A span per request holding its id, method and path, so that every log
/// line of the request carries them.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .unwrap_or_default();
    tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
}
