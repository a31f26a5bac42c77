//! PostgreSQL's group commit: every write of a batch in one statement, so
//! that a commit costs one round trip to the database whatever it holds.
//!
//! Each table's rows travel as one JSON array bound to one parameter and are
//! unpacked by `json_to_recordset`, so the statement's text never changes
//! with the batch (it is prepared once per connection) and no batch comes
//! near PostgreSQL's limit on parameters. The statement's parts are
//! data-modifying CTEs, which PostgreSQL runs as one atomic statement:
//!
//! - `m` inserts the messages, skipping any whose `eventId` is already taken
//!   (`ON CONFLICT DO NOTHING`), and returns the ones it stored;
//! - `d` inserts the deliveries of exactly those messages (the foreign keys
//!   are checked at the end of the statement, when `m`'s rows are there);
//! - `o` unpacks the outcomes once, for the two parts that read them;
//! - `u` records outcomes on the deliveries that still exist, locking them,
//!   so that a concurrent delete of their endpoint waits for this commit;
//! - `a` inserts an attempt for each delivery `u` updated, and no other;
//! - `f` unpacks the endpoints' failure streaks: `h` ends those whose last
//!   outcome succeeded (touching only the endpoints that were failing), and
//!   `e` updates those whose last outcome failed, disabling them if asked;
//! - `x` writes the operational events of the attempts `a` stored, and `y`
//!   announces each endpoint `e` disabled (it alone set `updated_at` to this
//!   commit's time and `disabled` to 1), except operational endpoints.
//!
//! The planner takes a JSON array for 100 rows whatever it holds, and the
//! statement's plan is made once per connection, perhaps while the tables are
//! still small: joined to the array alone, `deliveries` was then read whole in
//! every commit as it grew. Each update therefore names its rows as
//! `id = ANY (ARRAY(…))`, which its primary key serves, and the connection
//! the statement runs on never prefers a sequential scan (`Postgres::open`).

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::{OnConnection, query, rows};
use crate::ids::{self, Kind};
use crate::store::sql::builder::Sql;
use crate::store::sql::db::Router;
use crate::store::sql::deliveries::{Streak, streaks};
use crate::store::sql::messages::{EventIds, delivery_rows, event_id_conflict, route_batch};
use crate::store::sql::rows::{opt_to_json, to_json};
use crate::store::{DeliveryStatus, NewMessage, OPERATIONAL_APP, OperationalKind, Outcome, Published, Result, Trigger};
use crate::time::{self, Micros};

