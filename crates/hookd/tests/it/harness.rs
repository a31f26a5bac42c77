//! The one way tests start hookd: on port 0, against a fresh store, driven
//! over HTTP; in this process (`hookd::server::run`), or as the real binary
//! for the tests that kill it or read its log. Also the receiver that
//! deliveries go to.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::sync::Notify;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct Server {
    running: Option<Running>,
    pub url: String,
    pub dir: Arc<tempfile::TempDir>,
    env: Vec<(String, String)>,
    http: reqwest::Client,
    pub token: String,
}

/// How a server runs: inside the test process (`hookd::server::run` on a
/// runtime of its own), or as the real binary, for the tests that kill it or
/// read its log.
enum Running {
    InProcess {
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<Result<(), String>>,
        /// The server's engine, and its runtime's handle to run it on.
        engine: (hookd::delivery::Engine, tokio::runtime::Handle),
    },
    Binary(Child),
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Server {
    /// Starts hookd in this process with loopback allowed (the receiver lives
    /// there) and these extra settings, named by their variables.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_in(Arc::new(tempfile::tempdir().expect("temp dir")), env)
    }

    /// Starts hookd in this process on an existing data directory.
    pub fn start_in(dir: Arc<tempfile::TempDir>, env: &[(&str, &str)]) -> Server {
        Server::launch(dir, with_test_defaults(env), false)
    }

    /// Starts the hookd binary, for a test that kills it or reads its log.
    pub fn spawn(env: &[(&str, &str)]) -> Server {
        Server::spawn_in(Arc::new(tempfile::tempdir().expect("temp dir")), env)
    }

    /// Starts the hookd binary on an existing data directory.
    pub fn spawn_in(dir: Arc<tempfile::TempDir>, env: &[(&str, &str)]) -> Server {
        Server::launch(dir, with_test_defaults(env), true)
    }

    /// Another node (the binary) on the same database as `other` (PostgreSQL),
    /// with its own data directory.
    pub fn join(other: &Server, env: &[(&str, &str)]) -> Server {
        let db = other.database_env();
        assert!(!db.is_empty(), "nodes share a PostgreSQL database");
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.extend(db.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Server::spawn(&env)
    }

    fn launch(dir: Arc<tempfile::TempDir>, env: Vec<(String, String)>, binary: bool) -> Server {
        // hookd's crate picks rustls' provider explicitly; the test client does the same.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (running, url) = match binary {
            true => spawn_binary(&dir, &env),
            false => run_in_process(&dir, &env),
        };
        Server {
            running: Some(running),
            url,
            dir,
            env,
            http: reqwest::Client::new(),
            token: ADMIN.into(),
        }
    }

    /// The same server as another caller.
    pub fn as_token(&self, token: &str) -> Client {
        Client {
            url: self.url.clone(),
            http: self.http.clone(),
            token: token.into(),
        }
    }

    /// A client with its own connections (for requests after which hookd closes the connection).
    pub fn separate(&self, token: &str) -> Client {
        Client {
            url: self.url.clone(),
            http: reqwest::Client::new(),
            token: token.into(),
        }
    }

    pub fn admin(&self) -> Client {
        self.as_token(&self.token)
    }

    /// kill -9, as a crash would (the binary only).
    pub fn kill(&mut self) {
        match self.running.take() {
            Some(Running::Binary(mut c)) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Some(Running::InProcess { .. }) => panic!("only a spawned server can be killed: use Server::spawn"),
            None => {}
        }
    }

    /// SIGTERM, and the exit status (the binary only).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal_term();
        self.wait_exit()
    }

    /// Sends SIGTERM and returns at once (the binary only).
    pub fn signal_term(&self) {
        let Some(Running::Binary(c)) = &self.running else {
            panic!("only a spawned server can be sent a signal: use Server::spawn");
        };
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill runs");
    }

    /// Waits for the binary to exit, and answers how.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let Some(Running::Binary(mut c)) = self.running.take() else {
            panic!("only a spawned server exits: use Server::spawn");
        };
        c.wait().expect("hookd exits")
    }

    /// Moves the scheduler of an in-process server `ahead` in time: what will
    /// be due then (a retry, a delayed message) is claimed and sent now.
    /// Returns how many deliveries it claimed.
    pub async fn run_due_in(&self, ahead: Duration) -> usize {
        let Some(Running::InProcess {
            engine: (engine, runtime),
            ..
        }) = &self.running
        else {
            panic!("only an in-process server's scheduler can be moved: use Server::start");
        };
        let engine = engine.clone();
        let at = hookd::time::now() + ahead.as_micros() as i64;
        runtime
            .spawn(async move { engine.run_due(at).await })
            .await
            .expect("the step ran")
            .expect("due deliveries are claimed")
    }

    /// Stops an in-process server in order and waits until it has stopped.
    pub fn stop(&mut self) {
        if let Some(Running::InProcess { stop, thread, .. }) = self.running.take() {
            let _ = stop.send(());
            thread
                .join()
                .expect("the server's thread")
                .expect("hookd stops cleanly");
        }
    }

    /// Starts the binary again, with the same settings and data, after it exited.
    pub fn respawn(&mut self) {
        assert!(self.running.is_none(), "still running");
        *self = Server::launch(self.dir.clone(), self.env.clone(), true);
    }

    /// Starts hookd again on the same data directory: the binary after a
    /// kill -9, an in-process server after an orderly stop.
    pub fn restart(&mut self) {
        let binary = matches!(self.running, Some(Running::Binary(_)));
        match binary {
            true => self.kill(),
            false => self.stop(),
        }
        let next = Server::launch(self.dir.clone(), self.env.clone(), binary);
        *self = next;
    }
}

