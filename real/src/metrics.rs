//! `GET /metrics` over HTTP/1.1 (axum) for the duration of a run: the
//! three breakers of one client rendered by `breakwater-prometheus`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use breakwater_mqtt::Breakers;
use breakwater_prometheus::prometheus_client::registry::Registry;
use breakwater_prometheus::{render, BreakerCollector};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::RealError;

/// A running metrics endpoint; [`MetricsServer::shutdown`] stops it.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and serves `breakers`' metrics at `/metrics`.
    pub(crate) async fn start(addr: SocketAddr, breakers: &Breakers) -> Result<Self, RealError> {
        let mut collector = BreakerCollector::new();
        for breaker in breakers.all() {
            collector
                .add(breaker.clone())
                .map_err(|error| RealError::Options {
                    field: "breakers",
                    rule: format!("must have distinct names to be exposed as metrics: {error}"),
                })?;
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let registry = Arc::new(registry);
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let registry = Arc::clone(&registry);
                async move {
                    (
                        [(CONTENT_TYPE, breakwater_prometheus::CONTENT_TYPE)],
                        render(&registry),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RealError::Metrics { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| RealError::Metrics { addr, source })?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = signal.await;
                })
                .await
        });
        Ok(MetricsServer {
            addr: bound,
            shutdown,
            task,
        })
    }

    /// The address it listens on (with the port the OS picked).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for open requests to finish.
    pub(crate) async fn shutdown(self) {
        let _ = self.shutdown.send(());
        // A scrape that hangs must not hang the run: its connection is
        // dropped with the task if it takes longer than this.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.task).await;
    }
}
