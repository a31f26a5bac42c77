//! Transactional webhooks: publishing that waits for first attempts, and
//! cancelling what a rolled-back operation left pending.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Behaviour, Receiver, Server};

fn answering(statuses: &[u16]) -> Behaviour {
    Behaviour {
        statuses: statuses.to_vec(),
        ..Default::default()
    }
}

fn status_of<'a>(wait: &'a Value, ep: &str) -> &'a Value {
    wait["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpointId"] == ep)
        .unwrap_or_else(|| panic!("{ep} not in {wait}"))
}

#[tokio::test]
async fn publishing_can_wait_for_first_attempts_and_cancel_the_rest() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("auth").await;
    let ok = c
        .endpoint(&app, json!({"url": format!("{}/ok", rx.url), "uid": "ok"}))
        .await;
    let ok = ok["id"].as_str().unwrap().to_string();
    let bad = c
        .endpoint(
            &app,
            json!({"url": format!("{}/bad", rx.url), "retrySchedule": [1, 1, 1]}),
        )
        .await;
    let bad = bad["id"].as_str().unwrap().to_string();
    rx.on("/bad", answering(&[500]));

    let user_delete = json!({"eventType": "user.delete", "payload": {"user": "u1"}});
    let r = c
        .post(&format!("/api/v1/app/{app}/msg?wait=all"), user_delete.clone())
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let wait = &r.body["wait"];
    assert_eq!(wait["policy"], "all");
    assert_eq!(wait["met"], false, "{wait}");
    assert_eq!(wait["complete"], true);
    assert_eq!(status_of(wait, &ok)["status"], "success");
    assert_eq!(status_of(wait, &ok)["uid"], "ok");
    assert_eq!(status_of(wait, &ok)["statusCode"], 200);
    assert_eq!(status_of(wait, &bad)["status"], "fail");
    assert_eq!(status_of(wait, &bad)["statusCode"], 500);
    assert!(
        status_of(wait, &bad)["attemptId"]
            .as_str()
            .unwrap()
            .starts_with("atmpt_")
    );
    let rolled_back = r.body["id"].as_str().unwrap().to_string();
    // By the answer, both first attempts have happened.
    assert_eq!(rx.requests("/ok").len(), 1);
    assert_eq!(rx.requests("/bad").len(), 1);

    // The producer rolls back: the failed delivery's retries are cancelled.
    let r = c
        .post(&format!("/api/v1/app/{app}/msg/{rolled_back}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["canceled"], 1);
    let r = c.get(&format!("/api/v1/app/{app}/msg/{rolled_back}/endpoint")).await;
    let states: Vec<(String, i64)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_string(), e["status"].as_i64().unwrap()))
        .collect();
    assert!(states.contains(&(bad.clone(), 4)), "canceled: {states:?}");
    assert!(states.contains(&(ok.clone(), 0)), "success stays: {states:?}");

    // `any` is met by one success. This message is not cancelled: its four
    // attempts at /bad end well after the cancelled one's retries would all
    // have been due, so by then the cancelled one must still have come once.
    let r = c
        .post(&format!("/api/v1/app/{app}/msg?wait=any"), user_delete.clone())
        .await;
    assert_eq!(
        (r.body["wait"]["met"].as_bool(), r.body["wait"]["complete"].as_bool()),
        (Some(true), Some(true))
    );
    let kept = r.body["id"].as_str().unwrap().to_string();
    let ids: Vec<String> = rx
        .wait("/bad", 5)
        .await
        .into_iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.iter().filter(|id| **id == kept).count(), 4, "{ids:?}");
    assert_eq!(ids.iter().filter(|id| **id == rolled_back).count(), 1, "{ids:?}");
    let r = c
        .post(&format!("/api/v1/app/{app}/msg/{rolled_back}/cancel"), json!({}))
        .await;
    assert_eq!(r.body["canceled"], 0, "nothing left to cancel");
}

#[tokio::test]
async fn a_wait_times_out_with_what_is_known() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("auth").await;
    let slow = c.endpoint(&app, json!({"url": format!("{}/slow", rx.url)})).await;
    let fast = c.endpoint(&app, json!({"url": format!("{}/fast", rx.url)})).await;
    rx.on(
        "/slow",
        Behaviour {
            statuses: vec![200],
            delay: Duration::from_secs(3),
            ..Default::default()
        },
    );
    let body = json!({"eventType": "user.delete", "payload": {}});
    let r = c
        .post(
            &format!("/api/v1/app/{app}/msg?wait=all&wait_timeout=0.5"),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let wait = &r.body["wait"];
    assert_eq!(
        (wait["met"].as_bool(), wait["complete"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(status_of(wait, slow["id"].as_str().unwrap())["status"], "pending");
    assert_eq!(status_of(wait, fast["id"].as_str().unwrap())["status"], "success");
    // The message is stored and delivered all the same.
    rx.wait("/slow", 1).await;

    // Bad waits are refused before anything is stored.
    for q in ["wait=some", "wait=all&wait_timeout=0", "wait=all&wait_timeout=600"] {
        let r = c.post(&format!("/api/v1/app/{app}/msg?{q}"), body.clone()).await;
        assert_eq!(r.status, 422, "{q}: {}", r.body);
    }
    let later = json!({"eventType": "user.delete", "payload": {}, "deliverAt": "2099-01-01T00:00:00Z"});
    let r = c.post(&format!("/api/v1/app/{app}/msg?wait=all"), later).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = c.get(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    // With nothing subscribed, `all` is met and `any` is not.
    let other = c.app("nobody").await;
    let r = c.post(&format!("/api/v1/app/{other}/msg?wait=all"), body.clone()).await;
    assert_eq!(
        r.body["wait"],
        json!({"policy": "all", "met": true, "complete": true, "endpoints": []})
    );
    let r = c.post(&format!("/api/v1/app/{other}/msg?wait=any"), body).await;
    assert_eq!(r.body["wait"]["met"], false);
    let r = c
        .post(&format!("/api/v1/app/{other}/msg/msg_nope/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 404);
}