fn with_test_defaults(env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if !env.iter().any(|(k, _)| k == "HOOKD_ALLOW_NETWORKS") {
        env.push(("HOOKD_ALLOW_NETWORKS".into(), "127.0.0.0/8".into()));
    }
    if !env.iter().any(|(k, _)| k == "HOOKD_DATABASE_URL")
        && let Some(url) = fresh_postgres_database()
    {
        env.push(("HOOKD_DATABASE_URL".into(), url));
    }
    env
}

fn spawn_binary(dir: &tempfile::TempDir, env: &[(String, String)]) -> (Running, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("HOOKD_DATABASE_URL")
        .env_remove("HOOKD_TEST_DATABASE_URL")
        .env("HOOKD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file(dir)));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("hookd starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("hookd printed its address")
            .expect("readable stdout");
        if let Some(url) = line.strip_prefix("hookd listening on ") {
            break url.to_string();
        }
    };
    // Keep draining stdout so that hookd never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Running::Binary(child), url)
}

/// `hookd serve`'s flags as the binary would take them from these variables,
/// resolved into a configuration, and the server run on a thread with a
/// runtime of its own, as `hookd serve` runs it.
fn run_in_process(dir: &tempfile::TempDir, env: &[(String, String)]) -> (Running, String) {
    let mut argv: Vec<String> = ["hookd", "serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN]
        .map(String::from)
        .to_vec();
    argv.extend(["--data-dir".into(), dir.path().display().to_string()]);
    for (k, v) in env {
        let name = k.strip_prefix("HOOKD_").expect("a HOOKD_ variable");
        argv.push(format!("--{}", name.to_lowercase().replace('_', "-")));
        argv.push(v.clone());
    }
    let cli = <hookd::cli::Cli as clap::Parser>::try_parse_from(&argv).expect("flags hookd takes");
    let hookd::cli::Command::Serve(args) = cli.command else {
        unreachable!("parsed from `serve`")
    };
    let cfg = hookd::config::Config::resolve(args).expect("a valid configuration");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (started, engine) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.api_threads)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            let running = hookd::server::start(cfg, listener).await.map_err(|e| e.to_string())?;
            let _ = started.send((running.engine().clone(), tokio::runtime::Handle::current()));
            let _ = stopped.await;
            running.stop().await;
            Ok(())
        })
    });
    let Ok(engine) = engine.recv() else {
        let failed = thread.join().expect("the server's thread");
        panic!("hookd did not start: {failed:?}");
    };
    (Running::InProcess { stop, thread, engine }, url)
}

