//! `hookd serve`: opens the store, starts the engine and the API, and shuts
//! down in order on SIGINT or SIGTERM.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::delivery::Engine;
use crate::ids::{self, Kind};
use crate::metrics::Metrics;
use crate::security::keyring::Keyring;
use crate::security::ssrf::AddressPolicy;
use crate::security::tokens;
use crate::store::{Store, StoreError, TokenRecord};
use crate::telemetry::Telemetry;
use crate::time;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot prepare data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("another hookd is using data directory {0}")]
    Locked(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("delivery: {0}")]
    Delivery(#[from] crate::delivery::StartError),
    #[error("cannot start the committer: {0}")]
    Committer(std::io::Error),
    #[error("keys: {0}")]
    Keys(#[from] crate::security::keyring::KeyError),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

/// Opens the store with the keys that seal its secrets. `exclusive` also takes
/// the data directory's lock: a server is alone with it (the embedded store's
/// file; a node's identity, see [`node_identity`]), while `rotate-key` works
/// beside a running one.
pub async fn open_store(cfg: &Config, exclusive: bool) -> Result<(Arc<dyn Store>, Option<File>), ServerError> {
    let dir = cfg.data_dir.display().to_string();
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| ServerError::DataDir(dir.clone(), e))?;
    let keys = Keyring::load(cfg.main_key.as_ref().map(|k| k.expose()), &cfg.data_dir)?;
    let lock = if exclusive {
        let f = File::create(cfg.data_dir.join("hookd.lock")).map_err(|e| ServerError::DataDir(dir.clone(), e))?;
        f.try_lock().map_err(|_| ServerError::Locked(dir))?;
        Some(f)
    } else {
        None
    };
    Ok((crate::store::open(&cfg.database_url, Arc::new(keys)).await?, lock))
}

/// Seals every secret under a new key, while servers keep running: they read
/// the key file again when they meet a value sealed with a key they lack.
pub async fn rotate_key(cfg: &Config) -> Result<(String, u64), ServerError> {
    let (store, _) = open_store(cfg, false).await?;
    let new_id = match &cfg.main_key {
        // Keys from the environment: the operator has put the new key first.
        Some(_) => store.keys().current_id(),
        None => store.keys().add_key_to_file()?,
    };
    let mut total = 0;
    // Rows a running server rewrote meanwhile (with the key it had) get another pass.
    for pass in 0..20 {
        let (resealed, left) = store.reseal_secrets().await?;
        total += resealed;
        if left == 0 && (resealed == 0 || pass > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    store.close().await;
    Ok((new_id, total))
}

/// Issues a new operator token, revoking the earlier ones.
pub async fn issue_admin_token(store: &dyn Store) -> Result<String, StoreError> {
    store.revoke_admin_tokens().await?;
    let token = tokens::generate("admin");
    store
        .insert_token(&TokenRecord {
            id: ids::new(Kind::Token),
            hash: tokens::hash(&token),
            app_id: None,
            read_only: false,
            expires_at: None,
            revoked: false,
            created_at: time::now(),
            session_id: None,
            name: None,
            publish_only: false,
            endpoint_id: None,
            text: None,
        })
        .await?;
    store
        .set_setting("admin_token_issued", &time::now().to_string())
        .await?;
    Ok(token)
}

/// `hookd serve`: listens on the configured address and runs until SIGINT or SIGTERM.
pub async fn serve(cfg: Config) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| ServerError::Listen(cfg.listen, e))?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(%addr, "hookd listening");
    println!("hookd listening on http://{addr}");
    run(cfg, listener, signal()).await
}

/// Runs a server on `listener` until `shutdown` completes, then stops in
/// order: no new requests, deliveries in flight finished or handed back, the
/// store closed. The listener already accepts connections: requests that
/// come before the store is open wait in its backlog.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let running = start(cfg, listener).await?;
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// A server started by [`start`], serving until [`Running::stop`].
pub struct Running {
    store: Arc<dyn Store>,
    engine: Engine,
    /// Stops the background work (listening for work, retention).
    stop: CancellationToken,
    cleaner: tokio::task::JoinHandle<()>,
    outbox: tokio::task::JoinHandle<()>,
    background: tokio::task::JoinHandle<()>,
    http: tokio::task::JoinHandle<()>,
    stop_http: tokio::sync::watch::Sender<bool>,
    /// The embedded store's data directory lock, held while the server runs.
    _lock: Option<File>,
}

impl Running {
    /// The delivery engine, for a test that moves its scheduler to a later
    /// time (`Engine::run_due`) instead of waiting for it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops in order (see [`run`]): first the engine, which from its first
    /// moment makes `/readyz` fail and publishes answer 503 while the API
    /// still serves reads; it finishes the attempts under way (within their
    /// timeout) and hands back the leases of the rest, for other nodes to take
    /// at once. Then the API, the background work and the store.
    pub async fn stop(self) {
        tracing::info!("shutting down: not ready, publishes refused; finishing deliveries in flight");
        self.engine.shutdown().await;
        let _ = self.stop_http.send(true);
        let _ = self.http.await;
        self.stop.cancel();
        let _ = self.cleaner.await;
        let _ = self.outbox.await;
        let _ = self.background.await;
        if let Some(t) = self.engine.telemetry() {
            t.shutdown();
        }
        self.store.close().await;
        tracing::info!("hookd stopped");
    }
}

/// This node's name as a lease owner, kept in its data directory (which
/// `open_store` holds locked): a node restarted after a crash knows the
/// leases of its last run as its own and takes them back at once, instead of
/// leaving that work until the leases run out.
fn node_identity(dir: &std::path::Path) -> Result<String, ServerError> {
    let path = dir.join("node.id");
    let io = |e| ServerError::DataDir(dir.display().to_string(), e);
    match std::fs::read_to_string(&path) {
        Ok(id) if id.trim().starts_with("node_") => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let id = ids::new(Kind::Token).replacen("tok_", "node_", 1);
    std::fs::write(&path, &id).map_err(io)?;
    Ok(id)
}

/// Opens the store, starts delivering and serves the API on `listener`.
pub async fn start(cfg: Config, listener: tokio::net::TcpListener) -> Result<Running, ServerError> {
    let (store, lock) = open_store(&cfg, true).await?;
    store.check_keys().await?;
    let node_id = node_identity(&cfg.data_dir)?;
    let released = store.release_orphaned_leases(&node_id).await?;
    if released > 0 {
        tracing::info!(released, "deliveries left in flight by the last run are queued again");
    }
    if cfg.admin_token.is_none() && store.get_setting("admin_token_issued").await?.is_none() {
        let token = issue_admin_token(&*store).await?;
        println!("hookd: your admin token (shown once; `hookd admin-token` issues a new one):\n{token}");
    }

    crate::operational::outbox::ensure_app(&*store).await?;
    let policy = AddressPolicy::new(cfg.allow_networks.clone());
    let metrics = Metrics::new();
    let committer = crate::store::committer::spawn(store.clone(), crate::subscriptions::MATCHER, metrics.clone())
        .map_err(ServerError::Committer)?;
    let telemetry = match &cfg.otlp_endpoint {
        Some(url) => Some(Arc::new(Telemetry::start(url)?)),
        None => None,
    };
    let engine = Engine::start(
        cfg.delivery.clone(),
        store.clone(),
        committer.clone(),
        policy,
        metrics.clone(),
        node_id,
        telemetry,
    )?;
    if released > 0 {
        // Other nodes may be idle: let them help with what this one left.
        engine.announce();
    }
    let stop = CancellationToken::new();
    let waker = engine.clone();
    store.listen_for_work(Box::new(move || waker.wake()), stop.clone());
    let cleaner = tokio::spawn(crate::retention::run(
        store.clone(),
        Duration::from_secs(60),
        stop.clone(),
    ));
    let outbox = crate::operational::outbox::Outbox {
        store: store.clone(),
        engine: engine.clone(),
        metrics: metrics.clone(),
    };
    let outbox = tokio::spawn(outbox.run(stop.clone()));
    let background = crate::background::Runner {
        store: store.clone(),
        engine: engine.clone(),
    };
    let background = tokio::spawn(background.run(stop.clone()));

    let header_timeout = cfg.header_timeout;
    let connections = metrics.http_connections.clone();
    let metrics_listen = cfg.metrics_listen;
    let state = AppState::new(store.clone(), engine.clone(), committer, Arc::new(cfg), metrics);
    let (stop_http, _) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServerError::Listen(addr, e))?;
        let app = api::metrics::standalone(state.clone());
        tokio::spawn(serve_http(
            listener,
            app,
            header_timeout,
            connections.clone(),
            stopped(stop_http.subscribe()),
        ));
    }
    let app = api::router(state);
    let http = tokio::spawn(serve_http(
        listener,
        app,
        header_timeout,
        connections,
        stopped(stop_http.subscribe()),
    ));
    Ok(Running {
        store,
        engine,
        stop,
        cleaner,
        outbox,
        background,
        http,
        stop_http,
        _lock: lock,
    })
}

/// Serves HTTP/1 until `shutdown`, then lets requests under way finish (10 s at
/// most). Slow or half-open clients are cut off after `header_timeout` (hyper
/// also closes keep-alive connections idle that long).
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    open: prometheus_client::metrics::gauge::Gauge,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = builder.http1_only();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and alike: wait a little instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                let open = open.clone();
                open.inc();
                tokio::spawn(async move {
                    let _ = conn.await;
                    open.dec();
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after 10 s; closing their connections");
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when it is first awaited: a SIGTERM that comes while the
/// server is still starting is then a shutdown, not the default kill.
fn signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    }
}
