//! `openbsp migrate`: applies the database migrations and exits.

use crate::settings::Settings;

/// Opens the store (which migrates it) and says so.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    settings.init_logging(false)?;
    let store = settings.open_store().await?;
    println!("migrations applied ({})", store.backend());
    Ok(())
}
