//! What the native API answers about messages besides the message itself
//! ([`openbsp_store::views::MessageView`]).

use openbsp_store::views::MessageView;
use openbsp_wire::send::ReadReceipt;
use serde::Serialize;

/// The answer to a mark-as-read (`"object": "read_receipt"`): Meta took it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReadReceiptView {
    /// The inbound message marked read, as the request named it.
    pub message_id: String,
    /// Always `"read_receipt"`.
    pub object: &'static str,
    /// Always `true`: a refusal is an error answer.
    pub success: bool,
    /// Whether the user is shown the business typing.
    pub typing_indicator: bool,
}

impl ReadReceiptView {
    /// The answer to a mark-as-read that Meta accepted.
    pub fn new(receipt: &ReadReceipt) -> ReadReceiptView {
        ReadReceiptView {
            message_id: receipt.message_id.clone(),
            object: "read_receipt",
            success: true,
            typing_indicator: receipt.typing_indicator,
        }
    }
}

/// What `POST /v1/messages` answers: the message queued (a send), or the read receipt (a
/// mark-as-read). Untagged: the answer is the one object itself.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MessageOrReceipt {
    /// A send: the message as queued (or as first queued, for a retry).
    Message(Box<MessageView>),
    /// A mark-as-read that Meta accepted.
    ReadReceipt(ReadReceiptView),
}
