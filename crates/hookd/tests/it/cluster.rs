//! Several nodes on one PostgreSQL database. These run in the PostgreSQL pass
//! of scripts/test (they need `HOOKD_TEST_DATABASE_URL`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Behaviour, Client, Proxy, Received, Receiver, Server, fresh_postgres_database};

/// Nodes share the database and the main key.
const NODE_ENV: [(&str, &str); 4] = [
    ("HOOKD_LEASE", "3"),
    ("HOOKD_RETRY_SCHEDULE", "0.5,1,1,1,1,1"),
    ("HOOKD_ENDPOINT_CONCURRENCY", "4"),
    ("HOOKD_MAIN_KEY", "Y2x1c3Rlci10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGU="),
];

/// Three nodes, and one application with `endpoints` endpoints at a receiver
/// that holds each request `hold`.
struct Cluster {
    nodes: Vec<Server>,
    rx: Receiver,
    admin: Client,
    app: String,
    paths: Vec<String>,
    clients: Vec<Client>,
}

impl Cluster {
    async fn start(env: &[(&str, &str)], endpoints: usize, hold: Duration) -> Cluster {
        let mut nodes = vec![Server::spawn(env)];
        nodes.push(Server::join(&nodes[0], env));
        nodes.push(Server::join(&nodes[0], env));
        let rx = Receiver::start().await;
        let admin = nodes[0].admin();
        let app = admin.app("cluster").await;
        let paths: Vec<String> = (0..endpoints).map(|i| format!("/e{i}")).collect();
        for p in &paths {
            rx.on(
                p,
                Behaviour {
                    delay: hold,
                    ..Default::default()
                },
            );
            admin.endpoint(&app, json!({"url": format!("{}{p}", rx.url)})).await;
        }
        let clients = nodes.iter().map(Server::admin).collect();
        Cluster {
            nodes,
            rx,
            admin,
            app,
            paths,
            clients,
        }
    }
}

/// Publishes `n` messages through `nodes`, one publisher per node; answers
/// the accepted ids. A publisher whose node was killed stops, or with
/// `fail_over` goes on through the next node.
async fn publish_through(nodes: &[Client], app: &str, n: usize, offset: usize) -> HashSet<String> {
    publish(nodes, app, n, offset, false).await
}

async fn publish(nodes: &[Client], app: &str, n: usize, offset: usize, fail_over: bool) -> HashSet<String> {
    let mut tasks = Vec::new();
    for k in 0..nodes.len() {
        let (nodes, app) = (nodes.to_vec(), app.to_string());
        let share = n / nodes.len();
        tasks.push(tokio::spawn(async move {
            let (mut ids, mut via) = (Vec::new(), k);
            let mut i = 0;
            while i < share {
                let body = json!({"eventType": "x", "payload": {"i": offset + k * share + i}});
                match nodes[via]
                    .try_send("POST", &format!("/api/v1/app/{app}/msg"), Some(&body), &[])
                    .await
                {
                    Some(r) if r.status == 202 => ids.push(r.body["id"].as_str().unwrap().to_string()),
                    Some(r) => panic!("publish answered {}: {}", r.status, r.body),
                    // This node was killed; its answer is lost, so the message counts as not accepted.
                    None if fail_over => via = (via + 1) % nodes.len(),
                    None => break,
                }
                i += 1;
            }
            ids
        }));
    }
    let mut accepted = HashSet::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    accepted
}

fn all_delivered(log: &[Received], paths: &[String], ids: &HashSet<String>) -> bool {
    paths.iter().all(|p| {
        let got: HashSet<&str> = log
            .iter()
            .filter(|r| &r.path == p)
            .map(|r| r.headers["webhook-id"].as_str())
            .collect();
        ids.iter().all(|id| got.contains(id.as_str()))
    })
}

