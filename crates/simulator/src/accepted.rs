//! An accepted message as the simulator keeps it until its statuses are emitted (by
//! [`crate::statuses`], or later, when a paced template's fate is decided). Data only: it
//! imports nothing of the simulator's state.

use openbsp_wire::{MetaError, Recipient};

use crate::config::PhoneNumberConfig;
use crate::envelope::Pricing;
use crate::records::EntryPointWindow;

/// An accepted message whose statuses are to be emitted.
pub(crate) struct Accepted {
    pub phone: PhoneNumberConfig,
    pub wamid: String,
    pub recipient: Recipient,
    pub callback_data: Option<String>,
    /// `Some`: the message fails with this error instead of being delivered.
    pub failure: Option<MetaError>,
    /// How it is priced (`None` for a failure).
    pub billing: Option<Billing>,
}

/// How a delivered message is priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Billing {
    pub pricing: Pricing,
    /// The free entry point window the message is in.
    pub entry_point: Option<EntryPointWindow>,
}
