//! Meta's error object for every core error: the one place where a [`CoreError`] becomes
//! what the Graph API would have answered.

use openbsp_wire::MetaError;
use openbsp_wire::error::codes;

use crate::core::CoreError;
use crate::http::error::{GraphError, unknown_object};

impl From<CoreError> for GraphError {
    fn from(e: CoreError) -> Self {
        let error = match e {
            CoreError::NotFound { id, .. } => unknown_object(&id),
            CoreError::KeyReused { .. } => MetaError::invalid_parameter(
                "This Idempotency-Key was already used for a different request.",
            ),
            CoreError::NotSent(id) => MetaError::invalid_value(format!(
                "Param message_id refers to {id}, which has no wamid yet."
            )),
            CoreError::Refused(m) | CoreError::TemplateRefused(m) => m,
            CoreError::TemplateRule(e) => e.to_meta(),
            CoreError::Invalid { message, .. } => MetaError::invalid_parameter(message),
            e @ (CoreError::Conflict { .. } | CoreError::Internal(_)) => {
                return GraphError {
                    error: MetaError::new(codes::UNKNOWN, None),
                    cause: Some(Box::new(e)),
                };
            }
        };
        GraphError::from(error)
    }
}
