//! `hookd message …` and `hookd attempt …`: what was published, and each try
//! at delivering it.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::apps::{done, set};
use super::client::{CliError, CliResult, Client, ClientOpts, app_path, read_json_arg};
use super::output::{self, Column, Paging, field};

#[derive(Args, Debug)]
pub struct MessageCmd {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: MessageAction,
}

#[derive(Subcommand, Debug)]
pub enum MessageAction {
    /// Publish a message to an application.
    Send {
        app: String,
        event_type: String,
        /// The payload: JSON inline, @file, or - for standard input.
        #[arg(long)]
        data: String,
        /// Your id for the event; a second message with it is refused.
        #[arg(long)]
        event_id: Option<String>,
        /// A channel it goes to (repeat for more).
        #[arg(long = "channel")]
        channels: Vec<String>,
    },
    /// List an application's messages, newest first.
    List {
        app: String,
        /// Only these event types, comma-separated.
        #[arg(long, value_delimiter = ',')]
        event_types: Vec<String>,
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one message, by id or event id.
    Get { app: String, message: String },
}

#[derive(Args, Debug)]
pub struct AttemptCmd {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: AttemptAction,
}

#[derive(Subcommand, Debug)]
pub enum AttemptAction {
    /// List the attempts of a message or of an endpoint, newest first.
    List {
        app: String,
        #[arg(long, required_unless_present = "endpoint", conflicts_with = "endpoint")]
        msg: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one attempt, with the response it got.
    Get {
        app: String,
        message: String,
        attempt: String,
    },
    /// Send a message to an endpoint again.
    Resend {
        app: String,
        message: String,
        endpoint: String,
    },
}

const MESSAGE_COLUMNS: &[Column] = &[
    ("ID", |r| field(r, "id")),
    ("EVENT TYPE", |r| field(r, "eventType")),
    ("EVENT ID", |r| field(r, "eventId")),
    ("CHANNELS", |r| field(r, "channels")),
    ("CREATED", |r| field(r, "timestamp")),
];

const ATTEMPT_COLUMNS: &[Column] = &[
    ("ID", |r| field(r, "id")),
    ("MESSAGE", |r| field(r, "msgId")),
    ("ENDPOINT", |r| field(r, "endpointId")),
    ("STATUS", |r| status(&r["status"]).into()),
    ("CODE", |r| field(r, "responseStatusCode")),
    ("MS", |r| field(r, "responseDurationMs")),
    ("AT", |r| field(r, "timestamp")),
];

/// An attempt's or a delivery's status, as Svix numbers them.
pub fn status(code: &Value) -> &'static str {
    match code.as_i64() {
        Some(0) => "success",
        Some(1) => "pending",
        Some(2) => "fail",
        Some(3) => "sending",
        _ => "unknown",
    }
}

pub async fn run(cmd: MessageCmd) -> CliResult<()> {
    let client = Client::new(&cmd.opts)?;
    let json = cmd.opts.json;
    match cmd.action {
        MessageAction::Send {
            app,
            event_type,
            data,
            event_id,
            channels,
        } => {
            let mut body = json!({ "eventType": event_type, "payload": read_json_arg(&data)? });
            set(&mut body, "eventId", event_id.map(Value::from));
            set(
                &mut body,
                "channels",
                (!channels.is_empty()).then(|| Value::from(channels)),
            );
            let msg = client.post(&app_path(&app, &["msg"]), &body).await?;
            output::show(&msg, json)
        }
        MessageAction::List {
            app,
            event_types,
            channel,
            paging,
        } => {
            let mut query = vec![("with_content", "false".to_owned())];
            query.extend(event_types.into_iter().map(|t| ("event_types", t)));
            query.extend(channel.map(|c| ("channel", c)));
            output::list(
                &client,
                &app_path(&app, &["msg"]),
                query,
                &paging,
                json,
                MESSAGE_COLUMNS,
            )
            .await
        }
        MessageAction::Get { app, message } => output::show(
            &client.get(&["api", "v1", "app", &app, "msg", &message], &[]).await?,
            json,
        ),
    }
}

pub async fn run_attempts(cmd: AttemptCmd) -> CliResult<()> {
    let client = Client::new(&cmd.opts)?;
    let json = cmd.opts.json;
    match cmd.action {
        AttemptAction::List {
            app,
            msg,
            endpoint,
            paging,
        } => {
            let (by, id) = match (msg, endpoint) {
                (Some(m), _) => ("msg", m),
                (None, Some(e)) => ("endpoint", e),
                (None, None) => return Err(CliError::Usage("give --msg or --endpoint".into())),
            };
            let path = app_path(&app, &["attempt", by, &id]);
            output::list(&client, &path, vec![], &paging, json, ATTEMPT_COLUMNS).await
        }
        AttemptAction::Get { app, message, attempt } => {
            let path = app_path(&app, &["msg", &message, "attempt", &attempt]);
            output::show(&client.get(&path, &[]).await?, json)
        }
        AttemptAction::Resend { app, message, endpoint } => {
            let path = app_path(&app, &["msg", &message, "endpoint", &endpoint, "resend"]);
            client.post(&path, &json!({})).await?;
            done(json, &format!("message {message} queued again for endpoint {endpoint}"))
        }
    }
}
