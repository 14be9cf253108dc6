//! Prometheus metrics on `--metrics ADDR:PORT`: GET /metrics answers the
//! text exposition format 0.0.4.
//!
//! [`render`] turns a snapshot of the stages' views and counters into the
//! text (pure); [`process`] reads the process's own figures from /proc;
//! [`http`] is the little of HTTP the endpoint speaks (pure); [`server`]
//! serves it, bounded; [`Sources`] gathers a snapshot in the daemon. Every
//! scrape is rendered from the views as they are then, so a neighbour that
//! is gone has no series. The metric names are listed in README.md
//! ("Metrics").

pub mod http;
pub mod process;
pub mod render;
pub mod server;

use std::time::Duration;

use crate::control::{self, Views};
use crate::fib::FibHandle;

pub use render::{ControlClients, Snapshot, render};
pub use server::{Limits, Scrape, bind, serve, serve_with};

/// How long a scrape waits for each stage's view; a stage later than this
/// is left out of the scrape (`ndbgp_metrics_source_up` 0). Below
/// Prometheus's default scrape timeout of 10 s.
const VIEW_DEADLINE: Duration = Duration::from_secs(2);

/// Where the daemon's scrapes come from: the stages' handles (the views
/// `ndbgpctl` shows) and the counters the routes and FIB tasks publish.
#[derive(Clone)]
pub struct Sources {
    pub handles: control::Handles,
    pub fib: FibHandle,
}

impl Scrape for Sources {
    async fn scrape(&self) -> String {
        let neighbors = tokio::time::timeout(VIEW_DEADLINE, self.handles.neighbors());
        let interfaces = tokio::time::timeout(VIEW_DEADLINE, self.handles.interfaces());
        let process = tokio::task::spawn_blocking(process::read);
        let (neighbors, interfaces, process) = tokio::join!(neighbors, interfaces, process);
        let clients = &self.handles.clients;
        render(&Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            neighbors: neighbors.ok().and_then(Result::ok),
            interfaces: interfaces.ok().and_then(Result::ok),
            rib: self.handles.routes.selected_counts(),
            fib: self.fib.stats(),
            control: ControlClients {
                connected: clients.connected(),
                accepted: clients.accepted(),
                refused: clients.refused(),
            },
            process: process.ok().flatten(),
        })
    }
}
