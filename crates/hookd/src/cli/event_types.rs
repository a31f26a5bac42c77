//! `hookd event-type …`: the catalogue of event types, and importing it from
//! a JSON Schema or an OpenAPI document.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::apps::{done, set};
use super::client::{CliError, CliResult, Client, ClientOpts, read_json_arg};
use super::output::{self, Column, Paging, field};
use crate::openapi_webhooks::{self, Found};

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

/// The event types a document describes: an OpenAPI document's, or one
/// JSON Schema's (named by `--name` or its `title`).
fn event_types_in(doc: &Value, name: Option<&str>) -> CliResult<Vec<Found>> {
    if doc.get("openapi").is_none() {
        let name = name
            .or(doc["title"].as_str())
            .ok_or_else(|| CliError::Usage("the schema has no `title`: name its event type with --name".into()))?;
        return Ok(vec![Found {
            name: name.to_owned(),
            description: doc["description"].as_str().unwrap_or_default().to_owned(),
            deprecated: false,
            schema: doc.clone(),
        }]);
    }
    openapi_webhooks::event_types_in(doc).map_err(CliError::Usage)
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