fn duplicates(log: &[Received]) -> usize {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for r in log {
        *seen
            .entry((r.path.as_str(), r.headers["webhook-id"].as_str()))
            .or_default() += 1;
    }
    seen.values().map(|n| n - 1).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn three_nodes_share_the_work_and_lose_nothing_when_one_dies() {
    let Cluster {
        mut nodes,
        rx,
        admin,
        app,
        paths,
        clients,
    } = Cluster::start(&NODE_ENV, 20, Duration::from_millis(2)).await;

    // While no node dies, nothing is delivered twice.
    let first = publish_through(&clients, &app, 300, 0).await;
    assert_eq!(first.len(), 300);
    rx.wait_until(|log| all_delivered(log, &paths, &first)).await;
    assert_eq!(
        duplicates(&rx.all()),
        0,
        "a delivery happened twice while every node was alive"
    );
    let before = rx.all().len();

    // Kill one node with SIGKILL while a few thousand deliveries are under way, then start it again.
    let publishing = {
        let (clients, app) = (clients.clone(), app.clone());
        tokio::spawn(async move { publish_through(&clients, &app, 1500, 10_000).await })
    };
    rx.wait_until(|log| log.len() >= before + 3000).await;
    nodes[1].kill();
    let second = publishing.await.unwrap();
    nodes[1].restart();
    rx.wait_until(|log| all_delivered(log, &paths, &second)).await;
    let log = rx.all();
    let dups = duplicates(&log);
    println!(
        "cluster: {} messages accepted after the first phase, {} deliveries, {dups} duplicates after the kill",
        second.len(),
        log.len() - before
    );
    assert!(
        second.len() >= 1000,
        "most publishes went to the live nodes: {}",
        second.len()
    );
    // Every delivery is of a stored message.
    let ids: HashSet<&str> = log.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
    for id in ids.iter().filter(|id| !first.contains(**id) && !second.contains(**id)) {
        assert_eq!(
            admin.get(&format!("/api/v1/app/{app}/msg/{id}")).await.status,
            200,
            "{id} was never stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn a_database_outage_refuses_publishing_and_loses_nothing() {
    let url = fresh_postgres_database().expect("HOOKD_TEST_DATABASE_URL is set");
    let (before_host, rest) = url.split_once('@').unwrap();
    let (host, db) = rest.split_once('/').unwrap();
    let target: std::net::SocketAddr = host.parse().unwrap();
    let proxy = Proxy::start(target).await;
    let proxied = format!("{before_host}@127.0.0.1:{}/{db}", proxy.port);
    let mut env = NODE_ENV.to_vec();
    env.push(("HOOKD_DATABASE_URL", &proxied));
    let s = Server::spawn(&env);
    let c = s.admin();
    let rx = Receiver::start().await;
    rx.on(
        "/slow",
        Behaviour {
            delay: Duration::from_millis(300),
            ..Default::default()
        },
    );
    let app = c.app("outage").await;
    c.endpoint(&app, json!({"url": format!("{}/slow", rx.url)})).await;
    let mut accepted = publish_through(std::slice::from_ref(&c), &app, 30, 0).await;
    assert_eq!(accepted.len(), 30);

    // The database goes away while deliveries are in flight.
    proxy.cut();
    let mut refused = Vec::new();
    for i in 0..10 {
        let c = c.clone();
        let app = app.clone();
        refused.push(tokio::spawn(async move {
            let r = c
                .post(
                    &format!("/api/v1/app/{app}/msg"),
                    json!({"eventType": "x", "payload": {"down": i}}),
                )
                .await;
            (r.status, r.body)
        }));
    }
    for r in refused {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 503, "publishing while the database is away: {body}");
        assert_eq!(body["code"], "service_unavailable");
    }
    assert_eq!(s.as_token("").get("/api/v1/health").await.status, 503);
    let ready = s.as_token("").get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (503, Some("the database does not answer"))
    );
    assert_eq!(s.as_token("").get("/livez").await.status, 200, "alive all the same");

    // It comes back: hookd recovers by itself, accepts again and delivers everything.
    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = c
            .post(
                &format!("/api/v1/app/{app}/msg"),
                json!({"eventType": "x", "payload": {"back": true}}),
            )
            .await;
        if r.status == 202 {
            accepted.insert(r.body["id"].as_str().unwrap().to_string());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hookd did not recover: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rx.wait_until(|log| all_delivered(log, &["/slow".to_string()], &accepted))
        .await;
    let delivered: HashSet<String> = rx.all().iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert!(
        delivered.is_subset(&accepted),
        "something refused with 503 was delivered"
    );
    let listed = c.get(&format!("/api/v1/app/{app}/msg?limit=250")).await.body;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        accepted.len(),
        "only accepted messages are stored"
    );
    let warnings = s.log().lines().filter(|l| l.contains("WARN")).count();
    assert!(
        warnings <= 12,
        "the outage flooded the log with {warnings} warnings:\n{}",
        s.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn hot_queries_use_indexes_on_a_million_attempts() {
    let s = Server::start(&[]);
    let (_, url) = s.database_env().pop().expect("runs on PostgreSQL");
    let c = s.admin();
    let app = c.app("big").await;
    let mut endpoints = Vec::new();
    for i in 0..10 {
        let ep = c
            .endpoint(
                &app,
                json!({"url": format!("https://example.com/{i}"), "disabled": true}),
            )
            .await;
        endpoints.push(ep["id"].as_str().unwrap().to_string());
    }
    // 100,000 messages, each delivered and attempted at 10 endpoints: a million of each.
    let eps = endpoints
        .iter()
        .map(|e| format!("('{e}')"))
        .collect::<Vec<_>>()
        .join(",");
    let fill = format!(
        "INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at) \
           SELECT 'msg_' || lpad(g::text, 27, '0'), '{app}', 'x', '{{}}', g, g + 1000000000000 FROM generate_series(1, 100000) g;
         INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, created_at, updated_at) \
           SELECT 'dlv_' || lpad(g::text, 20, '0') || e.id, '{app}', 'msg_' || lpad(g::text, 27, '0'), e.id, 0, 1, 0, g, g \
           FROM generate_series(1, 100000) g CROSS JOIN (VALUES {eps}) AS e(id);
         INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, duration_ms, trigger_type, created_at) \
           SELECT 'atmpt_' || lpad(g::text, 20, '0') || e.id, '{app}', 'msg_' || lpad(g::text, 27, '0'), e.id, 'https://example.com', 0, 200, 'ok', 5, 0, g \
           FROM generate_series(1, 100000) g CROSS JOIN (VALUES {eps}) AS e(id);
         INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n) \
           SELECT 'app_' || a, h * 3600000000, 'ep_1', s, 1 \
           FROM generate_series(1, 2000) a, generate_series(0, 47) h, (VALUES (0), (2)) AS v(s);
         ANALYZE;"
    );
    let out = std::process::Command::new("psql")
        .args([&url, "-v", "ON_ERROR_STOP=1", "-qc", &fill])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let db = hookd::store::postgres::Postgres::open(&url).await.unwrap();
    let msg = format!("msg_{:0>27}", 50_000);
    for (name, plan) in db.explain_hot_statements(&app, &endpoints[3], &msg).await.unwrap() {
        for table in ["attempts", "deliveries", "messages"] {
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "{name} scans {table}:\n{plan}"
            );
        }
        assert!(plan.contains("Index"), "{name} uses no index:\n{plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn nodes_started_together_migrate_once() {
    let url = fresh_postgres_database().expect("HOOKD_TEST_DATABASE_URL is set");
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut env = NODE_ENV.to_vec();
                env.push(("HOOKD_DATABASE_URL", &url));
                Server::spawn(&env)
            })
        })
        .collect();
    let nodes: Vec<Server> = starts
        .into_iter()
        .map(|t| t.join().expect("every node starts"))
        .collect();
    let app = nodes[1].admin().app("together").await;
    for n in &nodes {
        assert_eq!(n.admin().get(&format!("/api/v1/app/{app}")).await.status, 200);
    }
    let out = std::process::Command::new("psql")
        .args([url.as_str(), "-tAc", "SELECT count(*) FROM _sqlx_migrations"])
        .output()
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        migrations.to_string(),
        "each migration ran once"
    );
}

