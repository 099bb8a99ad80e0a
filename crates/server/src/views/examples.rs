//! An example of every answer the native API gives, for its OpenAPI description: each is a
//! real value of the view the handler answers, built from store rows with the view's own
//! `new` (as the handler builds it) and serialized with serde, so an example cannot drift
//! from what the gateway sends: a renamed or added field changes the example with it.
//!
//! The rows tell one consistent story: Acme's business number `100200300` (channel
//! `chn_…`) sent the template `order_update` to Ana (`+1 555 123 0001`) in a session she
//! opened, the message was delivered, a campaign sends the same template, and the tenant's
//! webhook endpoint receives the events. [`examples`] keys them by the schema name the
//! description gives each view; [`operation_examples`] holds the answers of operations that
//! show more than the view's list form (a message with its status history, a session with
//! its messages, a key or a secret shown once).

use std::collections::BTreeMap;

use openbsp_domain::MessageStatus;
use openbsp_store::views::{
    ContactView, EventView, ListPage, MediaView, MessageView, SessionView, TemplateView, to_value,
};
use openbsp_store::{
    ApiKey, App, Campaign, CampaignCounts, CampaignRecipient, Channel, Contact, ContactWindow,
    DeliveryAttempt, Direction, Event, EventCursor, LoggedAttempt, Message, Session, StatusEntry,
    Template, TemplateEvent, Tenant, WebhookEndpoint,
};
use openbsp_wire::standard_webhooks::Secret;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::admin::{ApiKeyView, AppView, ChannelView, TenantView};
use super::campaigns::{CampaignRetryView, CampaignView, RecipientView};
use super::contacts::ContactWithWindows;
use super::endpoints::{AttemptView, EndpointView, ReplayView};
use super::messages::{MessageOrReceipt, ReadReceiptView};
use super::sessions::SessionStartView;
use super::templates::{
    DeletedTemplatesView, TemplateHistoryView, TemplatePreviewView, TemplateSendView,
    TemplateSyncView,
};
use crate::core::campaigns::{Progress, RowError, UploadReport};
use crate::core::contacts::WithWindows;
use crate::core::sessions::Started;
use crate::core::templates::{self, SyncReport};

/// A view with an example value: what the description shows for it.
pub trait Example: Sized {
    /// A realistic value of the view, built as the gateway builds one.
    fn example() -> Self;
}

/// 2025-06-01T10:00:00Z, when the story starts (ms).
const T0: i64 = 1_748_772_000_000;
/// A minute, in ms.
const MIN: i64 = 60_000;
/// When the views are looked at (ms): ten minutes in.
const NOW: i64 = T0 + 10 * MIN;

const TENANT: &str = "ten_01jwkq3r8e5n7v9x2b4d6f8h0j";
const API_KEY: &str = "key_01jwkq4a2c6e8g0j3m5p7r9t1v";
/// The key itself, as `POST /v1/api-keys` shows it once.
const API_KEY_SECRET: &str = "obsp_Vq3n8ZkR2xT6wY0bH5mJ9cL4pD7sF1gA8eK2uN6rQ0v";
const APP: &str = "app_01jwkq5b3d7f9h1k4n6q8s0w2y";
const CHANNEL: &str = "chn_01jwkq6c4e8g0j2m5p7r9t1v3x";
const PHONE_NUMBER_ID: &str = "100200300";
const WABA_ID: &str = "102290129340398";
const DISPLAY_NUMBER: &str = "15550001234";
const CONTACT: &str = "con_01jx0b7d5f9h1k3n6q8s0w2y4a";
const WA_ID: &str = "15551230001";
const SESSION: &str = "ses_01jx0b7d6g0j2m4p7r9t1v3x5b";
const INBOUND: &str = "msg_01jx0b7d6h1k3n5q8s0w2y4a6c";
const MESSAGE: &str = "msg_01jx0b8e7j2m4p6r9t1v3x5b7d";
const WAMID: &str = "wamid.HBgLMTU1NTEyMzAwMDEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
const INBOUND_WAMID: &str = "wamid.HBgLMTU1NTEyMzAwMDEVAgASGBQzQUY2NEI3RjhDNTk5RDJCMUE3MAA=";
const TEMPLATE: &str = "tpl_01jwm2c8f0h2k4n7q9s1v3x5z7";
const META_TEMPLATE_ID: &str = "1538460197023816";
const CAMPAIGN: &str = "cmp_01jx0c1g9k3n5q7s0w2y4a6c8e";
/// The campaign's message to Ana.
const CAMPAIGN_MESSAGE: &str = "msg_01jx0c4k2n6q8s1v3x5z7b9d1f";
const CAMPAIGN_WAMID: &str = "wamid.HBgLMTU1NTEyMzAwMDEVAgARGBIzRjc1QjI5MEE0RDE4QzZFNTcA";
const MEDIA: &str = "med_01jx0c2h0m4p6r8t1v3x5b7d9f";
const ENDPOINT: &str = "whe_01jwkq7d5f9h1k3n6q8s0w2y4a";
const EVENT: &str = "evt_01jx0b9f8k3n5q7s0w2y4a6c8e";
const BODY: &str = "Hi {{1}}, your order {{2}} has shipped and is on its way.";
const RENDERED: &str = "Hi Ana, your order A-1001 has shipped and is on its way.";

