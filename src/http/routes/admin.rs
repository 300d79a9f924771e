//! Operator actions for admins: `POST /api/v1/admin/reload` re-reads the configuration file's
//! rate-limit tiers (the same as SIGHUP or `altus4 reload`).

use serde_json::json;

use crate::app::App;
use crate::error::ApiError;
use crate::http::envelope::Reply;

pub fn reload(app: &App) -> Result<Reply, ApiError> {
    let tiers = app.reload_tiers().map_err(|e| ApiError::validation("config", e))?;
    tracing::info!(target: "security", event = "config_reloaded", ?tiers, "rate-limit tiers reloaded");
    Ok(Reply::ok(json!({ "reloaded": true, "tiers": tiers })))
}
