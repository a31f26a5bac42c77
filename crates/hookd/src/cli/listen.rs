//! `hookd listen`: brings an application's deliveries to a receiver on this
//! machine. The CLI dials out to the server (`/api/v1/listen`, a WebSocket),
//! which attaches it to a relay endpoint; each attempt arrives as a frame, is
//! forwarded to FORWARD_URL byte for byte, and the local answer goes back up
//! to be recorded as the attempt. See `delivery::relay` for the server's side.

use std::time::{Duration, Instant};

use anstyle::Style;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::client::{CliError, CliResult, Client, ClientOpts, app_path, http_client};
use super::output::{DIM, GREEN, RED};
use crate::delivery::relay::{Frame, PROTOCOL};

#[derive(Args, Debug)]
pub struct ListenArgs {
    /// Where deliveries go: a URL on this machine, e.g. http://localhost:3000/webhooks.
    pub forward_url: String,
    /// The application, by id or uid.
    #[arg(long)]
    pub app: String,
    /// Event types the relay endpoint receives, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// The relay endpoint's name: the same name reuses it, and its secret.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Print the relay endpoint's signing secret once connected.
    #[arg(long)]
    pub print_secret: bool,
    /// Let FORWARD_URL be on another machine.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub opts: ClientOpts,
}

/// How often the listener pings, and how long a silent server is given.
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_FOR: Duration = Duration::from_secs(45);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How a connection ended.
enum Ended {
    /// The user pressed Ctrl-C.
    Interrupted,
    /// It was up and then dropped: connect again at once.
    Dropped(String),
}

