//! `hookd app …`: applications.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{CliResult, Client, ClientOpts};
use super::output::{self, Column, Paging, field};

#[derive(Args, Debug)]
pub struct AppCmd {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: AppAction,
}

#[derive(Subcommand, Debug)]
pub enum AppAction {
    /// List applications.
    List(Paging),
    /// Show one application, by id or uid.
    Get { app: String },
    /// Create an application.
    Create {
        name: String,
        /// Your own id for it, usable wherever its id is.
        #[arg(long)]
        uid: Option<String>,
        /// Messages per second each of its endpoints receives at most.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Change an application's name, uid or rate limit.
    Update {
        app: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        uid: Option<String>,
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Delete an application with its endpoints and messages.
    Delete { app: String },
}

const COLUMNS: &[Column] = &[
    ("ID", |r| field(r, "id")),
    ("UID", |r| field(r, "uid")),
    ("NAME", |r| field(r, "name")),
    ("CREATED", |r| field(r, "createdAt")),
];

pub async fn run(cmd: AppCmd) -> CliResult<()> {
    let client = Client::new(&cmd.opts)?;
    let json = cmd.opts.json;
    match cmd.action {
        AppAction::List(paging) => output::list(&client, &["api", "v1", "app"], vec![], &paging, json, COLUMNS).await,
        AppAction::Get { app } => output::show(&client.get(&["api", "v1", "app", &app], &[]).await?, json),
        AppAction::Create { name, uid, rate_limit } => {
            let mut body = json!({ "name": name });
            set(&mut body, "uid", uid.map(Value::from));
            set(&mut body, "throttleRate", rate_limit.map(Value::from));
            output::show(&client.post(&["api", "v1", "app"], &body).await?, json)
        }
        AppAction::Update {
            app,
            name,
            uid,
            rate_limit,
        } => {
            let mut body = Value::Object(Map::new());
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "uid", uid.map(Value::from));
            set(&mut body, "throttleRate", rate_limit.map(Value::from));
            output::show(&client.patch(&["api", "v1", "app", &app], &body).await?, json)
        }
        AppAction::Delete { app } => {
            client.delete(&["api", "v1", "app", &app]).await?;
            done(json, &format!("application {app} deleted"))
        }
    }
}

/// Sets `key` when a flag gave it a value.
pub fn set(body: &mut Value, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body[key] = v;
    }
}

/// What a command that returns nothing prints: a sentence, or `{}` for scripts.
pub fn done(json: bool, said: &str) -> CliResult<()> {
    if json {
        return output::print_json(&json!({}));
    }
    println!("{said}");
    Ok(())
}
