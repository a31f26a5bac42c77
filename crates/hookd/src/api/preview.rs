//! Match preview: how many of an application's recent messages a subscription
//! would have matched, with a sample, so that a filter's effect is seen before
//! it is saved (Fig shows the same count once a web hook is saved).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Json;
use super::messages::MessageOut;
use super::validate::Checks;
use crate::filter::Filter;
use crate::routing::Subscription;
use crate::store::{MessageFilter, Page};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(match_preview))
}

/// Messages read from the store at a time, so that memory stays bounded whatever `limit` is.
const PAGE: i64 = 250;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchPreviewIn {
    /// As on endpoints: names, `*` or prefixes like `invoice.*`; none means every type.
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    /// A payload filter, as on endpoints.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Filter>,
    /// How many of the newest messages to look at (default 1000, at most 10000).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub limit: Option<i64>,
    /// How many matching messages to return (default 10, at most 100).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub sample_size: Option<usize>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchPreviewOut {
    /// Messages looked at (fewer than `limit` when the application has fewer).
    pub scanned: u64,
    pub matched: u64,
    /// Matches per event type.
    pub matched_by_event_type: BTreeMap<String, u64>,
    /// The newest matching messages, with their payloads.
    pub sample: Vec<MessageOut>,
}

/// How many of the application's newest messages a subscription would have matched (hookd extension).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/match-preview", tag = "Routing", operation_id = "hookd.match-preview",
    params(("app_id" = String, Path)), request_body = MatchPreviewIn,
    responses((status = 200, body = MatchPreviewOut), (status = 422, body = super::error::HttpValidationError)))]
async fn match_preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<MatchPreviewIn>,
) -> ApiResult<Json<MatchPreviewOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let limit = body.limit.unwrap_or(1000);
    let sample_size = body.sample_size.unwrap_or(10);
    let mut c = Checks::default();
    c.check((1..=10_000).contains(&limit), &["body", "limit"], "must be 1 to 10000");
    c.check(sample_size <= 100, &["body", "sampleSize"], "at most 100");
    c.channels(&["body", "channels"], body.channels.as_ref());
    super::endpoints::check_filter(&mut c, body.filter.as_ref());
    c.done()?;

    let sub = Subscription {
        event_types: body.event_types.as_deref(),
        channels: body.channels.as_deref(),
        filter: body.filter.as_ref(),
    };
    let filter = MessageFilter {
        with_content: true,
        ..Default::default()
    };
    let mut out = MatchPreviewOut {
        scanned: 0,
        matched: 0,
        matched_by_event_type: BTreeMap::new(),
        sample: Vec::new(),
    };
    let mut after = None;
    while (out.scanned as i64) < limit {
        let page = Page {
            limit: PAGE.min(limit - out.scanned as i64),
            after: after.take(),
            descending: true,
        };
        let rows = state.store.list_messages(Some(&app.id), &filter, &page).await?;
        let last_page = (rows.len() as i64) < page.limit;
        for m in &rows {
            out.scanned += 1;
            if sub.accepts(&crate::subscriptions::candidate(m)) {
                out.matched += 1;
                *out.matched_by_event_type.entry(m.event_type.clone()).or_default() += 1;
                if out.sample.len() < sample_size {
                    out.sample.push(MessageOut::from_record(m, true));
                }
            }
        }
        after = rows.last().map(|m| m.id.clone());
        if last_page {
            break;
        }
    }
    Ok(Json(out))
}
