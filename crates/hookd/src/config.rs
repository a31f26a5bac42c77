//! Server configuration: the defaults in `config.default.toml` (built into
//! the binary), then `hookd.toml`, then `HOOKD_*` variables, then flags, each
//! layer over the one before, merged by figment. clap reads a flag or, in its
//! absence, its variable, so the last layer is clap's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Every setting with its default and what it does.
pub const DEFAULTS: &str = include_str!("../config.default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Layers(Box<figment::Error>),
    #[error("invalid value for {name}: {detail}")]
    Invalid { name: &'static str, detail: String },
}

/// A setting that must not show up in logs or `Debug` output.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Args, Debug, Default, Clone, Serialize)]
pub struct ServeArgs {
    /// Address the API listens on.
    #[arg(long, env = "HOOKD_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded store and key files.
    #[arg(long, env = "HOOKD_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    #[arg(long, env = "HOOKD_DATABASE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The operator's bearer token. Generated and printed once when absent.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Redacted>,
    /// Keys that seal secrets at rest, base64 of 32 bytes, comma-separated, the
    /// sealing key first; default: the key file `main.key` in the data directory.
    #[arg(long, env = "HOOKD_MAIN_KEY", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_key: Option<Redacted>,
    /// Comma-separated CIDRs that deliveries may reach although not public.
    #[arg(long, env = "HOOKD_ALLOW_NETWORKS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_networks: Option<Vec<IpNet>>,
    /// How log lines are written: `text` for people, `json` for log shippers.
    #[arg(long, env = "HOOKD_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Also serve `/metrics` here, without a token (for a Prometheus on a private network).
    #[arg(long, env = "HOOKD_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Export spans (publish, commit, each attempt) over OTLP/HTTP to this collector URL.
    #[arg(long, env = "HOOKD_OTLP_ENDPOINT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Base URL under which users reach this server (used in portal links).
    #[arg(long, env = "HOOKD_PUBLIC_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Who may frame the console and portal (`Content-Security-Policy: frame-ancestors`).
    #[arg(long, env = "HOOKD_PORTAL_FRAME_ANCESTORS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal_frame_ancestors: Option<String>,
    /// Retry delays in seconds, comma-separated.
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<f64>>,
    /// Seconds an attempt may take before it counts as failed.
    #[arg(long, env = "HOOKD_ATTEMPT_TIMEOUT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_timeout: Option<f64>,
    /// Largest accepted message payload, in bytes.
    #[arg(long, env = "HOOKD_MAX_PAYLOAD_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<usize>,
    /// Bytes of each response body kept in the attempt log.
    #[arg(long, env = "HOOKD_RESPONSE_BODY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body_limit: Option<usize>,
    /// Seconds of continuous failure after which an endpoint is disabled.
    #[arg(long, env = "HOOKD_DISABLE_AFTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_after: Option<f64>,
    /// Seconds a node holds a claimed delivery before others may take it over.
    #[arg(long, env = "HOOKD_LEASE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<f64>,
    /// Seconds between looks for due retries made by other nodes.
    #[arg(long, env = "HOOKD_POLL_INTERVAL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<f64>,
    /// Deliveries in flight at once, over all endpoints.
    #[arg(long, env = "HOOKD_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Deliveries in flight at once to one endpoint.
    #[arg(long, env = "HOOKD_ENDPOINT_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_concurrency: Option<usize>,
    /// Threads that make deliveries, at a lower priority than the API's; 0
    /// runs deliveries on the API's threads; default one per core.
    #[arg(long, env = "HOOKD_DELIVERY_THREADS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_threads: Option<usize>,
    /// Threads that serve the API and write the store; default half the
    /// cores, at least one.
    #[arg(long, env = "HOOKD_API_THREADS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_threads: Option<usize>,
    /// Seconds a client may take to send a request's headers; also how long an
    /// idle keep-alive connection stays open.
    #[arg(long, env = "HOOKD_HEADER_TIMEOUT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_timeout: Option<f64>,
    /// PEM file of extra CA certificates that deliveries trust (besides the system's).
    #[arg(long, env = "HOOKD_CA_BUNDLE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Path of an optional TOML file with the same settings (snake_case keys).
    #[arg(long, env = "HOOKD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The settings once merged, as the layers name them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    listen: SocketAddr,
    data_dir: PathBuf,
    database_url: Option<String>,
    admin_token: Option<Redacted>,
    main_key: Option<Redacted>,
    allow_networks: Vec<IpNet>,
    metrics_listen: Option<SocketAddr>,
    otlp_endpoint: Option<String>,
    log_format: LogFormat,
    public_url: Option<String>,
    portal_frame_ancestors: String,
    retry_schedule: Vec<f64>,
    attempt_timeout: f64,
    max_payload_bytes: usize,
    response_body_limit: usize,
    disable_after: f64,
    lease: f64,
    poll_interval: f64,
    concurrency: usize,
    endpoint_concurrency: usize,
    delivery_threads: Option<usize>,
    api_threads: Option<usize>,
    ca_bundle: Option<PathBuf>,
    header_timeout: f64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub admin_token: Option<Redacted>,
    pub main_key: Option<Redacted>,
    pub allow_networks: Vec<IpNet>,
    /// Where `/metrics` is also served without a token.
    pub metrics_listen: Option<SocketAddr>,
    /// Where spans are exported, if anywhere.
    pub otlp_endpoint: Option<String>,
    pub log_format: LogFormat,
    /// Base of the links hookd hands out; `None`: the address the request was made to.
    pub public_url: Option<String>,
    /// Sources allowed to frame the console, as `frame-ancestors` takes them.
    pub portal_frame_ancestors: String,
    pub max_payload_bytes: usize,
    pub api_threads: usize,
    pub header_timeout: Duration,
    pub delivery: DeliveryConfig,
}

/// The settings of the delivery engine.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub retry_schedule: Vec<Duration>,
    pub attempt_timeout: Duration,
    pub response_body_limit: usize,
    pub disable_after: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub concurrency: usize,
    pub endpoint_concurrency: usize,
    /// Threads of their own for deliveries (0: the caller's runtime).
    pub threads: usize,
    pub ca_bundle: Option<PathBuf>,
}

