//! FIFO endpoints: deliveries go out one at a time in the order messages
//! were accepted, a failing one holding back the rest, per ordering key;
//! across a restart, and across two nodes on PostgreSQL.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::harness::{Behaviour, Client, Receiver, Server};

/// A receiver path that fails one request in five.
fn one_in_five_fails() -> Behaviour {
    Behaviour {
        statuses: (0..2000).map(|i| if i % 5 == 4 { 500 } else { 200 }).collect(),
        ..Default::default()
    }
}

/// `publishers` clients each publish `each` messages one after another (the
/// next once the last was accepted), `{"publisher": p, "n": i, "customer": c}`;
/// answers each message id's (publisher, n).
async fn publish_from(
    clients: &[Client],
    app: &str,
    publishers: usize,
    each: usize,
    from: usize,
) -> HashMap<String, (usize, usize)> {
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let c = clients[p % clients.len()].clone();
        let app = app.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in from..from + each {
                let m = c
                    .publish(
                        &app,
                        json!({"eventType": "order.updated", "payload": {"publisher": p, "n": n}}),
                    )
                    .await;
                ids.push((m["id"].as_str().unwrap().to_owned(), (p, n)));
            }
            ids
        }));
    }
    let mut all = HashMap::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Checks what reached `path`, in arrival order: each message's attempts in
/// one run (none of another message in between), each publisher's messages in
/// the order it published them, every message there.
fn assert_in_order(rx: &Receiver, path: &str, sent: &HashMap<String, (usize, usize)>) {
    let arrivals: Vec<String> = rx
        .arrivals()
        .into_iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, id, _)| id)
        .collect();
    let mut runs: Vec<&String> = Vec::new();
    for id in &arrivals {
        if runs.last() != Some(&id) {
            runs.push(id);
        }
    }
    let distinct: HashSet<&String> = runs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        runs.len(),
        "a message came back after another one went: {runs:?}"
    );
    assert_eq!(distinct.len(), sent.len(), "every message arrived");
    let mut last: HashMap<usize, usize> = HashMap::new();
    for id in runs {
        let (p, n) = sent[id];
        if let Some(before) = last.insert(p, n) {
            assert!(before < n, "publisher {p}: {n} went after {before}");
        }
    }
}

async fn fifo_endpoint(c: &Client, rx: &Receiver, app: &str, path: &str, extra: Value) -> String {
    let mut body =
        json!({"url": format!("{}{path}", rx.url), "ordering": "fifo", "retrySchedule": [0.05, 0.05, 0.05, 0.05]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let ep = c.endpoint(app, body).await;
    assert_eq!(ep["ordering"], "fifo", "{ep}");
    ep["id"].as_str().unwrap().to_owned()
}

/// Waits until every message of `sent` succeeded at the endpoint.
async fn all_succeeded(c: &Client, app: &str, ep: &str, n: usize) {
    c.wait_for(
        &format!("/api/v1/app/{app}/endpoint/{ep}/msg?status=0&limit=250"),
        |b| b["data"].as_array().is_some_and(|d| d.len() >= n),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_endpoint_gets_messages_in_order_one_at_a_time_across_a_restart() {
    let mut s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on("/fifo", one_in_five_fails());
    let c = s.admin();
    let app = c.app("ordered").await;
    let ep = fifo_endpoint(&c, &rx, &app, "/fifo", json!({})).await;

    let mut sent = publish_from(std::slice::from_ref(&c), &app, 4, 10, 0).await;
    rx.wait("/fifo", 12).await;
    s.restart();
    let c = s.admin();
    sent.extend(publish_from(std::slice::from_ref(&c), &app, 4, 10, 10).await);
    all_succeeded(&c, &app, &ep, sent.len()).await;
    assert_in_order(&rx, "/fifo", &sent);
    let failed = rx.requests("/fifo").len() - sent.len();
    assert!(
        failed >= 10,
        "one attempt in five failed and was retried in place ({failed})"
    );

    // A test attempt takes its turn too, and answers with it.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{ep}/msg/test-attempt"),
            json!({"eventType": "order.updated", "payload": {"test": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordering_key_keeps_one_order_per_key() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    // Customer `slow`'s receiver fails its first five requests; `fast`'s does not.
    rx.on(
        "/keyed/slow",
        Behaviour {
            statuses: vec![500, 500, 500, 500, 500, 200],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("keyed").await;
    let ep = fifo_endpoint(
        &c,
        &rx,
        &app,
        "/keyed/{eventType}",
        json!({"orderingKey": "customer.id", "retrySchedule": [0.3, 0.3, 0.3, 0.3, 0.3]}),
    )
    .await;
    let mut ids = HashMap::new();
    for n in 0..5 {
        for customer in ["slow", "fast"] {
            let m = c
                .publish(
                    &app,
                    json!({"eventType": customer, "payload": {"customer": {"id": customer}, "n": n}}),
                )
                .await;
            ids.insert(m["id"].as_str().unwrap().to_owned(), (0, n));
        }
    }
    // `fast` is done while `slow`'s first message is still being retried.
    rx.wait("/keyed/fast", 5).await;
    let slow: Vec<String> = rx
        .arrivals()
        .into_iter()
        .filter(|(p, _, _)| p == "/keyed/slow")
        .map(|(_, id, _)| id)
        .collect();
    assert!(
        slow.iter().all(|id| id == &slow[0]),
        "only the first of `slow` was tried: {slow:?}"
    );
    all_succeeded(&c, &app, &ep, 10).await;
    for path in ["/keyed/slow", "/keyed/fast"] {
        let of_path: HashMap<String, (usize, usize)> = rx
            .arrivals()
            .into_iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, id, _)| (id.clone(), ids[&id]))
            .collect();
        assert_eq!(of_path.len(), 5);
        assert_in_order(&rx, path, &of_path);
    }

    // An ordering key is a dotted path.
    for bad in ["", "a..b", ".a", "a."] {
        let body = json!({"url": format!("{}/x", rx.url), "ordering": "fifo", "orderingKey": bad});
        let r = c.post(&format!("/api/v1/app/{app}/endpoint"), body).await;
        let field = r.body["detail"][0]["loc"][1].as_str();
        assert_eq!((r.status, field), (422, Some("orderingKey")), "{bad}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run by scripts/test when HOOKD_TEST_DATABASE_URL is set"]
async fn two_nodes_keep_one_fifo_order() {
    // Nodes of one cluster share the key that seals secrets.
    let env = [("HOOKD_MAIN_KEY", "b3JkZXJpbmctdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2Q=")];
    let first = Server::start(&env);
    let second = Server::join(&first, &env);
    let rx = Receiver::start().await;
    rx.on("/fifo", one_in_five_fails());
    let c = first.admin();
    let app = c.app("clustered").await;
    let ep = fifo_endpoint(&c, &rx, &app, "/fifo", json!({})).await;
    let sent = publish_from(&[c.clone(), second.admin()], &app, 4, 15, 0).await;
    all_succeeded(&c, &app, &ep, sent.len()).await;
    assert_in_order(&rx, "/fifo", &sent);
}
