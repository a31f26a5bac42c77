//! hookd's benchmark. It starts a receiver and the release `hookd` binary on
//! this machine, and reports, for each scenario, what hookd delivered beside
//! what the same receiver takes when driven directly by a client as lean as
//! hookd's own (`client`), measured in the same run: the ratio is the figure
//! that survives a noisy machine.

mod brokers;
mod client;
mod compare;
mod console;
mod receiver;
mod scenario;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark hookd against a local receiver")]
pub struct Opts {
    /// The hookd binary (default: next to this one). Given more than once,
    /// the builds take turns in every phase, for comparing them on a machine
    /// whose speed drifts (see `compare`).
    #[arg(long)]
    pub hookd: Vec<PathBuf>,
    /// Times each phase is run (each build in turn, every time).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
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
    /// Run these scenarios only (one, hundred, fanout, ten, filtered,
    /// transformed, open; `nats` and `redis`, broker destinations, and
    /// `console`, the console's pages on a large store, run only when named).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The NATS server (with JetStream) of the `nats` scenario.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The Redis server of the `redis` scenario.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Messages the console scenario fills the store with.
    #[arg(long, default_value_t = 1_000_000)]
    pub console_messages: u64,
}

/// What one phase runs.
enum Phase<'a> {
    /// hookd in front of the receiver, publishing as fast as it accepts.
    Shape(&'a scenario::Shape<'a>),
    /// hookd in front of the receiver, publishing at a set rate.
    Open,
    /// hookd publishing to a broker.
    Broker(brokers::Broker),
}

#[tokio::main]
async fn main() {
    let opts = Opts::parse();
    let builds: Vec<PathBuf> = match opts.hookd.is_empty() {
        true => vec![std::env::current_exe().expect("own path").with_file_name("hookd")],
        false => opts.hookd.clone(),
    };
    for hookd in &builds {
        assert!(
            hookd.exists(),
            "{} not found: run `cargo build --release --workspace` first",
            hookd.display()
        );
    }
    let rx = receiver::Receiver::start().await;
    let named = |name: &str| opts.only.iter().any(|o| o == name);
    let run = |name: &str| opts.only.is_empty() || named(name);
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
        transform: None,
    };
    // A transformation that changes the payload a little: the difference from
    // `one` is what running it costs per delivery.
    let transformed = scenario::Shape {
        transform: Some("function handler(webhook) { webhook.payload.shaped = true; return webhook; }"),
        ..shape("1 endpoint, transformed", 1, 1, None)
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
        ("transformed", transformed),
    ];
    let all = phases
        .iter()
        .map(|(key, shape)| (*key, Phase::Shape(shape)))
        .chain([("open", Phase::Open)])
        .filter(|(key, _)| run(key))
        .chain(
            [
                ("nats", Phase::Broker(brokers::Broker::Nats)),
                ("redis", Phase::Broker(brokers::Broker::Redis)),
            ]
            .into_iter()
            .filter(|(key, _)| named(key)),
        );
    let chosen: Vec<(&str, Phase)> = all.collect();
    if named("console") {
        for hookd in &builds {
            let rows = console::pages(&opts, hookd, &rx, opts.console_messages).await;
            console::print(&rows, opts.console_messages);
        }
    }
    for round in 0..opts.rounds {
        for (_, phase) in &chosen {
            for (build, hookd) in builds.iter().enumerate() {
                let (row, direct) = match phase {
                    Phase::Shape(shape) => {
                        let before = baseline(&rx, concurrency).await;
                        let row = scenario::closed_loop(&opts, hookd, &rx, (*shape).clone(), secs).await;
                        (row, before.max(baseline(&rx, concurrency).await))
                    }
                    Phase::Open => {
                        let before = baseline(&rx, concurrency).await;
                        let row = scenario::open_loop(&opts, hookd, &rx, opts.rate, secs).await;
                        (row, before.max(baseline(&rx, concurrency).await))
                    }
                    Phase::Broker(broker) => {
                        let (url, name) = match broker {
                            brokers::Broker::Nats => (&opts.nats_url, "1 endpoint, NATS JetStream"),
                            brokers::Broker::Redis => (&opts.redis_url, "1 endpoint, Redis stream"),
                        };
                        let sink = brokers::Sink::new(*broker, url).await;
                        let before = sink.direct(concurrency, direct_secs).await;
                        let row = brokers::closed_loop(&opts, hookd, &sink, url, name, secs).await;
                        let direct = before.max(sink.direct(concurrency, direct_secs).await);
                        sink.remove().await;
                        (row, direct)
                    }
                };
                rows.push(compare::Run {
                    round,
                    build,
                    direct,
                    row,
                });
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    println!();
    compare::print_rows(&rows, &builds);
    if builds.len() > 1 || opts.rounds > 1 {
        println!();
        compare::print_summary(&rows, &builds);
    }
}
