//! Svix's `/background-task`: long work started through the API (`recover`),
//! with its parameters and, once finished, what it did. For the operator.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use crate::store::{BackgroundTask, TaskKind, TaskStatus};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    pub id: String,
    /// `running`, `finished` or `failed`.
    pub status: String,
    /// What it does, e.g. `endpoint.recover`.
    pub task: String,
    /// Its parameters and, once finished, its counts (`recovered`).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<BackgroundTask> for BackgroundTaskOut {
    fn from(t: BackgroundTask) -> Self {
        BackgroundTaskOut {
            data: crate::operational::task_data(&t),
            id: t.id,
            status: t.status.name().into(),
            task: t.kind.name().into(),
            created_at: time::to_rfc3339(t.created_at),
            updated_at: time::to_rfc3339(t.updated_at),
        }
    }
}

/// A task as an operation that started it answers (Svix's `ExpungeAllContentsOut` and alike).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStartedOut {
    pub id: String,
    pub status: String,
    pub task: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<BackgroundTask> for TaskStartedOut {
    fn from(t: BackgroundTask) -> Self {
        TaskStartedOut {
            id: t.id,
            status: t.status.name().into(),
            task: t.kind.name().into(),
            updated_at: time::to_rfc3339(t.updated_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Only tasks in this state: `running`, `finished` or `failed`.
    pub status: Option<String>,
    /// Only tasks of this kind, e.g. `endpoint.recover`.
    pub task: Option<String>,
}

/// List background tasks, newest first.
#[utoipa::path(get, path = "/api/v1/background-task", tag = "Background Tasks", operation_id = "v1.background-task.list",
    params(ListParams, TaskFilter), responses((status = 200, body = ListResponse<BackgroundTaskOut>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
    Query(filter): Query<TaskFilter>,
) -> ApiResult<Json<ListResponse<BackgroundTaskOut>>> {
    caller.require_admin()?;
    let status = match &filter.status {
        Some(s) => Some(
            TaskStatus::from_name(s)
                .ok_or_else(|| ApiError::invalid(&["query", "status"], "must be running, finished or failed"))?,
        ),
        None => None,
    };
    let kind = match &filter.task {
        Some(k) => Some(TaskKind::from_name(k).ok_or_else(|| ApiError::invalid(&["query", "task"], "unknown task"))?),
        None => None,
    };
    let pager = Pager::new(&params, Ordering::Descending)?;
    let rows = state.store.list_tasks(status, kind, &pager.page).await?;
    Ok(Json(pager.finish(rows, |t| t.id.clone(), Into::into)))
}

/// Get a background task.
#[utoipa::path(get, path = "/api/v1/background-task/{task_id}", tag = "Background Tasks", operation_id = "v1.background-task.get",
    params(("task_id" = String, Path)), responses((status = 200, body = BackgroundTaskOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> ApiResult<Json<BackgroundTaskOut>> {
    caller.require_admin()?;
    let task = state
        .store
        .get_task(&task_id)
        .await?
        .ok_or(ApiError::NotFound("background task"))?;
    Ok(Json(task.into()))
}
