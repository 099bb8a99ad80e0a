//! Domain rules of OpenBSP, as pure functions over data.
//!
//! Time and randomness come in as arguments ([`clock::Clock`], [`ids`]), so rules about
//! windows and retries are tested by moving a clock, never by sleeping. Nothing here does I/O.

pub mod backoff;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod events;
pub mod ids;
pub mod limits;
pub mod netguard;
pub mod refs;
pub mod status;
pub mod windows;

pub use clock::{Clock, ManualClock, SystemClock};
pub use status::MessageStatus;
