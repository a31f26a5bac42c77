//! The HTTP API: Svix v1 paths and shapes, plus hookd's own extensions.
//! Handlers check the caller's scope, validate, call the store or the engine,
//! and shape the answer; errors become responses only in [`error`].

pub mod applications;
pub mod attempt_counts;
pub mod attempt_headers;
pub mod attempts;
pub mod auth;
pub mod auth_routes;
pub mod background_tasks;
pub mod broadcast;
pub mod catalog;
pub mod endpoint_extras;
pub mod endpoint_tls;
pub mod endpoints;
pub mod error;
pub mod event_type_openapi;
pub mod event_types;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod listen;
pub mod message_extras;
pub mod message_feeds;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod openapi_rules;
pub mod operational;
pub mod pagination;
pub mod poller;
pub mod poller_offsets;
pub mod preview;
pub mod replay;
pub mod retry_schedules;
pub mod statistics;
pub mod testing;
pub mod transactional;
pub mod transformation;
pub mod usage;
pub mod validate;
pub mod visibility;
pub mod whole;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
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
        .merge(event_type_openapi::routes())
        .merge(catalog::routes())
        .merge(endpoints::routes())
        .merge(endpoint_tls::routes())
        .merge(messages::routes())
        .merge(message_extras::routes())
        .merge(message_feeds::routes())
        .merge(poller::routes())
        .merge(poller_offsets::routes())
        .merge(attempts::routes())
        .merge(attempt_headers::routes())
        .merge(auth_routes::routes())
        .merge(testing::routes())
        .merge(preview::routes())
        .merge(transactional::routes())
        .merge(listen::routes())
        .merge(metrics::routes())
        .merge(operational::routes())
        .merge(background_tasks::routes())
        .merge(broadcast::routes())
        .merge(statistics::routes())
        .merge(attempt_counts::routes())
        .merge(usage::routes())
        .merge(retry_schedules::routes())
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let (router, api) = OpenApiRouter::with_openapi(openapi::base())
        .merge(protected)
        .merge(health::routes())
        .split_for_parts();
    let limit = state.body_limit();
    router
        .merge(openapi::serve(api))
        .merge(crate::console::routes())
        .fallback(|| async { error::ApiError::NotFound("path") })
        .layer(middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(extract::BodyLimit(limit)))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Gives each request an id, the caller's `x-request-id` (if short and
/// printable) or a new one, answered in `x-request-id`; every log line the
/// request writes carries it (`logging`). At debug level, a line per answer.
async fn request_id(req: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| v.len() <= 128 && v.to_str().is_ok())
        .cloned();
    let id = given.unwrap_or_else(|| {
        let made = format!("req_{:016x}", rand::random::<u64>());
        HeaderValue::try_from(made).expect("hex")
    });
    let answered =
        tracing::enabled!(tracing::Level::DEBUG).then(|| (req.method().clone(), req.uri().path().to_owned()));
    let mut resp = crate::logging::in_request(id.clone(), async {
        let resp = next.run(req).await;
        if let Some((method, path)) = answered {
            tracing::debug!(%method, path, status = resp.status().as_u16(), "answered");
        }
        resp
    })
    .await;
    resp.headers_mut().insert(&REQUEST_ID, id);
    resp
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
