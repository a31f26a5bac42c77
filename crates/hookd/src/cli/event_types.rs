//! `hookd event-type …`: the catalogue of event types, and importing it from
//! a JSON Schema or an OpenAPI document.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::apps::{done, set};
use super::client::{CliError, CliResult, Client, ClientOpts, read_json_arg};
use super::output::{self, Column, Paging, field};

#[derive(Args, Debug)]
pub struct EventTypeCmd {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: EventTypeAction,
}

#[derive(Subcommand, Debug)]
pub enum EventTypeAction {
    /// List event types.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Archived ones too.
        #[arg(long)]
        include_archived: bool,
    },
    /// Show one event type.
    Get { name: String },
    /// Add an event type.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Its payload's JSON Schema (inline, @file or -), as version 1.
        #[arg(long)]
        schema: Option<String>,
    },
    /// Change an event type's description or schema.
    Update {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        schema: Option<String>,
    },
    /// Archive an event type (`--expunge` deletes it for good).
    Delete {
        name: String,
        #[arg(long)]
        expunge: bool,
    },
    /// Add or update event types from a file: an OpenAPI document's `webhooks`
    /// (else its `components.schemas`), or one JSON Schema.
    Import {
        /// The document (@file, a path, or - for standard input).
        file: String,
        /// The event type's name, for a JSON Schema without a `title`.
        #[arg(long)]
        name: Option<String>,
    },
}

const COLUMNS: &[Column] = &[
    ("NAME", |r| field(r, "name")),
    ("DESCRIPTION", |r| field(r, "description")),
    ("ARCHIVED", |r| match r["archived"].as_bool() {
        Some(true) => "archived".into(),
        _ => String::new(),
    }),
];

pub async fn run(cmd: EventTypeCmd) -> CliResult<()> {
    let client = Client::new(&cmd.opts)?;
    let json = cmd.opts.json;
    match cmd.action {
        EventTypeAction::List {
            paging,
            include_archived,
        } => {
            let query = vec![("include_archived", include_archived.to_string())];
            output::list(&client, &["api", "v1", "event-type"], query, &paging, json, COLUMNS).await
        }
        EventTypeAction::Get { name } => {
            output::show(&client.get(&["api", "v1", "event-type", &name], &[]).await?, json)
        }
        EventTypeAction::Create {
            name,
            description,
            schema,
        } => {
            let mut body = json!({ "name": name, "description": description.unwrap_or_default() });
            set(&mut body, "schemas", schema.map(|s| versioned(&s)).transpose()?);
            output::show(&client.post(&["api", "v1", "event-type"], &body).await?, json)
        }
        EventTypeAction::Update {
            name,
            description,
            schema,
        } => {
            let mut body = Value::Object(Map::new());
            set(&mut body, "description", description.map(Value::from));
            set(&mut body, "schemas", schema.map(|s| versioned(&s)).transpose()?);
            output::show(&client.patch(&["api", "v1", "event-type", &name], &body).await?, json)
        }
        EventTypeAction::Delete { name, expunge } => {
            let query = [("expunge", expunge.to_string())];
            let path = ["api", "v1", "event-type", name.as_str()];
            client.call(reqwest::Method::DELETE, &path, &query, None).await?;
            done(
                json,
                &format!("event type {name} {}", if expunge { "deleted" } else { "archived" }),
            )
        }
        EventTypeAction::Import { file, name } => {
            let arg = match file.as_str() {
                "-" => file.clone(),
                f if f.starts_with('@') => file.clone(),
                f => format!("@{f}"),
            };
            let found = event_types_in(&read_json_arg(&arg)?, name.as_deref())?;
            import(&client, found, json).await
        }
    }
}

fn versioned(schema_arg: &str) -> CliResult<Value> {
    Ok(json!({ "1": read_json_arg(schema_arg)? }))
}

/// One event type found in a document.
struct Found {
    name: String,
    description: String,
    schema: Value,
}