impl DeliveryConfig {
    /// Tasks held in memory at most; beyond it new work waits in the store.
    /// Each is a spawned future of about 2 KiB, and work taken back from the
    /// store costs a claim, so the bound is generous: a 1,000-endpoint fan-out
    /// fits in it whole.
    pub fn max_queued(&self) -> usize {
        (self.concurrency * 4).max(2048)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn secs(name: &'static str, v: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v).map_err(|e| ConfigError::Invalid {
        name,
        detail: e.to_string(),
    })
}

fn positive(name: &'static str, v: usize) -> Result<usize, ConfigError> {
    match v {
        0 => Err(ConfigError::Invalid {
            name,
            detail: "must be at least 1".into(),
        }),
        n => Ok(n),
    }
}

/// Sources for one CSP directive: anything that could end it or start a
/// header of its own is refused.
fn frame_ancestors(v: String) -> Result<String, ConfigError> {
    let v = v.trim().to_owned();
    match !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != ';' && c != ',' || c == ' ')
    {
        true => Ok(v),
        false => Err(ConfigError::Invalid {
            name: "portal_frame_ancestors",
            detail: "must be CSP sources separated by spaces, e.g. \"'self' https://app.example.com\"".into(),
        }),
    }
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let mut layers = Figment::from(Toml::string(DEFAULTS));
        match args.config.as_deref() {
            Some(path) => {
                // Named explicitly, it must be there.
                std::fs::metadata(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                layers = layers.merge(Toml::file_exact(path));
            }
            None if Path::new("hookd.toml").exists() => layers = layers.merge(Toml::file_exact("hookd.toml")),
            None => {}
        }
        let s: Settings = layers
            .merge(Serialized::defaults(&args))
            .extract()
            .map_err(|e| ConfigError::Layers(Box::new(e)))?;
        let database_url = s
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", s.data_dir.join("hookd.db").display()));
        let delivery = DeliveryConfig {
            retry_schedule: s
                .retry_schedule
                .into_iter()
                .map(|v| secs("retry_schedule", v))
                .collect::<Result<_, _>>()?,
            attempt_timeout: secs("attempt_timeout", s.attempt_timeout)?,
            response_body_limit: s.response_body_limit,
            disable_after: secs("disable_after", s.disable_after)?,
            lease: secs("lease", s.lease)?,
            poll_interval: secs("poll_interval", s.poll_interval)?,
            concurrency: positive("concurrency", s.concurrency)?,
            endpoint_concurrency: positive("endpoint_concurrency", s.endpoint_concurrency)?,
            threads: s.delivery_threads.unwrap_or_else(cores),
            ca_bundle: s.ca_bundle,
        };
        Ok(Config {
            public_url: s.public_url,
            portal_frame_ancestors: frame_ancestors(s.portal_frame_ancestors)?,
            listen: s.listen,
            database_url,
            admin_token: s.admin_token,
            main_key: s.main_key,
            allow_networks: s.allow_networks,
            metrics_listen: s.metrics_listen,
            otlp_endpoint: s.otlp_endpoint,
            log_format: s.log_format,
            max_payload_bytes: positive("max_payload_bytes", s.max_payload_bytes)?,
            // Half the cores: the delivery threads and the store's writes want the rest.
            api_threads: positive("api_threads", s.api_threads.unwrap_or((cores() / 2).max(1)))?,
            header_timeout: secs("header_timeout", s.header_timeout)?,
            data_dir: s.data_dir,
            delivery,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(file: &str, args: ServeArgs) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hookd.toml");
        std::fs::write(&config, file).unwrap();
        Config::resolve(ServeArgs {
            config: Some(config),
            ..args
        })
    }

    #[test]
    fn threads_scale_with_the_cores_unless_told() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let cfg = resolve("", ServeArgs::default()).unwrap();
        assert_eq!(cfg.api_threads, (cores / 2).max(1));
        assert_eq!(cfg.delivery.threads, cores);
        let told = ServeArgs {
            api_threads: Some(3),
            delivery_threads: Some(0),
            ..ServeArgs::default()
        };
        let cfg = resolve("", told).unwrap();
        assert_eq!((cfg.api_threads, cfg.delivery.threads), (3, 0));
        // No hookd.toml in the working directory: the defaults alone.
        assert_eq!(
            Config::resolve(ServeArgs::default()).unwrap().api_threads,
            (cores / 2).max(1)
        );
        let zero = ServeArgs {
            api_threads: Some(0),
            ..ServeArgs::default()
        };
        let err = resolve("", zero).unwrap_err().to_string();
        assert!(err.contains("api_threads"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_the_defaults() {
        let file = "attempt_timeout = 20\nlease = 10\nallow_networks = [\"10.0.0.0/8\"]\n";
        let args = ServeArgs {
            lease: Some(5.0),
            ..ServeArgs::default()
        };
        let cfg = resolve(file, args).unwrap();
        assert_eq!(cfg.delivery.lease, Duration::from_secs(5));
        assert_eq!(cfg.delivery.attempt_timeout, Duration::from_secs(20));
        assert_eq!(cfg.delivery.concurrency, 256);
        assert_eq!(cfg.allow_networks, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(cfg.delivery.retry_schedule.len(), 7);
        assert_eq!(cfg.public_url, None);
        assert!(
            cfg.database_url.ends_with("hookd-data/hookd.db?mode=rwc"),
            "{}",
            cfg.database_url
        );
    }

    #[test]
    fn an_unknown_key_or_a_missing_named_file_is_an_error() {
        let err = resolve("atempt_timeout = 20\n", ServeArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("atempt_timeout"), "{err}");
        let missing = ServeArgs {
            config: Some(PathBuf::from("/nonexistent/hookd.toml")),
            ..ServeArgs::default()
        };
        assert!(matches!(Config::resolve(missing), Err(ConfigError::Read { .. })));
    }

    /// Every setting of `config.default.toml` is a flag of `hookd serve`, with
    /// its variable, and a row of the README's table; and nothing else is.
    #[test]
    fn the_defaults_the_flags_and_the_readme_agree() {
        use clap::CommandFactory;
        let keys: std::collections::BTreeSet<String> = DEFAULTS
            .lines()
            .filter_map(|l| l.trim_start_matches("# ").split_once(" = "))
            .map(|(k, _)| k.to_string())
            .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert_eq!(keys.len(), 24, "{keys:?}");
        let cli = crate::cli::Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        let readme = include_str!("../../../README.md");
        let table: std::collections::BTreeSet<String> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| `--"))
            .filter_map(|l| l.split_once('`'))
            .map(|(flag, _)| flag.replace('-', "_"))
            .collect();
        let flags: std::collections::BTreeSet<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "config")
            .map(|l| l.replace('-', "_"))
            .collect();
        assert_eq!(keys, flags, "config.default.toml and the flags of `hookd serve`");
        assert_eq!(keys, table, "config.default.toml and the README's table");
        for key in &keys {
            let var = format!("HOOKD_{}", key.to_uppercase());
            let flag = serve
                .get_arguments()
                .find(|a| a.get_long() == Some(&key.replace('_', "-")))
                .unwrap();
            assert_eq!(flag.get_env().and_then(|e| e.to_str()), Some(var.as_str()));
            assert!(readme.contains(&format!("`{var}`")), "the README names {var}");
        }
    }
}
