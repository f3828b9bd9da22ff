//! switchyard: a TLS-intercepting forward proxy and AI gateway.
//!
//! The modules follow the path of a request:
//! [`server`] accepts connections; [`proxy`] dispatches CONNECT (to
//! [`proxy::intercept`] or [`proxy::tunnel`]), plain http:// and origin-form
//! requests; [`gateway`] runs the pipeline (classify → route → convert →
//! forward → convert back → audit) using [`providers`] and [`upstream`];
//! [`audit`] writes the trail, with [`pricing`]'s cost; [`websocket`]
//! relays WebSocket upgrades.
//! [`ca`] owns the local CA, [`config`] the settings, [`cli`] the command
//! line. A fleet of replicas shares credential limits through Redis
//! ([`cluster`], used by [`pool`]) and audits into PostgreSQL as well
//! ([`audit::postgres`]).

pub mod access;
pub mod admin;
pub mod app;
pub mod audit;
pub mod body;
pub mod boxed;
pub mod bridge;
pub mod ca;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod errors;
pub mod gateway;
pub mod headers;
pub mod live;
pub mod metrics;
pub mod pool;
pub mod pricing;
pub mod protocol;
pub mod providers;
pub mod proxy;
pub mod reload;
pub mod routing;
pub mod secret;
pub mod server;
pub mod sse;
pub mod status;
pub mod tcp;
pub mod tls;
pub mod upstream;
pub mod websocket;
