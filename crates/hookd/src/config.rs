//! Server configuration. Each setting comes from its flag, else its `HOOKD_*`
//! variable (clap reads both), else `hookd.toml`, else the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid {path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("invalid value for {name}: {detail}")]
    Invalid { name: &'static str, detail: String },
}

/// A setting that must not show up in logs or `Debug` output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Redacted(s.to_owned()))
    }
}

impl Redacted {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Flags of `hookd serve` (and of the commands that open the store).
#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Address the API listens on.
    #[arg(long, env = "HOOKD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded store and key files.
    #[arg(long, env = "HOOKD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    #[arg(long, env = "HOOKD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The operator's bearer token. Generated and printed once when absent.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Redacted>,
    /// Keys that seal secrets at rest, base64 of 32 bytes, comma-separated, the
    /// sealing key first; default: the key file `main.key` in the data directory.
    #[arg(long, env = "HOOKD_MAIN_KEY", hide_env_values = true)]
    pub main_key: Option<Redacted>,
    /// Comma-separated CIDRs that deliveries may reach although not public.
    #[arg(long, env = "HOOKD_ALLOW_NETWORKS", value_delimiter = ',')]
    pub allow_networks: Option<Vec<IpNet>>,
    /// Base URL under which users reach this server (used in portal links).
    #[arg(long, env = "HOOKD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Retry delays in seconds, comma-separated.
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", value_delimiter = ',')]
    pub retry_schedule: Option<Vec<f64>>,
    /// Seconds an attempt may take before it counts as failed.
    #[arg(long, env = "HOOKD_ATTEMPT_TIMEOUT")]
    pub attempt_timeout: Option<f64>,
    /// Largest accepted message payload, in bytes.
    #[arg(long, env = "HOOKD_MAX_PAYLOAD_BYTES")]
    pub max_payload_bytes: Option<usize>,
    /// Bytes of each response body kept in the attempt log.
    #[arg(long, env = "HOOKD_RESPONSE_BODY_LIMIT")]
    pub response_body_limit: Option<usize>,
    /// Seconds of continuous failure after which an endpoint is disabled.
    #[arg(long, env = "HOOKD_DISABLE_AFTER")]
    pub disable_after: Option<f64>,
    /// Seconds a node holds a claimed delivery before others may take it over.
    #[arg(long, env = "HOOKD_LEASE")]
    pub lease: Option<f64>,
    /// Seconds between looks for due retries made by other nodes.
    #[arg(long, env = "HOOKD_POLL_INTERVAL")]
    pub poll_interval: Option<f64>,
    /// Deliveries in flight at once, over all endpoints.
    #[arg(long, env = "HOOKD_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Deliveries in flight at once to one endpoint.
    #[arg(long, env = "HOOKD_ENDPOINT_CONCURRENCY")]
    pub endpoint_concurrency: Option<usize>,
    /// Threads that make deliveries, at a lower priority than the API's; 0
    /// runs deliveries on the API's threads.
    #[arg(long, env = "HOOKD_DELIVERY_THREADS")]
    pub delivery_threads: Option<usize>,
    /// Threads that serve the API and write the store; default half the
    /// cores, at least one.
    #[arg(long, env = "HOOKD_API_THREADS")]
    pub api_threads: Option<usize>,
    /// Seconds a client may take to send a request's headers; also how long an
    /// idle keep-alive connection stays open.
    #[arg(long, env = "HOOKD_HEADER_TIMEOUT")]
    pub header_timeout: Option<f64>,
    /// PEM file of extra CA certificates that deliveries trust (besides the system's).
    #[arg(long, env = "HOOKD_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Path of an optional TOML file with the same settings (snake_case keys).
    #[arg(long, env = "HOOKD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The same settings as read from `hookd.toml`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    admin_token: Option<Redacted>,
    main_key: Option<Redacted>,
    allow_networks: Option<Vec<IpNet>>,
    public_url: Option<String>,
    retry_schedule: Option<Vec<f64>>,
    attempt_timeout: Option<f64>,
    max_payload_bytes: Option<usize>,
    response_body_limit: Option<usize>,
    disable_after: Option<f64>,
    lease: Option<f64>,
    poll_interval: Option<f64>,
    concurrency: Option<usize>,
    endpoint_concurrency: Option<usize>,
    delivery_threads: Option<usize>,
    api_threads: Option<usize>,
    ca_bundle: Option<PathBuf>,
    header_timeout: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub admin_token: Option<Redacted>,
    pub main_key: Option<Redacted>,
    pub allow_networks: Vec<IpNet>,
    pub public_url: String,
    pub retry_schedule: Vec<Duration>,
    pub attempt_timeout: Duration,
    pub max_payload_bytes: usize,
    pub response_body_limit: usize,
    pub disable_after: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub concurrency: usize,
    pub endpoint_concurrency: usize,
    pub delivery_threads: usize,
    pub api_threads: usize,
    pub ca_bundle: Option<PathBuf>,
    pub header_timeout: Duration,
}

