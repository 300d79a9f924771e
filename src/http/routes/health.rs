//! `GET /health`: liveness, answered without touching storage.

use serde_json::json;

use crate::app::App;
use crate::http::envelope::{Reply, API_VERSION};

pub fn health(app: &App) -> Reply {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // The reference shows these fields at the top level; the envelope carries them in `data` too.
    Reply::flat(json!({
        "status": "healthy",
        "timestamp": timestamp,
        "version": API_VERSION,
        "uptime": app.started.elapsed().as_secs_f64(),
    }))
}