pub async fn run(args: ListenArgs) -> CliResult<()> {
    let client = Client::new(&args.opts)?;
    let forward = forward_url(&args.forward_url, args.allow_remote)?;
    let http = http_client(Duration::from_secs(30))?;
    let mut secret_shown = !args.print_secret;
    // One handler for the whole run: a Ctrl-C between two waits is not lost.
    let stop = CancellationToken::new();
    let on_interrupt = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let mut backoff = Duration::from_millis(500);
    loop {
        match session(&client, &args, &forward, &http, &mut secret_shown, &stop).await {
            Ok(Ended::Interrupted) => return Ok(()),
            Ok(Ended::Dropped(why)) => {
                eprintln!("connection lost ({why}); connecting again");
                backoff = Duration::from_millis(500);
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(why)) => {
                eprintln!(
                    "cannot connect to {} ({why}); trying again in {:.1} s",
                    client.base,
                    backoff.as_secs_f64()
                );
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return Ok(()),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Failure {
    /// Trying again cannot help (a refused token, an unknown application).
    Fatal(CliError),
    Retry(String),
}

/// The receiver's URL, on this machine unless the user allowed otherwise.
fn forward_url(raw: &str, allow_remote: bool) -> CliResult<url::Url> {
    let url = url::Url::parse(raw).map_err(|e| CliError::Usage(format!("FORWARD_URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::Usage("FORWARD_URL must be http or https".into()));
    }
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !local && !allow_remote {
        return Err(CliError::Usage(format!(
            "{raw} is not on this machine (localhost, 127.0.0.1, ::1); pass --allow-remote to forward there"
        )));
    }
    Ok(url)
}

/// One connection: attach, forward until it drops or the user stops.
async fn session(
    client: &Client,
    args: &ListenArgs,
    forward: &url::Url,
    http: &reqwest::Client,
    secret_shown: &mut bool,
    stop: &CancellationToken,
) -> Result<Ended, Failure> {
    let request = handshake(client, args).map_err(Failure::Fatal)?;
    let connected = tokio::select! {
        c = tokio_tungstenite::connect_async(request) => c,
        _ = stop.cancelled() => return Ok(Ended::Interrupted),
    };
    let (socket, _) = match connected {
        Ok(s) => s,
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|j| j["detail"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.into_owned());
            return Err(match status {
                401 => Failure::Fatal(CliError::Unauthorized { detail }),
                404 => Failure::Fatal(CliError::NotFound { detail }),
                400..=499 if status != 429 => Failure::Fatal(CliError::Api { status, detail }),
                _ => Failure::Retry(format!("the server answered {status}")),
            });
        }
        Err(e) => return Err(Failure::Retry(e.to_string())),
    };
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(SILENT_FOR, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Frame>(t.as_str()).ok(),
        _ => None,
    };
    let Some(Frame::Hello {
        v,
        endpoint_id,
        disabled,
        ..
    }) = hello
    else {
        return Err(Failure::Retry("the server did not greet".into()));
    };
    if v != PROTOCOL {
        let why = format!("the server speaks listen protocol {v}, this hookd {PROTOCOL}: use the same version");
        return Err(Failure::Fatal(CliError::Usage(why)));
    }
    anstream::println!(
        "Ready: deliveries of {} (relay endpoint {endpoint_id}, {:?}) go to {forward}. Ctrl-C stops.",
        args.app,
        args.name
    );
    if disabled {
        anstream::eprintln!(
            "{RED}The relay endpoint is disabled{RED:#}: nothing arrives until `hookd endpoint enable {} {endpoint_id}`.",
            args.app
        );
    }
    if !*secret_shown {
        let secret = client
            .get(&app_path(&args.app, &["endpoint", &endpoint_id, "secret"]), &[])
            .await
            .map_err(Failure::Fatal)?;
        println!("Signing secret: {}", secret["key"].as_str().unwrap_or_default());
        *secret_shown = true;
    }
    let (answers, mut answered) = mpsc::channel::<Frame>(64);
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            m = stream.next() => {
                heard = Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<Frame>(t.as_str()) {
                        Ok(Frame::Request { id, msg_id, event_type, headers, body, .. }) => {
                            let (http, forward, answers) = (http.clone(), forward.clone(), answers.clone());
                            tokio::spawn(async move {
                                let frame = deliver(&http, &forward, id, &msg_id, &event_type, headers, body).await;
                                let _ = answers.send(frame).await;
                            });
                        }
                        _ => return Ok(Ended::Dropped("the server sent a frame this hookd does not know".into())),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed".into());
                        return Ok(Ended::Dropped(why));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ok(Ended::Dropped(e.to_string())),
                    None => return Ok(Ended::Dropped("closed".into())),
                }
            }
            Some(frame) = answered.recv() => {
                let text = serde_json::to_string(&frame).expect("frames serialise");
                if let Err(e) = sink.send(Message::Text(text.into())).await {
                    return Ok(Ended::Dropped(e.to_string()));
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    return Ok(Ended::Dropped("no word from the server".into()));
                }
                if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                    return Ok(Ended::Dropped(e.to_string()));
                }
            }
            _ = stop.cancelled() => {
                let bye = CloseFrame { code: CloseCode::Normal, reason: "stopped".into() };
                let _ = sink.send(Message::Close(Some(bye))).await;
                return Ok(Ended::Interrupted);
            }
        }
    }
}

/// The WebSocket request: the listen path on the same server, the token in its header.
fn handshake(client: &Client, args: &ListenArgs) -> CliResult<tungstenite::handshake::client::Request> {
    let mut url = client.url(&["api", "v1", "listen"]);
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).expect("ws and wss replace http and https");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("app", &args.app)
            .append_pair("name", &args.name)
            .append_pair("v", &PROTOCOL.to_string());
        if !args.events.is_empty() {
            q.append_pair("events", &args.events.join(","));
        }
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| CliError::Usage(format!("bad server URL: {e}")))?;
    if let Some(token) = client.token() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::Usage("the token is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    Ok(request)
}

/// Forwards one delivery and says how it went, on the terminal and to the server.
async fn deliver(
    http: &reqwest::Client,
    forward: &url::Url,
    id: u64,
    msg_id: &str,
    event_type: &str,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
) -> Frame {
    let started = Instant::now();
    let mut req = http.post(forward.clone()).body(body);
    for (name, value) in &headers {
        req = req.header(name, value);
    }
    let (status, headers, body, error) = match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            match resp.text().await {
                Ok(body) => (status, headers, body, None),
                Err(e) => (status, headers, String::new(), Some(format!("reading the answer: {e}"))),
            }
        }
        Err(e) => {
            let why = crate::delivery::attempt::chain(&e);
            (
                0,
                Default::default(),
                String::new(),
                Some(format!("cannot reach {forward}: {why}")),
            )
        }
    };
    let ms = started.elapsed().as_millis();
    let now = chrono::Local::now().format("%H:%M:%S");
    let style: Style = if (200..300).contains(&status) { GREEN } else { RED };
    let outcome = match &error {
        Some(e) => e.clone(),
        None => status.to_string(),
    };
    anstream::println!("{DIM}{now}{DIM:#}  {event_type}  {msg_id}  {style}{outcome}{style:#}  {ms} ms");
    Frame::Response {
        v: PROTOCOL,
        id,
        status,
        headers,
        body,
        error,
        duration_ms: Some(ms as u64),
    }
}
