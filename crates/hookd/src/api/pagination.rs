//! Cursor pagination: `limit`, `iterator` and `order` in; `{data, iterator,
//! prevIterator, done}` out. A cursor is the last key of a page; a cursor that
//! starts with `-` pages backwards from the first key of a page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use crate::store::Page;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 250;

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    Ascending,
    Descending,
}

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 250 (default 50).
    pub limit: Option<u64>,
    /// The cursor from a previous page.
    pub iterator: Option<String>,
    pub order: Option<Ordering>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T: ToSchema> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

/// A page's size: 1 to [`MAX_LIMIT`].
pub fn check_limit(limit: u64) -> ApiResult<()> {
    match (1..=MAX_LIMIT).contains(&limit) {
        true => Ok(()),
        false => Err(ApiError::invalid(
            &["query", "limit"],
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A cursor: a key of the list, `-` first to page backwards. Any key
/// compares in order; this only keeps out what no key is.
pub fn check_iterator(it: &str) -> ApiResult<()> {
    let valid = (1..=257).contains(&it.len()) && it.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match valid {
        true => Ok(()),
        false => Err(ApiError::invalid(&["query", "iterator"], "invalid iterator")),
    }
}

/// A request for one page, and how to turn what the store found into the answer.
pub struct Pager {
    limit: u64,
    backwards: bool,
    pub page: Page,
}

impl Pager {
    /// A page of `p`'s size after its cursor (a key of the list; `-` first
    /// to page backwards).
    pub fn new(p: &ListParams, default_order: Ordering) -> ApiResult<Pager> {
        let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
        check_limit(limit)?;
        let descending = p.order.unwrap_or(default_order) == Ordering::Descending;
        let (backwards, after) = match p.iterator.as_deref() {
            None => (false, None),
            Some(it) => {
                check_iterator(it)?;
                let (back, key) = match it.strip_prefix('-') {
                    Some(key) if !key.is_empty() => (true, key),
                    _ => (false, it),
                };
                (back, Some(key.to_string()))
            }
        };
        Ok(Pager {
            limit,
            backwards,
            page: Page {
                limit: limit as i64 + 1,
                after,
                descending: descending != backwards,
            },
        })
    }

    /// `rows` came from the store for `self.page`; `key` gives each row's cursor key.
    pub fn finish<R, T: ToSchema>(
        self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> String,
        out: impl Fn(R) -> T,
    ) -> ListResponse<T> {
        let more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        if self.backwards {
            rows.reverse();
        }
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(|r| format!("-{}", key(r)));
        // Going forwards, done means nothing follows; going backwards, nothing precedes.
        let done = !more;
        ListResponse {
            data: rows.into_iter().map(out).collect(),
            iterator,
            prev_iterator,
            done,
        }
    }
}

/// Every row of a store listing, read page by page in key order (for work
/// over a whole listing, not for answering a page).
pub async fn every<T, Fut>(mut list: impl FnMut(Page) -> Fut, key: impl Fn(&T) -> String) -> ApiResult<Vec<T>>
where
    Fut: std::future::Future<Output = crate::store::Result<Vec<T>>>,
{
    const STEP: i64 = 500;
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let page = Page {
            limit: STEP,
            after: after.take(),
            descending: false,
        };
        let rows = list(page).await?;
        let done = (rows.len() as i64) < STEP;
        after = rows.last().map(&key);
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}
