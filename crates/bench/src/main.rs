//! hookd's benchmark. It starts a receiver and the release `hookd` binary on
//! this machine, and reports, for each scenario, what hookd delivered beside
//! what the same receiver takes when driven directly by the same HTTP client,
//! measured in the same run: the ratio is the figure that survives a noisy machine.

mod receiver;
mod scenario;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark hookd against a local receiver")]
pub struct Opts {
    /// The hookd binary (default: next to this one).
    #[arg(long)]
    pub hookd: Option<PathBuf>,
    /// Seconds each closed-loop phase publishes for.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Concurrent publishing clients.
    #[arg(long, default_value_t = 16)]
    pub publishers: usize,
    /// Rate of the open-loop latency phase, messages per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// A PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`):
    /// each scenario runs on a fresh database there. Default: the embedded store.
    #[arg(long)]
    pub database_url: Option<String>,
    /// hookd nodes sharing the database (PostgreSQL only); publishers spread over them.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Run these scenarios only (one, hundred, fanout, ten, filtered, open).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = Opts::parse();
    let hookd = opts.hookd.clone().unwrap_or_else(|| {
        let me = std::env::current_exe().expect("own path");
        me.with_file_name("hookd")
    });
    assert!(
        hookd.exists(),
        "{} not found: run `cargo build --release --workspace` first",
        hookd.display()
    );
    let rx = receiver::Receiver::start().await;
    let run = |name: &str| opts.only.is_empty() || opts.only.iter().any(|o| o == name);
    let secs = Duration::from_secs_f64(opts.seconds);

    assert!(
        opts.nodes == 1 || opts.database_url.is_some(),
        "several nodes need --database-url"
    );
    println!(
        "hookd benchmark: {} publishers, {:.0} s phases, {} node(s), store {}",
        opts.publishers,
        opts.seconds,
        opts.nodes,
        opts.database_url
            .as_deref()
            .map(|u| u.split('@').next_back().unwrap_or(u))
            .unwrap_or("embedded SQLite")
    );
    // The receiver's direct capacity is measured again around every phase, a
    // quarter of its length before and after: the machine's speed drifts within
    // a run, and something else on it now and then takes a third of the
    // receiver's capacity for a few seconds. Each ratio is taken against the
    // larger of the two, the receiver's capacity when nothing interfered.
    let direct_secs = secs / 4;
    let baseline = async |rx: &receiver::Receiver, concurrency| scenario::direct(rx, concurrency, direct_secs).await;
    let concurrency = opts.publishers.max(16);
    let mut rows = Vec::new();
    let shape = |name, apps, per_app, filter| scenario::Shape {
        name,
        apps,
        per_app,
        filter,
    };
    // Every payload passes this filter, so the filtered phase delivers as much as
    // the plain one and the difference is the cost of evaluating it.
    let passing = serde_json::json!({"$and": [{"seq": {"$gte": 0}}, {"data": {"$regex": "^x+$"}}]});
    let phases = [
        ("one", shape("1 endpoint", 1, 1, None)),
        ("hundred", shape("100 endpoints", 100, 1, None)),
        ("fanout", shape("fan-out 1 -> 1000", 1, 1000, None)),
        ("ten", shape("fan-out 1 -> 10", 1, 10, None)),
        ("filtered", shape("fan-out 1 -> 10, filtered", 1, 10, Some(passing))),
    ];
    for (key, phase) in phases {
        if run(key) {
            let before = baseline(&rx, concurrency).await;
            let row = scenario::closed_loop(&opts, &hookd, &rx, phase, secs).await;
            rows.push((before.max(baseline(&rx, concurrency).await), row));
        }
    }
    if run("open") {
        let before = baseline(&rx, concurrency).await;
        let row = scenario::open_loop(&opts, &hookd, &rx, opts.rate, secs).await;
        rows.push((before.max(baseline(&rx, concurrency).await), row));
    }
    println!();
    println!(
        "| scenario | direct req/s | published msg/s | delivered req/s | hookd/direct | p50 ms | p99 ms | max ms | peak RSS MiB | hookd CPU µs/delivery |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (direct, r) in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.1}% | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            r.name,
            direct,
            r.published_per_s,
            r.delivered_per_s,
            100.0 * r.delivered_per_s / direct,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.peak_rss_mib,
            r.cpu_us_per_delivery
        );
    }
}
