//! The one error of the core: what went wrong, in terms every surface can map to its own
//! envelope (the native API's, Meta's error object, a vendor's shape, the CLI's message).
//! It never carries an HTTP status; that is each surface's choice, made once.

use openbsp_store::StoreError;
use openbsp_wire::MetaError;
use openbsp_wire::template::TemplateError;

/// Why a core operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No such object for this tenant (also another tenant's: never a leak).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, for a person (`channel 1234`, `session ses_…`).
        what: String,
        /// The identifier the caller gave.
        id: String,
    },
    /// The operation conflicts with the state of things.
    #[error("{message}")]
    Conflict {
        /// Which conflict (`conflict`, `session_closed`, …), stable for machines.
        code: &'static str,
        /// What conflicts, for a person.
        message: String,
    },
    /// The `Idempotency-Key` was first used for a different request.
    #[error("the idempotency key was used for a different request (message {first})")]
    KeyReused {
        /// The message the key created.
        first: String,
    },
    /// A reply context or a read receipt names a message that has no `wamid` yet.
    #[error("message {0} has no wamid yet")]
    NotSent(String),
    /// Meta refuses the send, or would (the gateway applies Meta's rules first): validation,
    /// the windows (131047), the opt-out (131050), Meta's own answer.
    #[error("refused: {}", .0.message)]
    Refused(MetaError),
    /// A template operation or a template's parameters break one of Meta's rules, checked
    /// by the gateway (with the rule and the field).
    #[error("{}: {}", .0.field, .0.message)]
    TemplateRule(TemplateError),
    /// Meta refuses a template operation (or the gateway, answering as Meta would).
    #[error("refused: {}", .0.message)]
    TemplateRefused(MetaError),
    /// The input is invalid.
    #[error("{message}")]
    Invalid {
        /// The field at fault, where one is.
        field: Option<&'static str>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The gateway failed (the store, a secret that does not decrypt, …): logged with its
    /// cause, never shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of a core operation.
pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    /// `{kind} {id}` not found.
    pub fn not_found(kind: &str, id: &str) -> CoreError {
        CoreError::NotFound {
            what: format!("{kind} {id}"),
            id: id.to_string(),
        }
    }

    /// Invalid input, with no particular field.
    pub fn invalid(message: impl Into<String>) -> CoreError {
        CoreError::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// Invalid input in `field`.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> CoreError {
        CoreError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// A conflict of the kind `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> CoreError {
        CoreError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// An internal failure with its cause.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CoreError {
        CoreError::Internal(cause.into())
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => CoreError::NotFound {
                id: what.clone(),
                what,
            },
            StoreError::Conflict(what) => CoreError::Conflict {
                code: "conflict",
                message: what,
            },
            other => CoreError::Internal(Box::new(other)),
        }
    }
}

impl From<TemplateError> for CoreError {
    fn from(e: TemplateError) -> Self {
        CoreError::TemplateRule(e)
    }
}