/// Each node answers applications from memory, and a change made through
/// another node reaches it: a uid moved, then the application deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn application_changes_reach_every_node() {
    let first = Server::spawn(&NODE_ENV);
    let second = Server::join(&first, &NODE_ENV);
    let (one, two) = (first.admin(), second.admin());
    let id = one.app("moving").await;
    // The second node looks it up by uid, and remembers it.
    for _ in 0..2 {
        let r = two.get("/api/v1/app/moving").await;
        assert_eq!((r.status, r.body["id"].as_str()), (200, Some(id.as_str())));
        two.publish("moving", json!({"eventType": "x", "payload": {}})).await;
    }
    let r = one
        .put(&format!("/api/v1/app/{id}"), json!({"name": "moved", "uid": "moved"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    two.wait_for("/api/v1/app/moving", |b| b["code"] == "not_found").await;
    let r = two.get("/api/v1/app/moved").await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("moved")));

    assert_eq!(one.delete(&format!("/api/v1/app/{id}")).await.status, 204);
    two.wait_for(&format!("/api/v1/app/{id}"), |b| b["code"] == "not_found")
        .await;
    let r = two
        .post(
            &format!("/api/v1/app/{id}/msg"),
            json!({"eventType": "x", "payload": {}}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn a_node_restarted_after_kill_9_takes_its_own_leases_back_at_once() {
    // Leases far longer than the test: only the node taking its own back can
    // bring the work back in time.
    let env = [("HOOKD_LEASE", "300"), NODE_ENV[3]];
    let mut node = Server::spawn(&env);
    let rx = Receiver::start().await;
    rx.on(
        "/held",
        Behaviour {
            delay: Duration::from_millis(1500),
            ..Default::default()
        },
    );
    let c = node.admin();
    let app = c.app("restart").await;
    c.endpoint(&app, json!({"url": format!("{}/held", rx.url)})).await;
    let mut published = HashSet::new();
    for n in 0..8 {
        let m = c.publish(&app, json!({"eventType": "t", "payload": {"n": n}})).await;
        published.insert(m["id"].as_str().unwrap().to_owned());
    }
    // Stored leased to this node and under way at the receiver, which holds
    // each request longer than this takes: none has been answered.
    node.kill();
    assert!(rx.all().is_empty(), "killed before any answer");
    node.restart();
    let restarted = std::time::Instant::now();
    rx.wait_until(|log| {
        let got: HashSet<&str> = log.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
        published.iter().all(|id| got.contains(id.as_str()))
    })
    .await;
    let took = rx.all().iter().map(|r| r.at).max().unwrap() - restarted;
    println!("restart to the last arrival: {took:?} (leases of 300 s)");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn a_node_stopped_by_sigterm_hands_its_work_to_the_others_at_once() {
    // Leases far longer than the test: only the stopping node handing its
    // work back lets the other take it in time.
    let env = [("HOOKD_LEASE", "300"), ("HOOKD_ENDPOINT_CONCURRENCY", "1"), NODE_ENV[3]];
    let mut a = Server::spawn(&env);
    let b = Server::join(&a, &env);
    let rx = Receiver::start().await;
    rx.on(
        "/one-at-a-time",
        Behaviour {
            delay: Duration::from_millis(300),
            ..Default::default()
        },
    );
    let c = a.admin();
    let app = c.app("handover").await;
    c.endpoint(&app, json!({"url": format!("{}/one-at-a-time", rx.url)}))
        .await;
    let mut published = HashSet::new();
    for n in 0..12 {
        let m = c.publish(&app, json!({"eventType": "t", "payload": {"n": n}})).await;
        published.insert(m["id"].as_str().unwrap().to_owned());
    }
    // Node a stored them leased to itself and sends them one at a time.
    rx.wait_arrived("/one-at-a-time", 1).await;
    a.signal_term();
    assert!(a.wait_exit().success(), "exit 0 on SIGTERM");
    let stopped = std::time::Instant::now();
    rx.wait_until(|log| {
        let got: HashSet<&str> = log.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
        published.iter().all(|id| got.contains(id.as_str()))
    })
    .await;
    let took = rx.all().iter().map(|r| r.at).max().unwrap() - stopped;
    println!("sigterm hand-over: the other node delivered the rest within {took:?} (leases of 300 s)");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(
        duplicates(&rx.all()),
        0,
        "an attempt finished at the stopping node is not repeated"
    );
    drop(b);
}

/// The requests that arrived more than once at `rx`, split by cause: the
/// first was under way at the receiver when its node was killed (not
/// answered before the kill: it must be sent again), or it had been answered
/// and the node died before storing the answer.
fn duplicates_around(rx: &Receiver, kill: std::time::Instant) -> (usize, usize) {
    let log = rx.all();
    let answered: HashSet<(&str, &str)> = log
        .iter()
        .filter(|r| r.at < kill)
        .map(|r| (r.path.as_str(), r.headers["webhook-id"].as_str()))
        .collect();
    let arrivals = rx.arrivals();
    let mut times: HashMap<(&str, &str), usize> = HashMap::new();
    for (path, id, _) in &arrivals {
        *times.entry((path.as_str(), id.as_str())).or_default() += 1;
    }
    let (mut in_flight, mut lost_answers) = (0, 0);
    for (key, n) in times.into_iter().filter(|(_, n)| *n > 1) {
        match answered.contains(&key) {
            true => lost_answers += n - 1,
            false => in_flight += n - 1,
        }
    }
    (in_flight, lost_answers)
}

/// The measurement: three nodes with the default lease, 3,000
/// messages to 5 endpoints that hold each request 20 ms, one node killed -9
/// and restarted while publishing. Everything arrives within 10 s of the
/// restart; duplicates are counted by cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn kill_9_and_restart_under_load_recovers_within_seconds() {
    let Cluster {
        mut nodes,
        rx,
        app,
        paths,
        clients,
        ..
    } = Cluster::start(&[NODE_ENV[3]], 5, Duration::from_millis(20)).await;
    let publishing = {
        let (clients, app) = (clients.clone(), app.clone());
        tokio::spawn(async move { publish(&clients, &app, 3000, 0, true).await })
    };
    rx.wait_until(|log| log.len() >= 3000).await;
    let kill = std::time::Instant::now();
    nodes[1].kill();
    nodes[1].restart();
    let restarted = std::time::Instant::now();
    let accepted = publishing.await.unwrap();
    rx.wait_until(|log| all_delivered(log, &paths, &accepted)).await;
    let log = rx.all();
    let last = log.iter().map(|r| r.at).max().unwrap();
    let (in_flight, answered) = duplicates_around(&rx, kill);
    println!(
        "kill -9 under load: {} messages accepted, {} deliveries, last arrival {:?} after the restart; \
         duplicates: {in_flight} under way at the receiver at the kill, {answered} answered before it",
        accepted.len(),
        log.len(),
        last.saturating_duration_since(restarted),
    );
    assert!(accepted.len() >= 2990, "{}", accepted.len());
    assert!(
        last.saturating_duration_since(restarted) < Duration::from_secs(10),
        "{:?}",
        last - restarted
    );
    // Before node identities and patience-free outcomes on PostgreSQL: 44 to
    // 75 duplicates. Those under way at the kill must be sent again; answers
    // are lost only while their commit is under way (a few milliseconds).
    assert!(in_flight + answered < 75, "{in_flight} + {answered} duplicates");
    assert!(answered <= 30, "{answered} answers lost with the killed node");
}
