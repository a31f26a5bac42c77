//! The command line: `hookd serve` and the operator's commands, and a client
//! for every resource of a running server (`app`, `endpoint`, `event-type`,
//! `message`, `attempt`), with `listen`, `trigger` and `verify`.

pub mod apps;
pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod event_types;
pub mod listen;
pub mod messages;
pub mod output;
pub mod trigger;
pub mod verify;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::{Config, LogFormat, ServeArgs};
use crate::server;
use client::{CliError, CliResult, Client, ClientOpts};
use credentials::Credentials;

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
    #[command(flatten)]
    Client(ClientCommand),
}

/// The commands that talk to a running server, or to nobody.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Save a server's URL and token for the client commands.
    Login(LoginArgs),
    /// Forget what `hookd login` saved.
    Logout,
    /// Applications.
    App(apps::AppCmd),
    /// Endpoints of an application.
    Endpoint(endpoints::EndpointCmd),
    /// The catalogue of event types.
    EventType(event_types::EventTypeCmd),
    /// Messages of an application.
    Message(messages::MessageCmd),
    /// Delivery attempts.
    Attempt(messages::AttemptCmd),
    /// Forward an application's deliveries to a receiver on this machine.
    Listen(listen::ListenArgs),
    /// Publish an event type's example and show where it was delivered.
    Trigger(trigger::TriggerArgs),
    /// Check a delivery's signature offline.
    Verify(verify::VerifyArgs),
    /// Print a shell's completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The server (default: http://127.0.0.1:8071).
    #[arg(long, env = "HOOKD_URL")]
    pub url: Option<String>,
    /// The token (default: read from standard input).
    #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// What a command that opens the store does with it.
enum StoreTask {
    Serve,
    AdminToken,
    RotateKey,
}

/// Runs the command: the server's on a runtime sized by its configuration,
/// the client's on one thread.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    // Every TLS connection a client command makes (reqwest, WebSockets) uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (task, args) = match cli.command {
        Command::Serve(args) => (StoreTask::Serve, args),
        Command::AdminToken(args) => (StoreTask::AdminToken, args),
        Command::RotateKey(args) => (StoreTask::RotateKey, args),
        Command::Client(client_command) => {
            crate::logging::to_stderr(LogFormat::Text, "warn");
            restore_sigpipe();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            return Ok(runtime.block_on(run_client(client_command))?);
        }
    };
    let cfg = Config::resolve(args)?;
    crate::logging::to_stderr(cfg.log_format, "info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.api_threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match task {
            StoreTask::Serve => server::serve(cfg).await?,
            StoreTask::AdminToken => {
                let (store, _lock) = server::open_store(&cfg, false).await?;
                let token = server::issue_admin_token(&*store).await?;
                println!("{token}");
            }
            StoreTask::RotateKey => {
                let (key_id, n) = server::rotate_key(&cfg).await?;
                println!("{n} secrets sealed under key {key_id}");
            }
        }
        Ok(())
    })
}

/// A client command writing into a closed pipe (`hookd app list | head -1`)
/// ends quietly, as shell tools do, instead of failing on each write.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: `signal` only sets this process's disposition of SIGPIPE. It runs
    // before the client's runtime or any other thread exists, so nothing races
    // it; the server's commands never get here and keep Rust's default (ignored,
    // which a server writing to sockets needs). Its result, the previous
    // disposition, is not needed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run_client(command: ClientCommand) -> CliResult<()> {
    match command {
        ClientCommand::Login(args) => login(args).await,
        ClientCommand::Logout => {
            match Credentials::remove()? {
                true => println!("logged out"),
                false => println!("not logged in"),
            }
            Ok(())
        }
        ClientCommand::App(cmd) => apps::run(cmd).await,
        ClientCommand::Endpoint(cmd) => endpoints::run(cmd).await,
        ClientCommand::EventType(cmd) => event_types::run(cmd).await,
        ClientCommand::Message(cmd) => messages::run(cmd).await,
        ClientCommand::Attempt(cmd) => messages::run_attempts(cmd).await,
        ClientCommand::Listen(args) => listen::run(args).await,
        ClientCommand::Trigger(args) => trigger::run(args).await,
        ClientCommand::Verify(args) => verify::run(args),
        ClientCommand::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hookd", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

/// Checks the server answers and takes the token, then saves both.
async fn login(args: LoginArgs) -> CliResult<()> {
    let token = match args.token {
        Some(t) => t,
        None => {
            eprint!("token: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    if token.is_empty() {
        return Err(CliError::Usage("no token given".into()));
    }
    let opts = ClientOpts {
        url: Some(args.url.unwrap_or_else(|| client::DEFAULT_URL.to_owned())),
        token: Some(token.clone()),
        json: false,
    };
    let client = Client::new(&opts)?;
    // An application's token may not list applications (403), but a bad one is refused (401).
    match client.get(&["api", "v1", "app"], &[("limit", "1".to_owned())]).await {
        Ok(_) | Err(CliError::Api { status: 403, .. }) => {}
        Err(e) => return Err(e),
    }
    let url = client.base.to_string();
    let path = Credentials {
        url: url.clone(),
        token,
    }
    .save()?;
    println!("logged in to {url} (saved in {})", path.display());
    Ok(())
}
