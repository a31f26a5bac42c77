//! `hookd trigger`: publishes an event type's example and says where it went.

use clap::Args;
use serde_json::{Value, json};

use super::client::{CliError, CliResult, Client, ClientOpts, app_path, read_json_arg};
use super::output::{self, Column, field};

#[derive(Args, Debug)]
pub struct TriggerArgs {
    /// The event type to publish.
    pub event_type: String,
    /// The application, by id or uid.
    #[arg(long)]
    pub app: String,
    /// The payload (JSON inline, @file or -); default: the event type's first schema example.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub opts: ClientOpts,
}

const COLUMNS: &[Column] = &[
    ("ENDPOINT", |r| field(r, "endpointId")),
    ("URL", |r| field(r, "url")),
    ("STATUS", |r| field(r, "status")),
    ("CODE", |r| field(r, "statusCode")),
    ("MS", |r| field(r, "durationMs")),
];

pub async fn run(args: TriggerArgs) -> CliResult<()> {
    let client = Client::new(&args.opts)?;
    let payload = match &args.data {
        Some(d) => read_json_arg(d)?,
        None => {
            example_of(&client.get(&["api", "v1", "event-type", &args.event_type], &[]).await?).ok_or_else(|| {
                CliError::Usage(format!(
                    "event type {} has no schema example: give the payload with --data",
                    args.event_type
                ))
            })?
        }
    };
    let body = json!({ "eventType": args.event_type, "payload": payload });
    // Waiting for the first attempts tells where the message went, at once.
    let url = app_path(&args.app, &["msg"]);
    let query = [("wait", "any".to_owned()), ("with_content", "false".to_owned())];
    let msg = client.call(reqwest::Method::POST, &url, &query, Some(&body)).await?;
    if args.opts.json {
        return output::print_json(&msg);
    }
    println!("published {} ({})", field(&msg, "id"), args.event_type);
    let mut endpoints = msg["wait"]["endpoints"].as_array().cloned().unwrap_or_default();
    if endpoints.is_empty() {
        println!("no endpoint of {} subscribes to {}", args.app, args.event_type);
        return Ok(());
    }
    for e in &mut endpoints {
        let ep = client
            .get(
                &["api", "v1", "app", &args.app, "endpoint", &field(e, "endpointId")],
                &[],
            )
            .await?;
        e["url"] = ep["url"].clone();
    }
    output::print_rows(COLUMNS, &endpoints);
    Ok(())
}

/// The first example of the event type's earliest schema version.
fn example_of(event_type: &Value) -> Option<Value> {
    let schemas = event_type["schemas"].as_object()?;
    let mut versions: Vec<(&String, &Value)> = schemas.iter().collect();
    versions.sort_by_key(|(v, _)| v.parse::<u64>().unwrap_or(u64::MAX));
    versions.into_iter().find_map(|(_, s)| {
        s["examples"]
            .as_array()
            .and_then(|e| e.first().cloned())
            .or_else(|| s.get("example").cloned())
    })
}
