//! Transactions on PostgreSQL that run again when a concurrent one gets in their way (a
//! deadlock, a serialization failure, a unique key taken since we looked): [`retrying!`], and
//! [`Fail`], how a body says whether running it again can help.

use super::conn::db_err;
use crate::error::StoreError;

/// How a transaction's body failed.
pub(super) enum Fail {
    /// For a reason running it again can fix: a deadlock, a serialization failure, or a unique
    /// key that a concurrent transaction took since we looked.
    Again(StoreError),
    /// For good.
    Stop(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Stop(e)
    }
}

/// `.pg()`: a driver result as a [`Fail`].
pub(super) trait Pg<T> {
    fn pg(self) -> Result<T, Fail>;
}

impl<T> Pg<T> for Result<T, sqlx::Error> {
    fn pg(self) -> Result<T, Fail> {
        self.map_err(|e| {
            let again = matches!(&e, sqlx::Error::Database(d)
                if matches!(d.code().as_deref(), Some("40P01" | "40001" | "23505")));
            let e = db_err(e);
            if again { Fail::Again(e) } else { Fail::Stop(e) }
        })
    }
}

/// How many times a transaction failing with [`Fail::Again`] is run again.
pub(super) const RETRIES: u32 = 3;

/// Runs `$body` — an expression using `$c: &mut PgConnection` that evaluates to a future of
/// `Result<(T, bool), Fail>`: the answer and whether to commit — in a transaction on `$pool`,
/// again (up to [`RETRIES`] times) when it fails with [`Fail::Again`]. Evaluates to
/// `StoreResult<T>`.
macro_rules! retrying {
    ($pool:expr, |$c:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut tx = $pool.begin().await.db()?;
            let result = {
                let $c: &mut sqlx::PgConnection = &mut tx;
                $body.await
            };
            match result {
                Ok((value, commit)) => {
                    if commit {
                        tx.commit().await.db()?;
                    }
                    break Ok::<_, $crate::error::StoreError>(value);
                }
                Err($crate::postgres::tx::Fail::Again(e))
                    if attempt < $crate::postgres::tx::RETRIES =>
                {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "PostgreSQL transaction runs again");
                }
                Err(
                    $crate::postgres::tx::Fail::Again(e)
                    | $crate::postgres::tx::Fail::Stop(e),
                ) => break Err(e),
            }
        }
    }};
}
pub(super) use retrying;
