//! The API's error type and its mapping to HTTP status codes and contract error codes.
//!
//! Every failure a handler can produce is one of these variants; this file is the only place
//! that decides which status and `error.code` a client sees. Internal details (SQL error text,
//! storage failures) are logged with the request id and never sent to the client.

use hyper::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad request input; `field` names what was wrong.
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("the request body was not received in time")]
    RequestTimeout,

    #[error("missing API key: send `Authorization: Bearer altus4_sk_...`")]
    NoApiKey,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("missing bearer token: send `Authorization: Bearer <token>` from login")]
    NoToken,
    #[error("invalid or expired token")]
    InvalidToken,
    /// A wrong password. `account` is the account it was tried against, when one exists: for the
    /// audit trail (its owner sees the attempt), never for the client.
    #[error("invalid email or password")]
    InvalidCredentials { account: Option<String> },
    #[error("this action requires the `{required}` permission")]
    InsufficientPermissions { required: &'static str },
    /// The client address is blocked after repeated failed authentications.
    #[error("this address is blocked after repeated failed authentications; retry in {retry_after_secs} seconds")]
    IpBlocked { retry_after_secs: u64 },
    /// Input shaped like an SQL injection probe (refused when so configured).
    #[error("`{field}` looks like an SQL injection probe and was refused")]
    SuspiciousInput { field: &'static str, shape: &'static str },

    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("route not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("a user with this email already exists")]
    UserExists,
    #[error("this account already has an API key; manage keys with /api/v1/keys")]
    ApiKeyExists,

    /// The tenant's database could not be reached or answered with an error.
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// A database could not be connected to while registering it.
    #[error("could not connect to the database: {0}")]
    ConnectionFailed(String),
    /// A search the tenant's database refused (e.g. a query it cannot parse).
    #[error("{0}")]
    SearchFailed(String),
    /// An internal actor did not answer in time; the text is logged, never sent.
    #[error("the server is busy, retry shortly")]
    Busy(String),
    /// Refused by a rate limit; everything the 429 and its headers need.
    #[error("Rate limit exceeded. Try again in {retry_after_secs} seconds.")]
    RateLimited { limit: u32, remaining: u32, reset_time: String, retry_after_secs: u64, tier: String },
    /// Anything unexpected. The text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Validation { .. } | MalformedJson(_) | SearchFailed(_) | ConnectionFailed(_) | SuspiciousInput { .. } => {
                StatusCode::BAD_REQUEST
            }
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            NoApiKey | InvalidApiKey | NoToken | InvalidToken | InvalidCredentials { .. } => StatusCode::UNAUTHORIZED,
            InsufficientPermissions { .. } | IpBlocked { .. } => StatusCode::FORBIDDEN,
            NotFound { .. } | RouteNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            UserExists | ApiKeyExists => StatusCode::CONFLICT,
            DatabaseUnavailable(_) | Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's `error.code`.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Validation { .. } | MalformedJson(_) | SuspiciousInput { .. } => "VALIDATION_ERROR",
            PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            RequestTimeout => "REQUEST_TIMEOUT",
            NoApiKey => "NO_API_KEY",
            InvalidApiKey => "INVALID_API_KEY",
            NoToken => "NO_TOKEN",
            InvalidToken => "INVALID_TOKEN",
            InvalidCredentials { .. } => "INVALID_CREDENTIALS",
            InsufficientPermissions { .. } => "INSUFFICIENT_PERMISSIONS",
            IpBlocked { .. } => "IP_BLOCKED",
            NotFound { .. } | RouteNotFound => "NOT_FOUND",
            MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            UserExists => "USER_EXISTS",
            ApiKeyExists => "API_KEY_EXISTS",
            DatabaseUnavailable(_) => "DATABASE_UNAVAILABLE",
            SearchFailed(_) => "SEARCH_FAILED",
            ConnectionFailed(_) => "CONNECTION_FAILED",
            Busy(_) => "SERVICE_BUSY",
            RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The client-facing message: internal errors are replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal server error".into(),
            other => other.to_string(),
        }
    }

    /// Seconds to put in `Retry-After`, for refusals that end by themselves.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::IpBlocked { retry_after_secs } | ApiError::RateLimited { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The contract's `error.details`, when there is something structured to say.
    pub fn details(&self) -> Option<Value> {
        match self {
            ApiError::Validation { field, .. } => Some(json!({ "field": field })),
            ApiError::InsufficientPermissions { required } => Some(json!({ "required": [required] })),
            ApiError::PayloadTooLarge { limit } => Some(json!({ "limitBytes": limit })),
            ApiError::IpBlocked { retry_after_secs } => Some(json!({ "retryAfter": retry_after_secs })),
            ApiError::SuspiciousInput { field, shape } => Some(json!({ "field": field, "reason": "suspicious", "shape": shape })),
            ApiError::RateLimited { limit, remaining, reset_time, retry_after_secs, tier } => Some(json!({
                "limit": limit,
                "remaining": remaining,
                "resetTime": reset_time,
                "retryAfter": retry_after_secs,
                "tier": tier,
            })),
            _ => None,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        // A write that referenced an account deleted meanwhile (a request racing the deletion).
        if let crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) = &e {
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                return ApiError::NotFound { what: "account" };
            }
        }
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = ApiError::internal("near 'DROP TABLE' at line 1");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.public_message().contains("DROP"));
    }

    #[test]
    fn permission_errors_name_the_required_permission() {
        let e = ApiError::InsufficientPermissions { required: "search" };
        assert_eq!(e.code(), "INSUFFICIENT_PERMISSIONS");
        assert_eq!(e.details().unwrap()["required"][0], "search");
    }
}
