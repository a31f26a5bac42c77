//! Integration tests: hookd over HTTP, in this process or as the binary (see `harness`).

mod harness;

mod api_applications;
mod api_auth;
mod api_endpoints;
mod api_event_types;
mod api_messages;
mod brokers;
mod cli;
mod cluster;
mod console;
mod contracts;
mod delivery;
mod durability;
mod metrics;
mod openapi_conformance;
mod operational;
mod ordering;
mod otlp;
mod replay;
mod routing;
mod security;
mod svix_sdk;
mod transactional;
mod transformation;
