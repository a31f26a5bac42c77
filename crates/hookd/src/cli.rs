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

/// Runs the command on a runtime sized by its configuration.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let (Command::Serve(args) | Command::AdminToken(args) | Command::RotateKey(args)) = &cli.command;
    let cfg = Config::resolve(args.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.api_threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => server::serve(cfg).await?,
            Command::AdminToken(_) => {
                let (store, _lock) = server::open_store(&cfg, false).await?;
                let token = server::issue_admin_token(&*store).await?;
                println!("{token}");
            }
            Command::RotateKey(_) => {
                let (key_id, n) = server::rotate_key(&cfg).await?;
                println!("{n} secrets sealed under key {key_id}");
            }
        }
        Ok(())
    })
}
