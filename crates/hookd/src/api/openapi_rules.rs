//! The constraints the handlers enforce, stated in the served document: the
//! checks in `validate.rs`, `pagination.rs` and the handlers name their
//! rules here once, by field and parameter name, so that every schema and
//! parameter of that name says them (also those added later). The test that
//! runs schemathesis against the server holds the two to each other: a
//! request the document allows and the server refuses fails it, and so does
//! the reverse.

use serde_json::{Map, Value, json};

use crate::store::{OperationalKind, TaskKind};

/// `validate::Checks::name`: uids, event types, event ids, group names.
pub const NAME: &str = r"^[a-zA-Z0-9\-_.]+$";
/// `validate::Checks::channels`.
pub const CHANNEL: &str = r"^[a-zA-Z0-9\-_.:+]+$";
// Pieces of the URL patterns below.
macro_rules! host {
    () => {
        concat!(
            r"(([A-Za-z0-9][A-Za-z0-9\-]{0,62}\.)*[A-Za-z][A-Za-z0-9\-]{0,62}",
            r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
            r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
        )
    };
}
macro_rules! userinfo {
    () => {
        r"(([A-Za-z0-9\-_.~]|%[0-9A-Fa-f]{2})+(:([A-Za-z0-9\-_.~]|%[0-9A-Fa-f]{2})*)?@)?"
    };
}
macro_rules! broker {
    () => {
        concat!(
            r"nats://",
            userinfo!(),
            host!(),
            r"/[A-Za-z0-9\-_]{1,64}(\.[A-Za-z0-9\-_]{1,64}){0,15}",
            r"|mqtt://",
            userinfo!(),
            host!(),
            r"/[A-Za-z0-9\-_.]{1,64}(/[A-Za-z0-9\-_.]{1,64}){0,15}(\?qos=[01])?",
            r"|amqp://",
            userinfo!(),
            host!(),
            r"(/(%2[fF]|[A-Za-z0-9\-_.]{1,64}))?\?exchange=[A-Za-z0-9\-_.:]{0,255}(&routingKey=[A-Za-z0-9\-_.:]{0,255})?",
            r"|redis://",
            userinfo!(),
            host!(),
            r"(/[0-9]{1,2})?\?stream=[A-Za-z0-9\-_.:]{1,255}(&maxlen=[1-9][0-9]{0,9})?"
        )
    };
}

/// `validate::Checks::url`: http(s) with a host (names whose last label
/// starts with a letter, or IPv4) and no user-info, an optional port, and a
/// path where only the placeholders use braces; a relay or poller endpoint;
/// or a broker destination ([`BROKER_URL`]).
pub const URL: &str = concat!(
    r"^([hH][tT][tT][pP][sS]?://",
    host!(),
    r"(/([^\x00-\x20\x7f{}]|\{(eventType|msgId|eventId|appId)\})*)?",
    r"|(relay|poller)://[a-zA-Z0-9\-_.]{1,200}|",
    broker!(),
    r")$"
);
/// The broker destinations `validate::Checks::url` takes (`delivery::brokers`):
/// a NATS subject, an MQTT topic, an AMQP exchange and routing key, a Redis stream.
pub const BROKER_URL: &str = concat!(r"^(", broker!(), r")$");
/// An HTTP header name (a token of RFC 9110).
pub const HEADER_NAME: &str = r"^[A-Za-z0-9!#$%&'*+.^_`|~\-]+$";
/// `validate::Checks::secret`, in the form every signature scheme takes
/// (`endpoints::check_secret`); empty: one is generated (`endpoints::fit_secret`).
pub const SECRET: &str = r"^((whsec_)?[A-Za-z0-9+/=]{32,100})?$";
/// A new secret for a rotation: given, it is used (absent: one is generated).
pub const NEW_SECRET: &str = r"^(whsec_)?[A-Za-z0-9+/=]{32,100}$";
/// `pagination::Pager`: a key of the list, `-` first to page backwards.
pub const ITERATOR: &str = r"^[A-Za-z0-9\-_.]{1,257}$";

fn name(max: u32) -> Value {
    json!({ "minLength": 1, "maxLength": max, "pattern": NAME })
}

/// A message's tag (`messages::check`).
fn tag() -> Value {
    json!({ "minLength": 1, "maxLength": 128, "pattern": r"^[a-zA-Z0-9\-_./\\#]+$" })
}

fn channel() -> Value {
    json!({ "minLength": 1, "maxLength": 128, "pattern": CHANNEL })
}

fn not_prefixed(mut rule: Value, prefix: &str) -> Value {
    rule["not"] = json!({ "type": "string", "pattern": format!("^{prefix}") });
    rule
}