static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    let (pending, canceled) = (DeliveryStatus::Pending.code(), DeliveryStatus::Canceled.code());
    let scheduled = Trigger::Scheduled.code();
    let disabled = OperationalKind::EndpointDisabled.name();
    let hour = crate::store::sql::queries::hour_of("o.created_at");
    format!(
        "WITH m AS (\
           INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, \
             created_at, expires_at, traceparent, tracestate) \
           SELECT id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at, \
             traceparent, tracestate \
           FROM json_to_recordset($1::json) AS x(id text, app_id text, event_type text, event_id text, \
             channels text, tags text, payload text, deliver_at bigint, created_at bigint, expires_at bigint, \
             traceparent text, tracestate text) \
           ON CONFLICT (app_id, event_id) DO NOTHING RETURNING id), \
         d AS (\
           INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
             next_attempt_at, lease_until, lease_owner, created_at, updated_at, fifo_key) \
           SELECT x.id, x.app_id, x.msg_id, x.endpoint_id, {pending}, 0, {scheduled}, x.next_attempt_at, \
             x.lease_until, x.lease_owner, x.created_at, x.created_at, x.fifo_key \
           FROM json_to_recordset($2::json) AS x(id text, app_id text, msg_id text, endpoint_id text, \
             next_attempt_at bigint, lease_until bigint, lease_owner text, created_at bigint, fifo_key text) \
           JOIN m ON m.id = x.msg_id), \
         o AS MATERIALIZED (\
           SELECT * FROM json_to_recordset($3::json) AS x(delivery_id text, delivery_status bigint, \
             next_attempt_at bigint, id text, app_id text, msg_id text, endpoint_id text, url text, \
             status bigint, status_code bigint, response text, response_headers text, duration_ms bigint, \
             trigger_type bigint, error text, ssl_verification bigint, created_at bigint, \
             event_id text, event_type text, event_data text)), \
         u AS (\
           UPDATE deliveries dl SET \
             status = CASE WHEN dl.status = {canceled} THEN {canceled} ELSE o.delivery_status END, \
             attempts = dl.attempts + 1, \
             next_attempt_at = CASE WHEN dl.status = {canceled} THEN NULL ELSE o.next_attempt_at END, \
             lease_until = NULL, lease_owner = NULL, trigger_type = {scheduled}, updated_at = $5 \
           FROM o WHERE dl.id = o.delivery_id AND dl.id = ANY (ARRAY(SELECT i.delivery_id FROM o i)) \
           RETURNING dl.id), \
         a AS (\
           INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, \
             response_headers, duration_ms, trigger_type, error, ssl_verification, created_at) \
           SELECT o.id, o.app_id, o.msg_id, o.endpoint_id, o.url, o.status, o.status_code, o.response, \
             o.response_headers, o.duration_ms, o.trigger_type, o.error, o.ssl_verification, o.created_at \
           FROM o JOIN u ON u.id = o.delivery_id), \
         c AS (\
           INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n) \
           SELECT o.app_id, {hour}, o.endpoint_id, o.status, COUNT(*) \
           FROM o JOIN u ON u.id = o.delivery_id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 \
           ON CONFLICT (app_id, period, endpoint_id, status) DO UPDATE SET n = attempt_counts.n + excluded.n), \
         f AS MATERIALIZED (\
           SELECT * FROM json_to_recordset($4::json) AS x(id text, healthy boolean, restart boolean, \
             failed_at bigint, disable_if_failing_since bigint, event_id text)), \
         h AS (\
           UPDATE endpoints ep SET first_failure_at = NULL \
           WHERE ep.id = ANY (ARRAY(SELECT g.id FROM f g WHERE g.healthy)) AND ep.first_failure_at IS NOT NULL), \
         s AS (\
           SELECT f.id, f.disable_if_failing_since AS since, CASE \
               WHEN f.restart THEN f.failed_at \
               ELSE COALESCE(e.first_failure_at, f.failed_at) END AS first_failure_at \
           FROM f JOIN endpoints e ON e.id = f.id \
           WHERE NOT f.healthy AND e.id = ANY (ARRAY(SELECT g.id FROM f g WHERE NOT g.healthy))), \
         e AS (\
           UPDATE endpoints ep SET first_failure_at = s.first_failure_at, \
             disabled = CASE WHEN s.first_failure_at < s.since THEN 1 ELSE ep.disabled END, \
             updated_at = CASE WHEN ep.disabled = 0 AND s.first_failure_at < s.since \
               THEN $5 ELSE ep.updated_at END \
           FROM s WHERE ep.id = s.id \
             AND ep.id = ANY (ARRAY(SELECT g.id FROM f g WHERE NOT g.healthy)) \
             AND (ep.first_failure_at IS DISTINCT FROM s.first_failure_at \
             OR (ep.disabled = 0 AND s.first_failure_at < s.since)) \
           RETURNING ep.id, ep.app_id, ep.uid, ep.disabled, ep.updated_at, ep.first_failure_at), \
         x AS (\
           INSERT INTO operational_events (id, event_type, data, created_at) \
           SELECT o.event_id, o.event_type, o.event_data, o.created_at \
           FROM o JOIN u ON u.id = o.delivery_id WHERE o.event_id IS NOT NULL), \
         y AS (\
           INSERT INTO operational_events (id, event_type, app_id, app_uid, endpoint_id, endpoint_uid, \
             fail_since, created_at) \
           SELECT f.event_id, '{disabled}', e.app_id, ap.uid, e.id, e.uid, e.first_failure_at, $5 \
           FROM e JOIN f ON f.id = e.id JOIN applications ap ON ap.id = e.app_id \
           WHERE e.disabled = 1 AND e.updated_at = $5 AND f.event_id IS NOT NULL \
             AND e.app_id <> '{OPERATIONAL_APP}') \
         SELECT id FROM m"
    )
});

#[derive(Serialize)]
struct MessageRow<'a> {
    id: &'a str,
    app_id: &'a str,
    event_type: &'a str,
    event_id: Option<&'a str>,
    channels: Option<String>,
    tags: Option<String>,
    payload: Option<&'a str>,
    deliver_at: Option<Micros>,
    created_at: Micros,
    expires_at: Micros,
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

#[derive(Serialize)]
struct DeliveryRow<'a> {
    id: &'a str,
    app_id: &'a str,
    msg_id: &'a str,
    endpoint_id: &'a str,
    next_attempt_at: Micros,
    lease_until: Option<Micros>,
    lease_owner: Option<&'a str>,
    created_at: Micros,
    fifo_key: Option<&'a str>,
}

#[derive(Serialize)]
struct OutcomeRow<'a> {
    delivery_id: &'a str,
    delivery_status: i64,
    next_attempt_at: Option<Micros>,
    id: &'a str,
    app_id: &'a str,
    msg_id: &'a str,
    endpoint_id: &'a str,
    url: &'a str,
    status: i64,
    status_code: i64,
    response: Option<&'a str>,
    response_headers: Option<String>,
    duration_ms: i64,
    trigger_type: i64,
    error: Option<&'a str>,
    ssl_verification: i64,
    created_at: Micros,
    event_id: Option<&'a str>,
    event_type: Option<&'static str>,
    event_data: Option<String>,
}

#[derive(Serialize)]
struct StreakRow<'a> {
    id: &'a str,
    healthy: bool,
    restart: bool,
    failed_at: Option<Micros>,
    disable_if_failing_since: Option<Micros>,
    /// The id of the `endpoint.disabled` event, should this commit disable it.
    event_id: Option<String>,
}

