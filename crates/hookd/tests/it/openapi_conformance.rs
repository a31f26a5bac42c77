//! The served OpenAPI document against the server, by schemathesis with
//! every check: requests the document allows must be accepted, those it
//! forbids refused, every answer documented, every link followed.
//! `tests/schemathesis/` holds its configuration (the few rules a JSON
//! Schema cannot state, each explained) and the strategies for the formats
//! hookd names (regular expressions, PEM certificates).

use std::path::PathBuf;

use crate::harness::{Receiver, Server, TestCa};

/// Examples per operation and phase: enough to reach every constraint's
/// edges, few enough for a few minutes.
const EXAMPLES: &str = "10";

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_the_document_and_the_server_agree() {
    // Deliveries go to `rx` (see `hookd_formats.py`), over loopback.
    let s = Server::start(&[("HOOKD_ALLOW_NETWORKS", "127.0.0.0/8")]);
    let rx = Receiver::start().await;
    let ca = TestCa::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    // `scripts/test` installs schemathesis beside the browser tests' Playwright.
    let tool = match std::env::var("HOOKD_TEST_PYTHON") {
        Ok(python) => PathBuf::from(python).with_file_name("schemathesis"),
        Err(_) => PathBuf::from("schemathesis"),
    };
    // A fixed seed, so that CI runs the same requests; another explores.
    let seed = std::env::var("HOOKD_TEST_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let out = tokio::process::Command::new(&tool)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("{}/api/v1/openapi.json", s.url)])
        .args(["-H", &format!("Authorization: Bearer {}", s.token)])
        .args([
            "--checks",
            "all",
            "--max-examples",
            EXAMPLES,
            "--workers",
            "2",
            "--seed",
            &seed,
        ])
        .env("PYTHONPATH", &dir)
        .env("SCHEMATHESIS_HOOKS", "hookd_formats")
        .env("HOOKD_ST_RECEIVER", &rx.url)
        .env("HOOKD_ST_URL_PATTERN", hookd::api::openapi_rules::URL)
        .env("HOOKD_ST_CA_PEM", &ca.ca_pem)
        .env("HOOKD_ST_IDENTITY_PEM", ca.client_identity())
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} runs (`scripts/test` installs it): {e}", tool.display()));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation was tried: a document that failed to load would test nothing.
    assert!(log.contains("operations") && !log.contains("0 selected"), "{log}");
}
