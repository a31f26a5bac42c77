//! The client side of the command line: where the server is, who is calling,
//! one request at a time, and the errors a user can act on.

use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::credentials::Credentials;

/// The server a user talks to when none is named.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8071";

/// Where and who, for every client command.
#[derive(Args, Debug, Clone, Default)]
pub struct ClientOpts {
    /// The hookd server (default: the one `hookd login` saved, else http://127.0.0.1:8071).
    #[arg(long, env = "HOOKD_URL", global = true)]
    pub url: Option<String>,
    /// A bearer token (default: the one `hookd login` saved for this server).
    #[arg(long, env = "HOOKD_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What went wrong, said in one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach hookd at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused the token ({detail}); run `hookd login` or pass --token")]
    Unauthorized { detail: String },
    #[error("{detail}")]
    NotFound { detail: String },
    #[error("the server answered {status}: {detail}")]
    Api { status: u16, detail: String },
    #[error("{0}")]
    Usage(String),
    /// `hookd verify` found the signature wrong (it has said why).
    #[error("the signature is not valid")]
    Invalid,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type CliResult<T> = Result<T, CliError>;

/// A connection to one server with one token.
pub struct Client {
    pub base: url::Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// The flags and variables first, then what `hookd login` saved; a saved
    /// token is only ever sent to the server it was saved for.
    pub fn new(opts: &ClientOpts) -> CliResult<Client> {
        let saved = Credentials::load();
        let url = opts
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let base = parse_base(&url)?;
        let token = opts.token.clone().or_else(|| {
            saved
                .filter(|c| parse_base(&c.url).is_ok_and(|u| u == base))
                .map(|c| c.token)
        });
        Ok(Client {
            base,
            token,
            http: http_client(Duration::from_secs(60))?,
        })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The URL of an API path given as its segments (each one percent-encoded).
    pub fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .expect("http URLs have paths")
            .pop_if_empty()
            .extend(segments);
        u
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> CliResult<Value> {
        self.call(Method::GET, segments, query, None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> CliResult<Value> {
        self.call(Method::POST, segments, &[], Some(body)).await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> CliResult<Value> {
        self.call(Method::PATCH, segments, &[], Some(body)).await
    }

    pub async fn delete(&self, segments: &[&str]) -> CliResult<Value> {
        self.call(Method::DELETE, segments, &[], None).await
    }

    /// One request; the answer's JSON (null when it has none), or the server's error.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> CliResult<Value> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.http.request(method, url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("JSON serialises"));
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        let json: Value = match text.trim() {
            "" => Value::Null,
            t => serde_json::from_str(t).unwrap_or(Value::String(t.to_owned())),
        };
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let detail = detail_of(&json);
        Err(match status {
            401 => CliError::Unauthorized { detail },
            404 => CliError::NotFound { detail },
            _ => CliError::Api { status, detail },
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        CliError::Unreachable {
            url: self.base.to_string(),
            reason,
        }
    }
}

/// The segments of a path inside one application: `/api/v1/app/{app}/…`.
pub fn app_path<'a>(app: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut path = vec!["api", "v1", "app", app];
    path.extend_from_slice(rest);
    path
}

/// The HTTP client of every command: no redirects (a redirected request is not
/// what the user asked for), rustls with the platform's roots.
pub fn http_client(timeout: Duration) -> CliResult<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| CliError::Usage(format!("cannot make an HTTP client: {e}")))
}

fn parse_base(url: &str) -> CliResult<url::Url> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        _ => Err(CliError::Usage(format!(
            "{url:?} is not a server URL: give one like http://127.0.0.1:8071"
        ))),
    }
}

/// The server's explanation: `detail` as text, or each field's problem.
fn detail_of(json: &Value) -> String {
    match json.get("detail") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                let loc: Vec<String> = i["loc"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect();
                format!("{}: {}", loc.join("."), i["msg"].as_str().unwrap_or("invalid"))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => json.to_string(),
    }
}

/// A JSON argument: inline, `@file`, or `-` for standard input.
pub fn read_json_arg(arg: &str) -> CliResult<Value> {
    let text = match arg {
        "-" => std::io::read_to_string(std::io::stdin())?,
        a if a.starts_with('@') => {
            std::fs::read_to_string(&a[1..]).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", &a[1..])))?
        }
        a => a.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("not JSON: {e}")))
}