fn json<T: Serialize>(rows: &[T]) -> String {
    serde_json::to_string(rows).expect("rows serialise")
}

/// Routes the batch on `conn` (one read: the applications' endpoints, through
/// the cache) and writes all of it in one statement.
pub async fn group_commit(
    conn: &mut PgConnection,
    publishes: &[NewMessage],
    router: Router<'_>,
    outcomes: &[Outcome],
) -> Result<Vec<Result<Published>>> {
    let mut published = route_batch(&mut OnConnection(&mut *conn), &router, publishes, EventIds::AtInsert).await?;
    let messages: Vec<MessageRow> = published
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|p| {
            let m = &p.message;
            MessageRow {
                id: &m.id,
                app_id: &m.app_id,
                event_type: &m.event_type,
                event_id: m.event_id.as_deref(),
                channels: opt_to_json(&m.channels),
                tags: opt_to_json(&m.tags),
                payload: m.payload.as_deref(),
                deliver_at: m.deliver_at,
                created_at: m.created_at,
                expires_at: m.expires_at,
                traceparent: m.traceparent.as_deref(),
                tracestate: m.tracestate.as_deref(),
            }
        })
        .collect();
    let deliveries: Vec<DeliveryRow> = delivery_rows(publishes, &published)
        .into_iter()
        .map(|(t, lease)| DeliveryRow {
            id: &t.delivery_id,
            app_id: &t.message.app_id,
            msg_id: &t.message.id,
            endpoint_id: &t.endpoint.id,
            next_attempt_at: t.message.deliver_at.unwrap_or(t.message.created_at),
            lease_until: lease.map(|l| l.until),
            lease_owner: lease.map(|l| l.owner.as_str()),
            created_at: t.message.created_at,
            fifo_key: t.fifo_key.as_deref(),
        })
        .collect();
    let attempts: Vec<OutcomeRow> = outcomes.iter().map(outcome_row).collect();
    let endpoints: Vec<StreakRow> = streaks(outcomes).into_iter().map(streak_row).collect();
    let args = vec![
        json(&messages).into(),
        json(&deliveries).into(),
        json(&attempts).into(),
        json(&endpoints).into(),
        time::now().into(),
    ];
    let stored: HashSet<String> = rows(query(Sql::postgres(&STATEMENT, args)).fetch_all(&mut *conn).await?)?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_>>()?;
    drop((messages, deliveries));
    for r in &mut published {
        if let Ok(p) = r
            && !stored.contains(&p.message.id)
        {
            // Only a reused eventId keeps a message out (see `m` above).
            let event_id = p.message.event_id.clone().unwrap_or_default();
            *r = Err(event_id_conflict(&event_id));
        }
    }
    Ok(published)
}

/// The group commit's statement recording `outcome`, for the plan check.
pub(super) fn sample(outcome: &Outcome) -> Sql {
    let streak: Vec<StreakRow> = streaks(std::slice::from_ref(outcome))
        .into_iter()
        .map(streak_row)
        .collect();
    Sql::postgres(
        &STATEMENT,
        vec![
            "[]".into(),
            "[]".into(),
            json(&[outcome_row(outcome)]).into(),
            json(&streak).into(),
            time::now().into(),
        ],
    )
}

fn outcome_row(o: &Outcome) -> OutcomeRow<'_> {
    let a = &o.attempt;
    OutcomeRow {
        delivery_id: &o.delivery_id,
        delivery_status: o.status.code(),
        next_attempt_at: o.next_attempt_at,
        id: &a.id,
        app_id: &a.app_id,
        msg_id: &a.msg_id,
        endpoint_id: &a.endpoint_id,
        url: &a.url,
        status: a.status.code(),
        status_code: a.status_code,
        response: a.response.as_deref(),
        response_headers: opt_to_json(&a.response_headers),
        duration_ms: a.duration_ms,
        trigger_type: a.trigger_type.code(),
        error: a.error.as_deref(),
        ssl_verification: a.ssl_verification as i64,
        created_at: a.created_at,
        event_id: o.announce.as_ref().map(|e| e.id.as_str()),
        event_type: o.announce.as_ref().map(|e| e.kind.name()),
        event_data: o.announce.as_ref().map(|e| to_json(&e.data)),
    }
}

fn streak_row(s: Streak<'_>) -> StreakRow<'_> {
    match s {
        Streak::Healthy(id) => StreakRow {
            id,
            healthy: true,
            restart: false,
            failed_at: None,
            disable_if_failing_since: None,
            event_id: None,
        },
        Streak::Failing {
            endpoint_id,
            failed_at,
            restart,
            disable_if_failing_since,
        } => StreakRow {
            id: endpoint_id,
            healthy: false,
            restart,
            failed_at: Some(failed_at),
            disable_if_failing_since,
            event_id: disable_if_failing_since.map(|_| ids::new(Kind::OperationalEvent)),
        },
    }
}
