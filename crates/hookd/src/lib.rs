//! hookd: a webhook delivery server. See ARCHITECTURE.md for the map.

pub mod api;
pub mod background;
pub mod cli;
pub mod config;
pub mod console;
pub mod contracts;
pub mod delivery;
pub mod filter;
pub mod ids;
pub mod log_limit;
pub mod logging;
pub mod metrics;
pub mod openapi_webhooks;
pub mod operational;
pub mod retention;
pub mod routing;
pub mod security;
pub mod server;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod time;