/// `sessionId`s of portal tokens (`auth_routes`).
fn session_id() -> Value {
    json!({ "pattern": r"^[A-Za-z0-9@_\-]{1,64}$" })
}

/// Custom headers (`endpoint_extras::check_headers`): HTTP header names
/// hookd does not set itself, visible values, at most 50.
fn headers(patch: bool) -> Value {
    // What `HeaderValue` takes: no control characters but tab.
    let value = json!({ "type": "string", "pattern": r"^[^\x00-\x08\x0a-\x1f\x7f]*$" });
    let reserved: Vec<&str> = crate::delivery::sign::RESERVED.to_vec();
    json!({
        "maxProperties": 50,
        "propertyNames": { "pattern": HEADER_NAME, "not": { "enum": reserved } },
        "additionalProperties": if patch { json!({ "oneOf": [value, { "type": "null" }] }) } else { value },
    })
}

fn range(min: f64, max: f64) -> Value {
    json!({ "minimum": min, "maximum": max })
}

/// What a property of this name in this schema must be; `items` for arrays.
fn property(schema: &str, prop: &str) -> Option<Rule> {
    use Rule::{Items, This};
    Some(match (schema, prop) {
        // A uid may not look like an id of its kind (`applications::check`, `endpoints::check`).
        (s, "uid") if s.starts_with("Application") => This(not_prefixed(name(256), "app_")),
        (s, "uid") if s.starts_with("Endpoint") => This(not_prefixed(name(256), "ep_")),
        (_, "uid" | "eventType" | "eventId" | "groupName") => This(name(256)),
        (s, "featureFlags") if s.starts_with("EventType") => Items(name(256), None),
        (_, "headers") if !schema.ends_with("Out") => This(headers(schema == "EndpointHeadersPatchIn")),
        (_, "attemptTimeout") => This(range(0.1, 300.0)),
        (_, "sessionId") => This(session_id()),
        (_, "sessionIds") => Items(session_id(), None),
        ("CreateTokenIn", "expiry") => This(range(1.0, 315_360_000.0)),
        ("ApplicationTokenExpireIn", "expiry") => This(range(0.0, 259_200.0)),
        ("EndpointSecretRotateIn", "gracePeriodSeconds") => This(range(0.0, 604_800.0)),
        (_, "version") => This(json!({ "minimum": 1 })),
        (_, "description") if schema.starts_with("Endpoint") => This(json!({ "maxLength": 4096 })),
        ("Duration", "nanos") => This(range(0.0, 999_999_999.0)),
        ("Duration", "secs") => This(range(0.0, 604_800.0)),
        ("RetryScheduleInOut", "retrySchedule") => Items(json!({}), Some(30)),
        (_, "retrySchedule") => Items(range(0.0, 604_800.0), Some(30)),
        ("CreateTokenIn", "name") => This(json!({ "minLength": 1, "maxLength": 256 })),
        // `event_types::check`: each version a JSON Schema (an object or a boolean).
        (_, "schemas") if !schema.ends_with("Out") => This(json!({
            "type": ["object", "null"],
            "additionalProperties": { "type": ["object", "boolean"] },
        })),
        ("Signature", "header") => This(json!({
            "pattern": HEADER_NAME,
            "not": { "enum": crate::delivery::sign::RESERVED },
        })),
        ("Signature", "prefix") => This(json!({ "maxLength": 64, "pattern": r"^[\x21-\x7e]*$" })),
        (_, "tags") if !schema.ends_with("Out") => Items(tag(), Some(5)),
        ("MatchPreviewIn", "sampleSize") => This(range(0.0, 100.0)),
        (_, "ids") => Items(name(256), Some(1000)),
        ("EventTypeIn" | "EventTypeFromOpenApi", "name") => This(name(256)),
        ("ApplicationIn" | "ApplicationPatch", "name") => This(json!({ "minLength": 1, "maxLength": 256 })),
        (_, "channels") => Items(channel(), Some(10)),
        // `endpoints::check`: names, `prefix.*` or `*`; the operator's own
        // endpoints name operational events only.
        (s, "eventTypes") if s.starts_with("Operational") => Items(
            json!({ "anyOf": [
                { "enum": OperationalKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>() },
                { "pattern": r"^(\*|[a-zA-Z0-9\-_.]+\.\*)$" },
            ] }),
            None,
        ),
        (s, "eventTypes") if s.starts_with("Endpoint") => Items(
            json!({ "maxLength": 258, "pattern": r"^(\*|[a-zA-Z0-9\-_.]+(\.\*)?)$" }),
            None,
        ),
        ("BulkReplayIn", "eventTypes") => Items(name(256), None),
        ("BulkReplayIn", "channel") => This(channel()),
        ("BulkReplayIn", "tag") => This(tag()),
        ("BulkReplayIn", "status") => This(json!({ "enum": [0, 1, 2, 3, 4] })),
        ("BulkReplayIn", "statusCodeClass") => This(json!({ "enum": [0, 100, 200, 300, 400, 500] })),
        ("TransformationSimulateIn" | "EndpointTransformationPatch", "code") => {
            This(json!({ "minLength": 10, "maxLength": 51200 }))
        }
        // `endpoints::check_routing`: a dotted path.
        (_, "orderingKey") => {
            This(json!({ "maxLength": 256, "pattern": r"^[^.\x00-\x1f\x7f]+(\.[^.\x00-\x1f\x7f]+)*$" }))
        }
        (_, "throttleRate") => This(range(1.0, 65535.0)),
        (_, "url") if !schema.ends_with("Out") => This(json!({ "maxLength": 65536, "pattern": URL })),
        (_, "secret") if !schema.ends_with("Out") => This(json!({ "pattern": SECRET })),
        (_, "key") if !schema.ends_with("Out") => This(json!({ "pattern": NEW_SECRET })),
        (_, "iterator") => This(json!({ "pattern": ITERATOR })),
        ("MatchPreviewIn", "limit") => This(range(1.0, 10_000.0)),
        (_, "limit") => This(range(1.0, 250.0)),
        (_, "payloadRetentionHours") => This(range(1.0, 2160.0)),
        (_, "payloadRetentionPeriod") => This(range(1.0, 90.0)),
        ("AppPortalAccessIn", "expiry") => This(range(3600.0, 604800.0)),
        ("RotatePollerTokenIn", "expiry") => This(range(1.0, 31_536_000.0)),
        ("RotatePollerTokenIn", "oldTokenExpiry") => This(range(0.0, 86400.0)),
        // `endpoints::check_routing`: key names of 1 to 64 characters.
        ("Envelope", _) => This(json!({ "minLength": 1, "maxLength": 64 })),
        (_, "filter") => This(json!({ "anyOf": [{ "$ref": "#/components/schemas/Filter" }, { "type": "null" }] })),
        (_, "cert") => This(json!({ "format": "pem-certificates" })),
        (_, "identity") => This(json!({ "format": "pem-identity" })),
        _ => return None,
    })
}

