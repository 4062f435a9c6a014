//! The HTTP endpoint Prometheus scrapes: `GET /metrics` on the address of `--metrics`, served
//! by hyper (HTTP/1.1) on the watch's runtime. OpenMetrics when the scraper asks for it in
//! `Accept` (Prometheus does), else the classic text format (curl, promtool).
use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode, body::Incoming, header, server::conn::http1, service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinHandle};

use super::Metrics;
use crate::error::{Error, Result};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Listens on `addr` (a usage error when that fails: a bad or taken address), then serves
/// until the returned task is aborted.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot serve metrics on {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    log::info!("metrics: accept failed: {e}");
                    continue;
                }
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    log::debug!("metrics: connection: {e}");
                }
            });
        }
    });
    Ok((bound, task))
}

fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = kind.parse() {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET /metrics\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let openmetrics = accept.contains("application/openmetrics-text");
            let kind = if openmetrics {
                OPENMETRICS
            } else {
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE
            };
            reply(StatusCode::OK, kind, metrics.encode(openmetrics))
        }
        "/" => reply(StatusCode::OK, "text/plain", "dockernet-trace watch: metrics at /metrics\n".into()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found; metrics are at /metrics\n".into()),
    }
}
