//! `hookd endpoint …`: where an application's messages go.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::apps::{done, set};
use super::client::{CliResult, Client, ClientOpts, app_path};
use super::output::{self, Column, Paging, field};

#[derive(Args, Debug)]
pub struct EndpointCmd {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: EndpointAction,
}

/// The fields `create` and `update` share.
#[derive(Args, Debug, Default)]
pub struct EndpointFields {
    /// Event types it receives, comma-separated (`invoice.*` and `*` too); all when none.
    #[arg(long, value_delimiter = ',')]
    pub event_types: Option<Vec<String>>,
    /// Channels it receives, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Your own id for it.
    #[arg(long)]
    pub uid: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Messages per second at most.
    #[arg(long)]
    pub rate_limit: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum EndpointAction {
    /// List an application's endpoints.
    List {
        app: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one endpoint, by id or uid.
    Get { app: String, endpoint: String },
    /// Create an endpoint.
    Create {
        app: String,
        /// Where its deliveries go (https://…, or relay://NAME for `hookd listen`).
        #[arg(id = "endpoint_url", value_name = "URL")]
        url: String,
        #[command(flatten)]
        fields: EndpointFields,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change an endpoint's URL or other fields.
    Update {
        app: String,
        endpoint: String,
        /// A new URL (`--url` names the server).
        #[arg(long = "endpoint-url", id = "endpoint_url", value_name = "URL")]
        url: Option<String>,
        #[command(flatten)]
        fields: EndpointFields,
    },
    /// Delete an endpoint.
    Delete { app: String, endpoint: String },
    /// Let an endpoint receive messages again.
    Enable { app: String, endpoint: String },
    /// Stop sending to an endpoint (what it misses can be recovered later).
    Disable { app: String, endpoint: String },
    /// Show the secret an endpoint's deliveries are signed with.
    Secret { app: String, endpoint: String },
    /// Sign with a new secret; the old one keeps signing for a day.
    RotateSecret {
        app: String,
        endpoint: String,
        /// The new secret (default: a generated one).
        #[arg(long)]
        key: Option<String>,
    },
    /// Send again what failed since a time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    Recover {
        app: String,
        endpoint: String,
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
}

const COLUMNS: &[Column] = &[
    ("ID", |r| field(r, "id")),
    ("UID", |r| field(r, "uid")),
    ("URL", |r| field(r, "url")),
    ("STATE", |r| {
        match r["disabled"].as_bool() {
            Some(true) => "disabled",
            _ => "enabled",
        }
        .into()
    }),
    ("EVENT TYPES", |r| match field(r, "eventTypes") {
        e if e.is_empty() => "*".into(),
        e => e,
    }),
    ("DESCRIPTION", |r| field(r, "description")),
];

fn fields_json(body: &mut Value, f: EndpointFields) {
    set(body, "filterTypes", f.event_types.map(Value::from));
    set(body, "channels", f.channels.map(Value::from));
    set(body, "uid", f.uid.map(Value::from));
    set(body, "description", f.description.map(Value::from));
    set(body, "rateLimit", f.rate_limit.map(Value::from));
}

pub async fn run(cmd: EndpointCmd) -> CliResult<()> {
    let client = Client::new(&cmd.opts)?;
    let json = cmd.opts.json;
    match cmd.action {
        EndpointAction::List { app, paging } => {
            output::list(&client, &app_path(&app, &["endpoint"]), vec![], &paging, json, COLUMNS).await
        }
        EndpointAction::Get { app, endpoint } => {
            output::show(&client.get(&app_path(&app, &["endpoint", &endpoint]), &[]).await?, json)
        }
        EndpointAction::Create {
            app,
            url,
            fields,
            disabled,
        } => {
            let mut body = json!({ "url": url, "disabled": disabled });
            fields_json(&mut body, fields);
            output::show(&client.post(&app_path(&app, &["endpoint"]), &body).await?, json)
        }
        EndpointAction::Update {
            app,
            endpoint,
            url,
            fields,
        } => {
            let mut body = Value::Object(Map::new());
            set(&mut body, "url", url.map(Value::from));
            fields_json(&mut body, fields);
            output::show(
                &client.patch(&app_path(&app, &["endpoint", &endpoint]), &body).await?,
                json,
            )
        }
        EndpointAction::Delete { app, endpoint } => {
            client.delete(&app_path(&app, &["endpoint", &endpoint])).await?;
            done(json, &format!("endpoint {endpoint} deleted"))
        }
        EndpointAction::Enable { app, endpoint } => {
            toggle(&client, &app_path(&app, &["endpoint", &endpoint]), false, json).await
        }
        EndpointAction::Disable { app, endpoint } => {
            toggle(&client, &app_path(&app, &["endpoint", &endpoint]), true, json).await
        }
        EndpointAction::Secret { app, endpoint } => {
            let secret = client
                .get(&app_path(&app, &["endpoint", &endpoint, "secret"]), &[])
                .await?;
            secret_out(&secret, json)
        }
        EndpointAction::RotateSecret { app, endpoint, key } => {
            let mut body = Value::Object(Map::new());
            set(&mut body, "key", key.map(Value::from));
            let secret = client
                .post(&app_path(&app, &["endpoint", &endpoint, "secret", "rotate"]), &body)
                .await?;
            secret_out(&secret, json)
        }
        EndpointAction::Recover {
            app,
            endpoint,
            since,
            until,
        } => {
            let mut body = json!({ "since": since });
            set(&mut body, "until", until.map(Value::from));
            let task = client
                .post(&app_path(&app, &["endpoint", &endpoint, "recover"]), &body)
                .await?;
            output::show(&task, json)
        }
    }
}

async fn toggle(client: &Client, segments: &[&str], disabled: bool, json: bool) -> CliResult<()> {
    let ep = client.patch(segments, &json!({ "disabled": disabled })).await?;
    if json {
        return output::print_json(&ep);
    }
    let state = if disabled { "disabled" } else { "enabled" };
    println!("endpoint {} {state}", field(&ep, "id"));
    Ok(())
}

/// The secret alone (for `$(hookd endpoint secret …)`), or the API's JSON.
fn secret_out(secret: &Value, json: bool) -> CliResult<()> {
    if json || secret["key"].as_str().is_none() {
        return output::print_json(secret);
    }
    println!("{}", field(secret, "key"));
    Ok(())
}