fn tenant() -> Tenant {
    Tenant {
        id: TENANT.into(),
        name: "Acme".into(),
        created_at: T0 - 30 * 24 * 60 * MIN,
    }
}

fn api_key() -> ApiKey {
    ApiKey {
        id: API_KEY.into(),
        tenant_id: Some(TENANT.into()),
        name: "crm".into(),
        key_hash: String::new(),
        key_prefix: API_KEY_SECRET[..12].into(),
        is_admin: false,
        created_at: T0 - 30 * 24 * 60 * MIN + MIN,
        revoked_at: None,
    }
}

fn app() -> App {
    App {
        id: APP.into(),
        tenant_id: TENANT.into(),
        name: "Acme on WhatsApp".into(),
        meta_app_id: Some("1234567890123456".into()),
        app_secret_enc: String::new(),
        verify_token_enc: String::new(),
        verify_token_hash: String::new(),
        created_at: T0 - 30 * 24 * 60 * MIN + 2 * MIN,
        previous_secret_enc: None,
        previous_secret_expires_at: None,
    }
}

fn channel() -> Channel {
    Channel {
        id: CHANNEL.into(),
        tenant_id: TENANT.into(),
        app_id: APP.into(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        waba_id: WABA_ID.into(),
        display_phone_number: DISPLAY_NUMBER.into(),
        access_token_enc: String::new(),
        graph_base_url: "https://graph.facebook.com".into(),
        graph_version: "v23.0".into(),
        throughput_mps: 80,
        messaging_tier: Some("TIER_10K".into()),
        business_id: Some("506914307656634".into()),
        created_at: T0 - 30 * 24 * 60 * MIN + 3 * MIN,
        updated_at: T0 - 2 * 24 * 60 * MIN,
        paused_at: None,
        pause_reason: None,
    }
}

fn contact() -> Contact {
    Contact {
        id: CONTACT.into(),
        tenant_id: TENANT.into(),
        wa_id: Some(WA_ID.into()),
        user_id: None,
        profile_name: Some("Ana".into()),
        username: None,
        attributes: json!({"customer_id": "C-4471", "plan": "gold"}),
        marketing_opt_out_at: None,
        marketing_opt_out_source: None,
        previous_wa_ids: vec![],
        created_at: T0 - 3 * 24 * 60 * MIN,
        updated_at: T0,
    }
}

fn window() -> ContactWindow {
    ContactWindow {
        channel_id: CHANNEL.into(),
        contact_id: CONTACT.into(),
        tenant_id: TENANT.into(),
        last_inbound_at: Some(T0),
        entry_point_at: None,
        fep_opened_at: None,
        fep_expires_at: None,
    }
}

fn with_windows() -> WithWindows {
    WithWindows {
        contact: contact(),
        windows: vec![(window(), Some(PHONE_NUMBER_ID.into()))],
    }
}

fn session() -> Session {
    Session {
        id: SESSION.into(),
        tenant_id: TENANT.into(),
        channel_id: CHANNEL.into(),
        contact_id: CONTACT.into(),
        kind: Some("service".into()),
        opened_by: "inbound".into(),
        opened_at: T0,
        expires_at: T0 + 24 * 60 * MIN,
        closed_at: None,
        close_reason: None,
        last_inbound_at: Some(T0),
        updated_at: T0 + MIN,
    }
}

/// The send components that fill the template's body: what the message carries.
fn send_components() -> Value {
    json!([{"type": "body", "parameters": [
        {"type": "text", "text": "Ana"},
        {"type": "text", "text": "A-1001"},
    ]}])
}

/// The outbound template message, delivered.
fn message() -> Message {
    Message {
        id: MESSAGE.into(),
        tenant_id: TENANT.into(),
        channel_id: CHANNEL.into(),
        contact_id: Some(CONTACT.into()),
        direction: Direction::Outbound,
        recipient: WA_ID.into(),
        msg_type: "template".into(),
        content: json!({"type": "template", "template": to_value(send())}),
        wamid: Some(WAMID.into()),
        status: MessageStatus::Delivered,
        error: None,
        biz_opaque_callback_data: Some("order:A-1001".into()),
        context_message_id: None,
        session_id: Some(SESSION.into()),
        template_id: Some(TEMPLATE.into()),
        rendered_text: Some(RENDERED.into()),
        campaign_id: None,
        idempotency_key: Some("order-A-1001-shipped".into()),
        created_at: T0 + MIN,
        updated_at: T0 + MIN + 4_000,
    }
}

/// What Ana wrote, which opened the session.
fn inbound() -> Message {
    Message {
        id: INBOUND.into(),
        direction: Direction::Inbound,
        msg_type: "text".into(),
        content: json!({"from": WA_ID, "id": INBOUND_WAMID, "timestamp": (T0 / 1000).to_string(),
                        "type": "text", "text": {"body": "Where is my order A-1001?"}}),
        wamid: Some(INBOUND_WAMID.into()),
        status: MessageStatus::Read,
        biz_opaque_callback_data: None,
        template_id: None,
        rendered_text: None,
        idempotency_key: None,
        created_at: T0,
        updated_at: T0 + MIN,
        ..message()
    }
}

/// The outbound message's status history.
fn history() -> Vec<StatusEntry> {
    [
        (MessageStatus::Queued, T0 + MIN),
        (MessageStatus::Accepted, T0 + MIN + 400),
        (MessageStatus::Sent, T0 + MIN + 1_500),
        (MessageStatus::Delivered, T0 + MIN + 4_000),
    ]
    .into_iter()
    .map(|(status, at)| StatusEntry {
        status,
        at,
        error: None,
    })
    .collect()
}

fn template() -> Template {
    Template {
        id: TEMPLATE.into(),
        tenant_id: TENANT.into(),
        waba_id: WABA_ID.into(),
        name: "order_update".into(),
        language: "en_US".into(),
        category: Some("UTILITY".into()),
        status: "APPROVED".into(),
        meta_template_id: Some(META_TEMPLATE_ID.into()),
        components: json!([{"type": "BODY", "text": BODY,
                            "example": {"body_text": [["Ana", "A-1001"]]}}]),
        quality_score: Some("GREEN".into()),
        reason: None,
        created_at: T0 - 7 * 24 * 60 * MIN,
        updated_at: T0 - 7 * 24 * 60 * MIN + 5 * MIN,
        parameter_format: Some("POSITIONAL".into()),
        previous_category: None,
        message_send_ttl_seconds: None,
        deleted_at: None,
    }
}

fn send() -> TemplateSendView {
    TemplateSendView::new(&template(), send_components())
}

fn campaign() -> Campaign {
    Campaign {
        id: CAMPAIGN.into(),
        tenant_id: TENANT.into(),
        channel_id: CHANNEL.into(),
        name: "June shipping updates".into(),
        template_id: TEMPLATE.into(),
        template_name: "order_update".into(),
        language: "en_US".into(),
        category: Some("utility".into()),
        spec: json!({"variables": ["{{first_name}}", "{{order}}"]}),
        columns: vec!["first_name".into(), "order".into()],
        status: "running".into(),
        pause_reason: None,
        start_at: None,
        rate_limit: Some(20),
        created_at: T0 + 2 * MIN,
        updated_at: T0 + 5 * MIN,
        started_at: Some(T0 + 5 * MIN),
        completed_at: None,
        uploading: false,
        group_key: None,
    }
}

fn progress() -> Progress {
    Progress {
        counts: CampaignCounts {
            total: 1200,
            pending: 300,
            queued: 40,
            waiting: 0,
            sent: 210,
            delivered: 420,
            read: 240,
            replied: 35,
            held: 0,
            failed: 18,
            skipped: 12,
            failures: vec![("131026".into(), 11), ("131049".into(), 7)],
        },
        rate: 20,
        eta_seconds: Some(15),
    }
}

/// A campaign's recipient: Ana, her message delivered (the report's example is built from
/// it).
pub fn recipient() -> CampaignRecipient {
    CampaignRecipient {
        seq: 1,
        campaign_id: CAMPAIGN.into(),
        recipient: WA_ID.into(),
        line: 2,
        variables: json!({"first_name": "Ana", "order": "A-1001"}),
        state: "queued".into(),
        reason: None,
        message_id: Some(CAMPAIGN_MESSAGE.into()),
        message_status: Some(MessageStatus::Delivered),
        wamid: Some(CAMPAIGN_WAMID.into()),
        error: None,
        created_at: T0 + 3 * MIN,
        updated_at: T0 + 5 * MIN + 4_000,
        replied_at: None,
        meta_message_status: Some("accepted".into()),
    }
}

fn endpoint() -> WebhookEndpoint {
    WebhookEndpoint {
        id: ENDPOINT.into(),
        tenant_id: TENANT.into(),
        url: "https://crm.example.com/hooks/whatsapp".into(),
        description: Some("CRM".into()),
        events: vec!["message.*".into(), "session.opened".into()],
        format: "native".into(),
        enabled: true,
        disabled_reason: None,
        secret_enc: String::new(),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failing_since: None,
        cursor: None,
        created_at: T0 - 30 * 24 * 60 * MIN + 4 * MIN,
        updated_at: T0 - 30 * 24 * 60 * MIN + 4 * MIN,
        options: None,
    }
}

/// The endpoint's signing secret, as creation and rotation show it once.
fn secret() -> Secret {
    Secret::from_bytes(b"5nQ8vT2yB6eH0kM4pS7wZ1cF3jL9rU6x")
}

/// The `message.status` event of the message's delivery, as the store records it.
fn event() -> Event {
    let new = openbsp_store::events::message_status(
        &message(),
        MessageStatus::Delivered,
        T0 + MIN + 4_000,
        None,
        Some("utility"),
    );
    Event {
        id: EVENT.into(),
        tenant_id: new.tenant_id,
        kind: new.kind,
        format: new.format,
        created_at: T0 + MIN + 4_100,
        data: new.data,
        cursor: EventCursor::default(),
    }
}

fn page<T: Example>() -> ListPage<T> {
    ListPage::new(vec![T::example()], false, None)
}

impl<T: Example> Example for ListPage<T> {
    fn example() -> Self {
        page()
    }
}

impl Example for MessageView {
    fn example() -> Self {
        MessageView::new(&message(), None)
    }
}

impl Example for ReadReceiptView {
    fn example() -> Self {
        ReadReceiptView::new(&openbsp_wire::send::ReadReceipt {
            message_id: INBOUND_WAMID.into(),
            typing_indicator: true,
        })
    }
}

impl Example for MessageOrReceipt {
    fn example() -> Self {
        MessageOrReceipt::Message(Box::new(MessageView::example()))
    }
}

impl Example for SessionView {
    fn example() -> Self {
        SessionView::new(&session(), NOW)
    }
}

impl Example for SessionStartView {
    fn example() -> Self {
        SessionStartView::new(
            &Started {
                contact: with_windows(),
                session: session(),
                reused: true,
                message: message(),
            },
            NOW,
        )
    }
}

impl Example for ContactView {
    fn example() -> Self {
        ContactView::new(&contact())
    }
}

impl Example for ContactWithWindows {
    fn example() -> Self {
        ContactWithWindows::new(&with_windows(), NOW)
    }
}

impl Example for TemplateView {
    fn example() -> Self {
        TemplateView::new(&template())
    }
}

impl Example for TemplateHistoryView {
    fn example() -> Self {
        let created = T0 - 7 * 24 * 60 * MIN;
        TemplateHistoryView::new(
            &template(),
            &[
                TemplateEvent {
                    template_id: TEMPLATE.into(),
                    kind: "created".into(),
                    value: Some("PENDING".into()),
                    previous: None,
                    reason: None,
                    detail: json!({"category": "UTILITY", "meta_template_id": META_TEMPLATE_ID}),
                    at: created,
                },
                TemplateEvent {
                    template_id: TEMPLATE.into(),
                    kind: "status".into(),
                    value: Some("APPROVED".into()),
                    previous: Some("PENDING".into()),
                    reason: None,
                    detail: json!({"event": "APPROVED", "message_template_id": 1538460197023816_u64,
                                   "message_template_language": "en_US",
                                   "message_template_name": "order_update", "reason": "NONE"}),
                    at: created + 5 * MIN,
                },
            ],
        )
    }
}

impl Example for DeletedTemplatesView {
    fn example() -> Self {
        let deleted = T0 + 9 * MIN;
        DeletedTemplatesView::new(&[Template {
            status: "DELETED".into(),
            deleted_at: Some(deleted),
            updated_at: deleted,
            ..template()
        }])
    }
}

impl Example for TemplateSyncView {
    fn example() -> Self {
        TemplateSyncView::new(
            &SyncReport {
                total: 14,
                created: 2,
                changed: 1,
                unchanged: 11,
                deleted: 0,
            },
            WABA_ID,
        )
    }
}

impl Example for TemplatePreviewView {
    fn example() -> Self {
        let t = template();
        let definition = templates::definition(&t).expect("the example template is valid");
        let send = send();
        let rendered = openbsp_wire::template::check_send(&definition, &to_value(&send))
            .expect("the example parameters fill the example template");
        TemplatePreviewView::new(&t, send, rendered, true)
    }
}

impl Example for MediaView {
    fn example() -> Self {
        MediaView::new(&openbsp_store::media::Media {
            id: MEDIA.into(),
            tenant_id: TENANT.into(),
            sha256: "9f2c4e7a1b3d5f6081a2c3e4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718".into(),
            mime_type: "image/jpeg".into(),
            file_size: 184_321,
            filename: Some("invoice-A-1001.jpg".into()),
            origin: "upload".into(),
            created_at: T0 + 6 * MIN,
            last_used_at: T0 + 6 * MIN,
        })
    }
}

impl Example for EventView {
    fn example() -> Self {
        EventView::new(&event())
    }
}

impl Example for CampaignView {
    fn example() -> Self {
        CampaignView::new(&campaign(), Some(&progress()))
    }
}

impl Example for CampaignRetryView {
    fn example() -> Self {
        CampaignRetryView {
            campaign: CampaignView::example(),
            retried: 11,
        }
    }
}

impl Example for RecipientView {
    fn example() -> Self {
        RecipientView::new(&recipient())
    }
}

impl Example for UploadReport {
    fn example() -> Self {
        UploadReport {
            accepted: 1198,
            skipped: 12,
            duplicates: 1,
            rejected: 1,
            errors: vec![RowError {
                line: 734,
                reason: "recipient 555-0100 is not a phone number or a BSUID".into(),
            }],
        }
    }
}

impl Example for EndpointView {
    fn example() -> Self {
        EndpointView::new(&endpoint(), None, NOW)
    }
}

impl Example for AttemptView {
    fn example() -> Self {
        AttemptView::new(&LoggedAttempt {
            seq: 4182,
            attempt: DeliveryAttempt {
                endpoint_id: ENDPOINT.into(),
                tenant_id: TENANT.into(),
                event_id: EVENT.into(),
                event_type: "message.status".into(),
                attempt: 1,
                at: T0 + MIN + 4_200,
                succeeded: true,
                status_code: Some(200),
                latency_ms: 87,
                error: None,
                response: Some("{\"ok\":true}".into()),
                next_attempt_at: None,
            },
        })
    }
}

impl Example for ReplayView {
    fn example() -> Self {
        ReplayView::new(&endpoint(), 3)
    }
}

impl Example for TenantView {
    fn example() -> Self {
        TenantView::new(&tenant())
    }
}

impl Example for ApiKeyView {
    fn example() -> Self {
        ApiKeyView::new(&api_key(), None)
    }
}

impl Example for AppView {
    fn example() -> Self {
        AppView::new(&app(), NOW)
    }
}

impl Example for ChannelView {
    fn example() -> Self {
        ChannelView::new(&channel())
    }
}

/// `T`'s example under `T`'s schema name.
fn add<T: Example + ToSchema + Serialize>(map: &mut BTreeMap<String, Value>) {
    map.insert(T::name().into_owned(), to_value(T::example()));
}

/// `T`'s example, and a page of it: under `T`'s schema name and its page's ([`list_name`]).
fn add_listed<T: Example + ToSchema + Serialize>(map: &mut BTreeMap<String, Value>) {
    add::<T>(map);
    map.insert(list_name(&T::name()), to_value(ListPage::<T>::example()));
}

/// The schema name of a page of `item` (a schema name), as utoipa names `ListPage<T>`.
pub fn list_name(item: &str) -> String {
    format!("ListPage_{item}")
}

/// The example of every view the native API answers, by the schema name the description
/// gives it, and of a page of each listed view ([`list_name`]: a page holding its example).
pub fn examples() -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    add_listed::<MessageView>(&mut map);
    add::<MessageOrReceipt>(&mut map);
    add::<ReadReceiptView>(&mut map);
    add_listed::<SessionView>(&mut map);
    add::<SessionStartView>(&mut map);
    add_listed::<ContactView>(&mut map);
    add::<ContactWithWindows>(&mut map);
    add_listed::<TemplateView>(&mut map);
    add::<TemplateHistoryView>(&mut map);
    add::<DeletedTemplatesView>(&mut map);
    add::<TemplateSyncView>(&mut map);
    add::<TemplatePreviewView>(&mut map);
    add_listed::<MediaView>(&mut map);
    add_listed::<EventView>(&mut map);
    add_listed::<CampaignView>(&mut map);
    add::<CampaignRetryView>(&mut map);
    add_listed::<RecipientView>(&mut map);
    add::<UploadReport>(&mut map);
    add_listed::<EndpointView>(&mut map);
    add_listed::<AttemptView>(&mut map);
    add::<ReplayView>(&mut map);
    add_listed::<TenantView>(&mut map);
    add_listed::<ApiKeyView>(&mut map);
    add_listed::<AppView>(&mut map);
    add_listed::<ChannelView>(&mut map);
    map
}