pub const DEFAULT_RETRY_SCHEDULE: [f64; 7] = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

fn half_the_cores() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

fn secs(name: &'static str, v: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v).map_err(|e| ConfigError::Invalid {
        name,
        detail: e.to_string(),
    })
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = load_file(args.config.as_deref())?;
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./hookd-data"));
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| ([127, 0, 0, 1], 8071).into());
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("hookd.db").display()));
        let schedule = args
            .retry_schedule
            .or(file.retry_schedule)
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.to_vec());
        let retry_schedule = schedule
            .into_iter()
            .map(|s| secs("retry_schedule", s))
            .collect::<Result<_, _>>()?;
        let positive = |name, v: Option<usize>, default: usize| match v.unwrap_or(default) {
            0 => Err(ConfigError::Invalid {
                name,
                detail: "must be at least 1".into(),
            }),
            n => Ok(n),
        };
        Ok(Config {
            public_url: args
                .public_url
                .or(file.public_url)
                .unwrap_or_else(|| format!("http://{listen}")),
            listen,
            database_url,
            admin_token: args.admin_token.or(file.admin_token),
            main_key: args.main_key.or(file.main_key),
            allow_networks: args.allow_networks.or(file.allow_networks).unwrap_or_default(),
            retry_schedule,
            attempt_timeout: secs(
                "attempt_timeout",
                args.attempt_timeout.or(file.attempt_timeout).unwrap_or(15.0),
            )?,
            max_payload_bytes: positive(
                "max_payload_bytes",
                args.max_payload_bytes.or(file.max_payload_bytes),
                1 << 20,
            )?,
            response_body_limit: args
                .response_body_limit
                .or(file.response_body_limit)
                .unwrap_or(64 << 10),
            disable_after: secs(
                "disable_after",
                args.disable_after.or(file.disable_after).unwrap_or(5.0 * 86400.0),
            )?,
            lease: secs("lease", args.lease.or(file.lease).unwrap_or(30.0))?,
            poll_interval: secs(
                "poll_interval",
                args.poll_interval.or(file.poll_interval).unwrap_or(1.0),
            )?,
            // Each slot may keep a connection open between attempts (~30 KiB);
            // on the benchmark 256 delivered as much as 512 in less memory.
            concurrency: positive("concurrency", args.concurrency.or(file.concurrency), 256)?,
            endpoint_concurrency: positive(
                "endpoint_concurrency",
                args.endpoint_concurrency.or(file.endpoint_concurrency),
                32,
            )?,
            // Two: one delivered less when the machine had work to spare, and
            // let deliveries fall behind (more memory) when it had none.
            delivery_threads: args.delivery_threads.or(file.delivery_threads).unwrap_or(2),
            // Half the cores: the delivery threads and the store's writes want
            // the rest. With a thread per core on two cores, threads waiting
            // for a core were an eighth of the API's time, and the benchmark
            // delivered 3 to 11% less at 100 endpoints in each of six runs.
            api_threads: positive("api_threads", args.api_threads.or(file.api_threads), half_the_cores())?,
            ca_bundle: args.ca_bundle.or(file.ca_bundle),
            header_timeout: secs(
                "header_timeout",
                args.header_timeout.or(file.header_timeout).unwrap_or(30.0),
            )?,
            data_dir,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("hookd.toml").exists() => PathBuf::from("hookd.toml"),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Toml { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(api_threads: Option<usize>) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hookd.toml");
        std::fs::write(&config, "").unwrap();
        Config::resolve(ServeArgs {
            config: Some(config),
            api_threads,
            ..ServeArgs::default()
        })
    }

    #[test]
    fn the_api_gets_half_the_cores_unless_told() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(resolve(None).unwrap().api_threads, (cores / 2).max(1));
        assert_eq!(resolve(Some(3)).unwrap().api_threads, 3);
        let err = resolve(Some(0)).unwrap_err().to_string();
        assert!(err.contains("api_threads"), "{err}");
    }
}
