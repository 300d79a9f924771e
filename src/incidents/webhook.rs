//! Incident notifications: each incident is POSTed as JSON to the operator's webhook, from its
//! own task with a timeout, so a slow or dead receiver never holds up the responder.

use std::time::Duration;

use serde_json::Value;

/// Posts incidents to one URL.
#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Webhook {
    const TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(url: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("incidents.webhook_url: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            // A receiver must not bounce notifications elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("altus4/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Self { client, url })
    }

    /// Sends `incident` in the background; failures are logged, not retried.
    pub fn notify(&self, incident: Value) {
        let (client, url) = (self.client.clone(), self.url.clone());
        tokio::spawn(async move {
            match client.post(url).json(&incident).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(target: "security", status = r.status().as_u16(), "incident webhook refused the notification"),
                Err(e) => tracing::warn!(target: "security", error = %e.without_url(), "incident webhook unreachable"),
            }
        });
    }
}