/// With `HOOKD_TEST_DATABASE_URL` (a PostgreSQL server's URL) set, every server
/// the tests start gets a database of its own there; without it, SQLite.
pub fn postgres_url() -> Option<String> {
    std::env::var("HOOKD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A new database on the test PostgreSQL server, if there is one.
pub fn fresh_postgres_database() -> Option<String> {
    let admin = postgres_url()?;
    // scripts/test names the run, so that it can drop exactly its own databases.
    let prefix = std::env::var("HOOKD_TEST_DB_PREFIX").unwrap_or_else(|_| "hookd_test_".into());
    let id = hookd::ids::new(hookd::ids::Kind::Token);
    let name = format!("{prefix}{}", id.trim_start_matches("tok_").to_lowercase());
    let out = Command::new("psql")
        .arg(&admin)
        .args(["-qtAc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "creating a test database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

fn log_file(dir: &tempfile::TempDir) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("hookd.log"))
        .expect("log file")
}

impl Server {
    /// Everything hookd wrote to stderr (its log) so far.
    /// `HOOKD_DATABASE_URL` as this server has it (empty on SQLite), for commands
    /// and servers that must use the same store.
    /// The server's store, opened again beside it (for tests of the store
    /// itself, with what the API made in it).
    pub async fn open_store(&self) -> std::sync::Arc<dyn hookd::store::Store> {
        let url = self.database_env().pop().map_or_else(
            || format!("sqlite://{}?mode=rwc", self.dir.path().join("hookd.db").display()),
            |(_, url)| url,
        );
        let keys = hookd::security::keyring::Keyring::load(None, self.dir.path()).expect("the server's keys");
        hookd::store::open(&url, Arc::new(keys))
            .await
            .expect("the server's store")
    }

    pub fn database_env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter(|(k, _)| k == "HOOKD_DATABASE_URL")
            .cloned()
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hookd.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self.running.take() {
            // Told to stop, and left to finish on its own: a test does not wait
            // for deliveries still in flight at its end.
            Some(Running::InProcess { stop, .. }) => {
                let _ = stop.send(());
            }
            running => {
                self.running = running;
                self.kill();
            }
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub url: String,
    http: reqwest::Client,
    token: String,
}

impl Client {
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        self.try_send(method, path, body, headers)
            .await
            .expect("request reaches hookd")
    }

    /// As `send`, but a connection error (hookd was killed) is `None`.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Option<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.ok()?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Some(Reply { status, body, headers })
    }

    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request reaches hookd");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(&body), &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send("PUT", path, Some(&body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(&body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, &[]).await
    }

    /// Creates an application and returns its id.
    pub async fn app(&self, uid: &str) -> String {
        let r = self
            .post("/api/v1/app", serde_json::json!({"name": uid, "uid": uid}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Creates an endpoint from `body` (which must hold a url) and returns it.
    pub async fn endpoint(&self, app: &str, body: Value) -> Value {
        let r = self.post(&format!("/api/v1/app/{app}/endpoint"), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// The endpoint's signing secret (or public key) as the API shows it.
    pub async fn secret(&self, app: &str, ep: &str) -> String {
        let r = self.get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret")).await;
        r.body["key"]
            .as_str()
            .unwrap_or_else(|| panic!("no secret: {}", r.body))
            .to_string()
    }

    /// Rotates the endpoint's secret with `body` and returns the new one.
    pub async fn rotate(&self, app: &str, ep: &str, body: Value) -> String {
        let r = self
            .post(&format!("/api/v1/app/{app}/endpoint/{ep}/secret/rotate"), body)
            .await;
        r.body["key"]
            .as_str()
            .unwrap_or_else(|| panic!("rotation failed: {}", r.body))
            .to_string()
    }

    pub async fn publish(&self, app: &str, body: Value) -> Value {
        let r = self.post(&format!("/api/v1/app/{app}/msg"), body).await;
        assert_eq!(r.status, 202, "{}", r.body);
        r.body
    }

    /// Publishes a payload given as text, so that its exact bytes are what
    /// hookd receives (a `Value` would be re-serialised).
    pub async fn publish_text(&self, app: &str, event_type: &str, payload: &str) -> Reply {
        let body = format!(r#"{{"eventType": "{event_type}", "payload": {payload}}}"#);
        self.raw("POST", &format!("/api/v1/app/{app}/msg"), &body).await
    }

    /// Polls `path` until `done` holds for its body (for state hookd reaches on its own).
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.get(path).await;
            if done(&r.body) {
                return r.body;
            }
            assert!(Instant::now() < deadline, "timed out waiting on {path}: {}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    /// Its headers as an HTTP header map (for the verifying libraries).
    pub fn header_map(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in &self.headers {
            h.insert(
                axum::http::HeaderName::try_from(k.as_str()).unwrap(),
                axum::http::HeaderValue::try_from(v.as_str()).unwrap(),
            );
        }
        h
    }
}

/// How the receiver answers on a path: a list of statuses used in turn (the last repeats).
#[derive(Clone, Default)]
pub struct Behaviour {
    pub statuses: Vec<u16>,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    /// The answer's body (default `received`).
    pub body: Option<String>,
}

#[derive(Default)]
struct Log {
    requests: Vec<Received>,
    /// Each request as it arrived: path, `webhook-id`, when (also those whose
    /// sender went away before the answer, which `requests` never holds).
    arrivals: Vec<(String, String, Instant)>,
    behaviours: HashMap<String, Behaviour>,
    counts: HashMap<String, usize>,
}

/// An HTTP server that records every request made to it.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Log>>,
    arrived: Arc<Notify>,
}

/// A certificate for `localhost` and 127.0.0.1, signed by a fresh test CA.
pub struct TestCa {
    pub ca_pem: String,
    ca_der: Vec<u8>,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "hookd test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            cert_der: leaf_cert.der().to_vec(),
            key_der: leaf_key.serialize_der(),
            issuer,
        }
    }

    /// A client identity signed by this CA: PEM key and certificate.
    pub fn client_identity(&self) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["hookd-client".to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        format!("{}{}", key.serialize_pem(), cert.pem())
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::serve(None, false).await
    }

    /// A receiver on HTTPS, with a certificate from `ca`.
    pub async fn start_tls(ca: &TestCa) -> Receiver {
        Receiver::serve(Some(ca), false).await
    }

    /// As [`Receiver::start_tls`], and demanding a client certificate signed by `ca`.
    pub async fn start_mtls(ca: &TestCa) -> Receiver {
        Receiver::serve(Some(ca), true).await
    }

    async fn serve(tls: Option<&TestCa>, client_auth: bool) -> Receiver {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let log = Arc::new(Mutex::new(Log::default()));
        let arrived = Arc::new(Notify::new());
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::any(receive))
            .with_state((log.clone(), arrived.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let Some(ca) = tls else {
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            return Receiver {
                url: format!("http://{addr}"),
                log,
                arrived,
            };
        };
        let builder = rustls::ServerConfig::builder();
        let builder = match client_auth {
            true => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.ca_der.clone().into()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            false => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(
                vec![ca.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(ca.key_der.clone().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Receiver {
            url: format!("https://localhost:{}", addr.port()),
            log,
            arrived,
        }
    }

    /// Sets how `path` (e.g. "/a") answers.
    pub fn on(&self, path: &str, b: Behaviour) {
        let mut log = self.log.lock().unwrap();
        log.behaviours.insert(path.to_string(), b);
        log.counts.remove(path);
    }

    pub fn requests(&self, path: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        self.log.lock().unwrap().requests.clone()
    }

    /// Waits until `path` has received `n` requests (30 s at most).
    pub async fn wait(&self, path: &str, n: usize) -> Vec<Received> {
        self.wait_until(|log| log.iter().filter(|r| r.path == path).count() >= n)
            .await;
        self.requests(path)
    }

    /// The first request to `path`, once it has come.
    pub async fn first(&self, path: &str) -> Received {
        self.wait(path, 1).await.remove(0)
    }

    /// Every request as it arrived (path, `webhook-id`, when), answered or not.
    pub fn arrivals(&self) -> Vec<(String, String, Instant)> {
        self.log.lock().unwrap().arrivals.clone()
    }

    /// Waits until `n` requests to `path` have arrived, answered or not (one
    /// held by a `delay` is then under way at hookd).
    pub async fn wait_arrived(&self, path: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let notified = self.arrived.notified();
            // `counts` holds the index of the latest request to each path.
            if self.log.lock().unwrap().counts.get(path).map_or(0, |i| i + 1) >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {n} requests to {path}");
            }
        }
    }

    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let notified = self.arrived.notified();
            if done(&self.log.lock().unwrap().requests) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for deliveries; got {}",
                    self.log.lock().unwrap().requests.len()
                );
            }
        }
    }
}

async fn receive(
    State((log, arrived)): State<(Arc<Mutex<Log>>, Arc<Notify>)>,
    Path(path): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let path = format!("/{path}");
    let behaviour = {
        let mut log = log.lock().unwrap();
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        log.arrivals.push((path.clone(), id.to_owned(), Instant::now()));
        let n = *log.counts.entry(path.clone()).and_modify(|c| *c += 1).or_insert(0);
        log.behaviours
            .get(&path)
            .cloned()
            .map(|b| (b.statuses.get(n).or(b.statuses.last()).copied(), b))
    };
    // Arrived, still to be answered: `wait_arrived` sees it.
    arrived.notify_waiters();
    let (status, b) = behaviour.unwrap_or((Some(200), Behaviour::default()));
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    let received = Received {
        method: method.to_string(),
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body,
        at: Instant::now(),
    };
    log.lock().unwrap().requests.push(received);
    arrived.notify_waiters();
    let answer = b.body.clone().unwrap_or_else(|| "received".into());
    let mut resp = (StatusCode::from_u16(status.unwrap_or(200)).unwrap(), answer).into_response();
    for (k, v) in b.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::try_from(k).unwrap(),
            axum::http::HeaderValue::try_from(v).unwrap(),
        );
    }
    resp
}

/// A TCP forwarder the tests can cut, to play a database going away.
pub struct Proxy {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (c, list) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, cut, conns }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}