/// What a parameter of this name must be.
fn parameter(path: &str, location: &str, param: &str) -> Option<Rule> {
    use Rule::This;
    Some(match (location, param) {
        ("path", "consumer_id") => This(name(64)),
        ("path", "event_type_name") => This(name(256)),
        // Ids and uids alike.
        ("path", p) if p.ends_with("_id") && p != "consumer_id" => This(name(256)),
        ("query", "limit") => This(range(1.0, 250.0)),
        ("query", "iterator") => This(json!({ "pattern": ITERATOR })),
        ("query", "status") if path.starts_with("/api/v1/background-task") => {
            This(json!({ "enum": ["running", "finished", "failed"] }))
        }
        ("query", "status") => This(json!({ "enum": [0, 1, 2, 3, 4] })),
        ("query", "task") => This(json!({ "enum": TaskKind::ALL.map(TaskKind::name) })),
        ("query", "status_code_class") => This(json!({ "enum": [0, 100, 200, 300, 400, 500] })),
        ("query", "wait_timeout") => This(range(0.1, 60.0)),
        ("query", "name") => This(name(200)),
        ("query", "hours") => This(range(1.0, 168.0)),
        _ => return None,
    })
}

enum Rule {
    This(Value),
    /// For the array's items, and at most this many of them.
    Items(Value, Option<u32>),
}

impl Rule {
    fn apply(self, target: &mut Value) {
        // An optional field is `type: [t, "null"]` or a `oneOf` with null.
        let target = match target.get_mut("oneOf").and_then(Value::as_array_mut) {
            Some(arms) => match arms.iter_mut().find(|a| a["type"] != "null") {
                Some(arm) => arm,
                None => return,
            },
            None => target,
        };
        let (keywords, at) = match self {
            Rule::This(k) => (k, target),
            Rule::Items(k, max) => {
                if let Some(max) = max {
                    target["maxItems"] = json!(max);
                }
                (k, &mut target["items"])
            }
        };
        if let (Value::Object(k), Value::Object(at)) = (keywords, at) {
            merge(at, k);
        }
    }
}

