//! Store errors: not-found and conflicts are told apart from everything else, and a failure
//! keeps its cause (the driver's error) as its [`source`](std::error::Error::source), for the
//! log.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// What caused a failure: a driver's error, or a message where there is none.
pub type Cause = Box<dyn Error + Send + Sync>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (`what` names it, e.g. `channel.phone_number_id`).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] Cause),
    /// A stored value could not be read back.
    #[error("corrupt row: {what}")]
    Corrupt {
        /// What could not be read, and why.
        what: String,
        /// The error that said so, where there is one.
        #[source]
        source: Option<Cause>,
    },
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database failed: `cause` is the driver's error, or a message saying what went wrong.
    pub fn database(cause: impl Into<Cause>) -> StoreError {
        StoreError::Database(cause.into())
    }

    /// The database failed while doing `what` (`connecting to PostgreSQL`): shown as
    /// `what: cause`, with `cause` as the source.
    pub fn database_while(what: impl Into<String>, cause: impl Into<Cause>) -> StoreError {
        StoreError::Database(Box::new(While {
            what: what.into(),
            cause: cause.into(),
        }))
    }

    /// A stored value that could not be read back, with no error to say why.
    pub fn corrupt(what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            source: None,
        }
    }

    /// A stored value that could not be read back because of `cause`: shown as `what: cause`.
    pub fn corrupt_by(what: impl fmt::Display, cause: impl Into<Cause>) -> StoreError {
        let cause = cause.into();
        StoreError::Corrupt {
            what: format!("{what}: {cause}"),
            source: Some(cause),
        }
    }

    /// This failure again, for each of the callers a failed batch answers: a conflict, a
    /// missing row or a closed store stays what it is; a database failure or a corrupt row
    /// keeps its text, its cause shared by every copy.
    pub(crate) fn shared(e: &Arc<StoreError>) -> StoreError {
        match &**e {
            StoreError::Conflict(what) => StoreError::Conflict(what.clone()),
            StoreError::NotFound(what) => StoreError::NotFound(what.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::Database(_) => StoreError::Database(Box::new(Shared(e.clone()))),
            StoreError::Corrupt { what, source } => StoreError::Corrupt {
                what: what.clone(),
                source: source
                    .as_ref()
                    .map(|_| Box::new(Shared(e.clone())) as Cause),
            },
        }
    }
}

/// A failure while doing something: `what: cause`.
#[derive(Debug)]
struct While {
    what: String,
    cause: Cause,
}

impl fmt::Display for While {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.cause)
    }
}

impl Error for While {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.cause.as_ref())
    }
}

/// The cause of a failure shared by several [`StoreError`]s ([`StoreError::shared`]): shown
/// as that cause is, with its sources.
#[derive(Debug)]
struct Shared(Arc<StoreError>);

impl Shared {
    fn cause(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &*self.0 {
            StoreError::Database(cause) => Some(cause.as_ref()),
            StoreError::Corrupt { source, .. } => source.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            Some(cause) => fmt::Display::fmt(cause, f),
            None => fmt::Display::fmt(&self.0, f),
        }
    }
}

impl Error for Shared {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause().and_then(|c| c.source())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e
            && f.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()));
        }
        StoreError::database(e)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_string());
        }
        StoreError::database(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt {
            what: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause chain, outermost first, as a log shows it.
    fn chain(e: &(dyn Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    #[test]
    fn a_driver_error_is_kept_as_the_source() {
        let e = StoreError::from(rusqlite::Error::InvalidQuery);
        assert!(matches!(e, StoreError::Database(_)));
        let shown = rusqlite::Error::InvalidQuery.to_string();
        assert_eq!(chain(&e), [format!("database error: {shown}"), shown]);
    }

    #[test]
    fn a_plain_message_displays_as_before() {
        let e = StoreError::database("could not begin a transaction");
        assert_eq!(
            e.to_string(),
            "database error: could not begin a transaction"
        );
        let e = StoreError::corrupt("status nope");
        assert_eq!(e.to_string(), "corrupt row: status nope");
        assert!(e.source().is_none());
    }

    #[test]
    fn context_and_cause_are_both_shown_and_the_cause_kept() {
        let io = std::io::Error::other("disk full");
        let e = StoreError::database_while("creating /data", io);
        assert_eq!(
            chain(&e),
            [
                "database error: creating /data: disk full",
                "creating /data: disk full",
                "disk full"
            ]
        );
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = StoreError::corrupt_by("column 3", json);
        assert!(e.to_string().starts_with("corrupt row: column 3: "), "{e}");
        assert!(e.source().is_some());
    }

    #[test]
    fn a_shared_failure_keeps_its_kind_text_and_cause() {
        let shared = Arc::new(StoreError::from(rusqlite::Error::InvalidQuery));
        let copy = StoreError::shared(&shared);
        assert!(matches!(copy, StoreError::Database(_)));
        assert_eq!(chain(&copy), chain(&*shared));
        let conflict = StoreError::shared(&Arc::new(StoreError::Conflict("k".into())));
        assert!(matches!(conflict, StoreError::Conflict(k) if k == "k"));
        let corrupt = StoreError::shared(&Arc::new(StoreError::corrupt("x")));
        assert!(matches!(corrupt, StoreError::Corrupt { source: None, .. }));
        assert_eq!(corrupt.to_string(), "corrupt row: x");
    }
}