/// The answers of operations that show more than their view's list form, by operation id
/// and status: the one message with its status history, the one session with its messages,
/// a campaign's list form without its counts, a just-made key or signing secret, the reply
/// to a mark-as-read, a Session Start that opened its session, and the text of a campaign's
/// report.
pub fn operation_examples() -> BTreeMap<(&'static str, &'static str), Value> {
    let mut map = BTreeMap::new();
    let mut message = MessageView::new(&message(), Some(&history()));
    map.insert(("get_message", "200"), to_value(&message));
    message.statuses = None;
    message.status = MessageStatus::Queued;
    message.wamid = None;
    message.updated_at = message.created_at.clone();
    map.insert(("send_message", "202"), to_value(&message));
    map.insert(("reply_in_session", "202"), to_value(&message));
    map.insert(
        ("send_message", "200"),
        to_value(MessageOrReceipt::ReadReceipt(ReadReceiptView::example())),
    );
    let mut session = SessionView::example();
    session.messages = Some(ListPage::new(
        vec![MessageView::example(), MessageView::new(&inbound(), None)],
        false,
        None,
    ));
    map.insert(("get_session", "200"), to_value(&session));
    let closed = Session {
        closed_at: Some(NOW),
        close_reason: Some("closed".into()),
        updated_at: NOW,
        ..self::session()
    };
    map.insert(
        ("close_session", "200"),
        to_value(SessionView::new(&closed, NOW)),
    );
    map.insert(
        ("start_session", "201"),
        to_value(SessionStartView::new(
            &Started {
                contact: with_windows(),
                session: Session {
                    opened_by: "session_start".into(),
                    kind: Some("utility".into()),
                    last_inbound_at: None,
                    ..self::session()
                },
                reused: false,
                message: message_queued(),
            },
            NOW,
        )),
    );
    map.insert(
        ("list_campaigns", "200"),
        to_value(ListPage::new(
            vec![CampaignView::new(&campaign(), None)],
            false,
            None,
        )),
    );
    let draft = Campaign {
        status: "draft".into(),
        started_at: None,
        updated_at: T0 + 2 * MIN,
        ..campaign()
    };
    let created = to_value(CampaignView::new(&draft, None));
    map.insert(("create_campaign", "201"), created.clone());
    map.insert(("create_campaign", "200"), created);
    map.insert(
        ("create_api_key", "201"),
        to_value(ApiKeyView::new(&api_key(), Some(API_KEY_SECRET))),
    );
    let with_secret = to_value(EndpointView::new(&endpoint(), Some(&secret()), NOW));
    map.insert(("create_webhook_endpoint", "201"), with_secret.clone());
    map.insert(("rotate_webhook_endpoint_secret", "200"), with_secret);
    map
}

/// The outbound message as first queued.
fn message_queued() -> Message {
    Message {
        status: MessageStatus::Queued,
        wamid: None,
        updated_at: T0 + MIN,
        ..message()
    }
}