fn merge(at: &mut Map<String, Value>, keywords: Map<String, Value>) {
    // A numeric range on an integer is said in integers.
    let integer = at
        .get("type")
        .is_some_and(|t| t == "integer" || t.as_array().is_some_and(|a| a.contains(&json!("integer"))));
    for (k, v) in keywords {
        let v = match (integer, v.as_f64()) {
            (true, Some(f)) if f.fract() == 0.0 && (k == "minimum" || k == "maximum") => json!(f as i64),
            _ => v,
        };
        at.insert(k, v);
    }
}

/// A query parameter given empty (`key=`) is refused (`extract::Query`),
/// and so is a NUL, so every string there, alone or in a list, has a
/// character at least and no NUL; every date-time in a body has a character.
fn not_empty(schema: &mut Value) {
    let is = |s: &Value, t: &str| s["type"] == t || s["type"].as_array().is_some_and(|a| a.contains(&json!(t)));
    if is(schema, "string") && schema.get("minLength").is_none() {
        schema["minLength"] = json!(1);
    }
    if is(schema, "string") && schema.get("pattern").is_none() && schema.get("format").is_none() {
        schema["pattern"] = json!(r"^[^\x00]+$");
    }
    if is(schema, "array") {
        not_empty(&mut schema["items"]);
    }
}

/// The payload filter language (`filter.rs`) as schemas: field paths with a
/// value to equal or an object of operators, and combinators over filters.
fn filter_schemas() -> [(&'static str, Value); 5] {
    let filter = json!({ "$ref": "#/components/schemas/Filter" });
    let list = json!({ "$ref": "#/components/schemas/FilterList" });
    let ops = json!({ "$ref": "#/components/schemas/FilterOperators" });
    let element = json!({ "$ref": "#/components/schemas/FilterElement" });
    let ordered = json!({ "type": ["number", "string"] });
    let operators = |with_elements: bool| {
        let mut props = json!({
            "$eq": {}, "$ne": {}, "$neq": {},
            "$gt": ordered, "$gte": ordered, "$lt": ordered, "$lte": ordered,
            "$in": { "type": "array" }, "$nin": { "type": "array" },
            "$exists": { "type": "boolean" }, "$exist": { "type": "boolean" },
            "$regex": { "type": "string", "format": "regex" },
            "$size": { "type": "integer", "minimum": 0 },
            "$elemMatch": element,
            "$not": ops,
        });
        if with_elements {
            props["$any"] = element.clone();
            props["$all"] = element.clone();
        }
        json!({ "type": "object", "minProperties": 1, "additionalProperties": false, "properties": props })
    };
    [
        (
            "Filter",
            json!({
                "description": "A payload filter (docs/filters.md): field paths (names joined by `.`) with a value to equal or an object of operators, and combinators.",
                "type": "object",
                "properties": { "$and": list, "$all": list, "$or": list, "$any": list, "$nor": list, "$not": filter },
                "patternProperties": { r"^[^$.][^.]*(\.[^.]+){0,31}$": { "$ref": "#/components/schemas/FilterCondition" } },
                "additionalProperties": false,
            }),
        ),
        ("FilterList", json!({ "type": "array", "minItems": 1, "items": filter })),
        (
            "FilterCondition",
            json!({ "anyOf": [
            { "type": ["string", "number", "boolean", "null", "array"] },
            { "type": "object", "propertyNames": { "pattern": r"^([^$][\s\S]*)?$" } },
            ops,
        ] }),
        ),
        ("FilterOperators", operators(true)),
        // Operators on each element ($any and $all there are combinators), or a filter over it.
        (
            "FilterElement",
            json!({ "anyOf": [operators(false), { "allOf": [filter, { "minProperties": 1 }] }] }),
        ),
    ]
}

/// States every rule in `doc`.
pub fn apply(doc: &mut Value) {
    for (name, schema) in filter_schemas() {
        doc["components"]["schemas"][name] = schema;
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for (schema_name, schema) in schemas.iter_mut() {
            for_properties(schema, &mut |prop, target| {
                if let Some(rule) = property(schema_name, prop) {
                    rule.apply(target);
                }
                if target["format"] == "date-time" {
                    not_empty(target);
                }
            });
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, ops) in paths.iter_mut() {
        let ops = ops.as_object_mut().into_iter().flat_map(|ops| ops.values_mut());
        for p in ops
            .flat_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
            .flatten()
        {
            let (location, name) = (p["in"].as_str().unwrap_or(""), p["name"].as_str().unwrap_or(""));
            if let Some(rule) = parameter(path, location, name) {
                rule.apply(&mut p["schema"]);
            }
            not_empty(&mut p["schema"]);
        }
    }
}

/// Calls `f` on each property of `schema` and of the schemas it is made of.
fn for_properties(schema: &mut Value, f: &mut impl FnMut(&str, &mut Value)) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            f(name, prop);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
            for_properties(part, f);
        }
    }
}
