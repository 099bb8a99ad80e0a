//! How a contact and its windows look on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_domain::windows;
use openbsp_store::ContactWindow;
use openbsp_store::views::ContactView;
use serde::Serialize;

use crate::core::contacts::WithWindows;

/// WhatsApp's customer service window of a contact on a channel (24 h from the user's last
/// message): while it is open the business may send anything.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerServiceWindowView {
    /// When it closes (24 h after the user's last message), `null` if the user never wrote.
    pub expires_at: Option<String>,
    /// The user's last message to the channel, `null` if the user never wrote.
    pub last_inbound_at: Option<String>,
    /// Whether it is open now.
    pub open: bool,
}

/// The free entry point window of a contact on a channel (72 h opened by the business's
/// reply to an entry from a Click-to-WhatsApp ad or a page button).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FreeEntryPointWindowView {
    /// The user's last message that came from an ad or a page button, `null` if none did.
    pub entry_point_at: Option<String>,
    /// When the current window ends, `null` if none was opened.
    pub expires_at: Option<String>,
    /// Whether it is open now.
    pub open: bool,
    /// When the business's reply opened the current window, `null` if none was opened.
    pub opened_at: Option<String>,
}

/// The windows of a contact on one channel, as they stand when viewed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowView {
    /// The business number (`chn_…`).
    pub channel_id: String,
    /// The customer service window.
    pub customer_service: CustomerServiceWindowView,
    /// The free entry point window.
    pub free_entry_point: FreeEntryPointWindowView,
    /// Meta's phone number id of the channel, `null` if the channel is gone.
    pub phone_number_id: Option<String>,
}

impl WindowView {
    /// The view of one window as it stands at `now`.
    pub fn new(w: &ContactWindow, phone_number_id: Option<&str>, now: i64) -> WindowView {
        WindowView {
            channel_id: w.channel_id.clone(),
            customer_service: CustomerServiceWindowView {
                expires_at: w.last_inbound_at.map(windows::csw_expires_at).map(rfc3339),
                last_inbound_at: w.last_inbound_at.map(rfc3339),
                open: windows::csw_open(w.last_inbound_at, now),
            },
            free_entry_point: FreeEntryPointWindowView {
                entry_point_at: w.entry_point_at.map(rfc3339),
                expires_at: w.fep_expires_at.map(rfc3339),
                open: windows::fep_open(w.fep_expires_at, now),
                opened_at: w.fep_opened_at.map(rfc3339),
            },
            phone_number_id: phone_number_id.map(str::to_string),
        }
    }
}

/// A contact with its windows on each channel it wrote to (`"object": "contact"`), as they
/// stand when viewed. `windows` comes last in the sorted key order, so the contact's own
/// fields can be flattened before it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactWithWindows {
    /// The contact.
    #[serde(flatten)]
    pub contact: ContactView,
    /// Its windows, one per channel it wrote to.
    pub windows: Vec<WindowView>,
}

impl ContactWithWindows {
    /// The view of a contact with its windows as they stand at `now`.
    pub fn new(c: &WithWindows, now: i64) -> ContactWithWindows {
        ContactWithWindows {
            contact: ContactView::new(&c.contact),
            windows: c
                .windows
                .iter()
                .map(|(w, pnid)| WindowView::new(w, pnid.as_deref(), now))
                .collect(),
        }
    }
}