/// The event types a document describes.
fn event_types_in(doc: &Value, name: Option<&str>) -> CliResult<Vec<Found>> {
    if doc.get("openapi").is_none() {
        let name = name
            .or(doc["title"].as_str())
            .ok_or_else(|| CliError::Usage("the schema has no `title`: name its event type with --name".into()))?;
        return Ok(vec![Found {
            name: name.to_owned(),
            description: doc["description"].as_str().unwrap_or_default().to_owned(),
            schema: doc.clone(),
        }]);
    }
    let components = &doc["components"]["schemas"];
    let mut found = Vec::new();
    if let Some(hooks) = doc["webhooks"].as_object().filter(|h| !h.is_empty()) {
        for (hook, item) in hooks {
            let op = &item["post"];
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let description = op["description"]
                .as_str()
                .or(op["summary"].as_str())
                .unwrap_or_default();
            found.push(Found {
                name: hook.clone(),
                description: description.to_owned(),
                schema: inline_refs(schema, components, 0)?,
            });
        }
    } else if let Some(schemas) = components.as_object() {
        for (schema_name, schema) in schemas {
            found.push(Found {
                name: schema_name.clone(),
                description: schema["description"].as_str().unwrap_or_default().to_owned(),
                schema: inline_refs(schema, components, 0)?,
            });
        }
    }
    if found.is_empty() {
        return Err(CliError::Usage(
            "the document has no webhooks and no components.schemas".into(),
        ));
    }
    Ok(found)
}

/// The schema with each `#/components/schemas/…` reference replaced by what
/// it names, so that it stands on its own as an event type's schema.
fn inline_refs(schema: &Value, components: &Value, depth: usize) -> CliResult<Value> {
    if depth > 32 {
        return Err(CliError::Usage("schemas refer to each other in a cycle".into()));
    }
    Ok(match schema {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let name = target
                    .strip_prefix("#/components/schemas/")
                    .ok_or_else(|| CliError::Usage(format!("cannot follow the reference {target}")))?;
                let named = components
                    .get(name)
                    .ok_or_else(|| CliError::Usage(format!("no schema named {name}")))?;
                return inline_refs(named, components, depth + 1);
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), inline_refs(v, components, depth + 1)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| inline_refs(i, components, depth + 1))
                .collect::<CliResult<_>>()?,
        ),
        other => other.clone(),
    })
}

/// Creates each event type, or updates it when it exists.
async fn import(client: &Client, found: Vec<Found>, json: bool) -> CliResult<()> {
    let mut results = Vec::new();
    for f in found {
        let body = json!({ "name": f.name, "description": f.description, "schemas": { "1": f.schema } });
        let action = match client.post(&["api", "v1", "event-type"], &body).await {
            Ok(_) => "created",
            Err(CliError::Api { status: 409, .. }) => {
                let patch = json!({ "description": f.description, "schemas": body["schemas"], "archived": false });
                client.patch(&["api", "v1", "event-type", &f.name], &patch).await?;
                "updated"
            }
            Err(e) => return Err(e),
        };
        results.push(json!({ "name": f.name, "result": action }));
    }
    if json {
        return output::print_json(&json!({ "data": results }));
    }
    for r in &results {
        println!("{:<8} {}", field(r, "result"), field(r, "name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_of_an_openapi_document_become_event_types_with_their_schemas_inlined() {
        let doc = json!({
            "openapi": "3.1.0",
            "webhooks": {
                "user.created": { "post": {
                    "summary": "A user signed up",
                    "requestBody": { "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/User" } } } } } }
            },
            "components": { "schemas": {
                "User": { "type": "object", "properties": { "address": { "$ref": "#/components/schemas/Address" } } },
                "Address": { "type": "string" }
            } }
        });
        let found = event_types_in(&doc, None).expect("found");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "user.created");
        assert_eq!(found[0].description, "A user signed up");
        assert_eq!(found[0].schema["properties"]["address"], json!({ "type": "string" }));
    }

    #[test]
    fn a_cycle_of_references_is_refused() {
        let doc = json!({
            "openapi": "3.1.0",
            "components": { "schemas": { "Node": { "properties": { "next": { "$ref": "#/components/schemas/Node" } } } } }
        });
        assert!(event_types_in(&doc, None).is_err());
    }
}
