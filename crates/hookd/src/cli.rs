//! The command line: `hookd serve` and the operator's commands.

use clap::{Parser, Subcommand};

use crate::config::{Config, ServeArgs};
use crate::server;

#[derive(Parser, Debug)]
#[command(
    name = "hookd",
    version,
    about = "Webhook delivery server (Svix-compatible API, Standard Webhooks signatures)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Issue a new operator token and revoke the earlier ones.
    AdminToken(ServeArgs),
    /// Seal every stored secret under a new main key (servers may keep running).
    RotateKey(ServeArgs),
}

pub async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(args) => server::serve(Config::resolve(args)?).await?,
        Command::AdminToken(args) => {
            let cfg = Config::resolve(args)?;
            let (store, _lock) = server::open_store(&cfg, false).await?;
            let token = server::issue_admin_token(&store).await?;
            println!("{token}");
        }
        Command::RotateKey(args) => {
            let (key_id, n) = server::rotate_key(&Config::resolve(args)?).await?;
            println!("{n} secrets sealed under key {key_id}");
        }
    }
    Ok(())
}
