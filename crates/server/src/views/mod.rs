//! How the gateway's objects look to the outside, shared by the native API and the CLI
//! (messages, sessions, contacts, templates and events look the same in the events the
//! gateway delivers: those views are the store's, [`openbsp_store::views`]). No HTTP here.
//!
//! Every answer is a view type deriving `Serialize`, its fields declared in sorted order:
//! serde_json is built without `preserve_order`, so a `Value` sorts its keys, and a view
//! declared in that order gives the same bytes serialized directly (axum's `Json`) or
//! through a `Value` (the CLI's `--json`, the events), the bytes the `json!` trees it
//! replaced gave (see [`openbsp_store::views`]; the tests here check it for these views).

pub mod admin;
pub mod campaigns;
pub mod contacts;
pub mod endpoints;
pub mod examples;
pub mod graph;
pub mod media;
pub mod messages;
pub mod sessions;
pub mod templates;

pub use openbsp_store::views::{
    ContactView, EventView, ListPage, MessageView, SessionView, TemplateView, event_json,
};

#[cfg(test)]
mod tests {
    use openbsp_domain::MessageStatus;
    use openbsp_store::views::{MessageView, to_value};
    use openbsp_store::*;
    use openbsp_wire::standard_webhooks::Secret;
    use openbsp_wire::template::{Rendered, RenderedCard};
    use serde::Serialize;
    use serde_json::json;

    use super::admin::*;
    use super::contacts::*;
    use super::endpoints::*;
    use super::messages::*;
    use super::sessions::*;
    use super::templates::*;
    use crate::core::contacts::WithWindows;
    use crate::core::sessions::Started;
    use crate::core::templates::SyncReport;
    use crate::http::error::{ErrorDetail, ErrorEnvelope, ErrorView};

    /// Serialized directly, the view gives the bytes it gives through a `Value`: its fields
    /// are declared in sorted order, at every level.
    fn assert_same_bytes(view: impl Serialize) {
        let direct = serde_json::to_string(&view).unwrap();
        assert_eq!(direct, serde_json::to_string(&to_value(&view)).unwrap());
        let pretty = serde_json::to_string_pretty(&view).unwrap();
        assert_eq!(
            pretty,
            serde_json::to_string_pretty(&to_value(&view)).unwrap()
        );
    }

    fn contact() -> Contact {
        Contact {
            id: "con_1".into(),
            tenant_id: "ten_1".into(),
            wa_id: Some("15551234567".into()),
            user_id: None,
            profile_name: Some("Ana".into()),
            username: None,
            attributes: json!({"b": 1, "a": 2}),
            marketing_opt_out_at: None,
            marketing_opt_out_source: None,
            previous_wa_ids: vec![],
            created_at: 1,
            updated_at: 2,
        }
    }

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            tenant_id: "ten_1".into(),
            channel_id: "chn_1".into(),
            contact_id: Some("con_1".into()),
            direction: Direction::Outbound,
            recipient: "15551234567".into(),
            msg_type: "text".into(),
            content: json!({"type": "text", "text": {"body": "hi"}}),
            wamid: None,
            status: MessageStatus::Queued,
            error: None,
            biz_opaque_callback_data: None,
            context_message_id: None,
            session_id: Some("ses_1".into()),
            template_id: None,
            rendered_text: None,
            campaign_id: None,
            idempotency_key: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn template() -> Template {
        Template {
            id: "tpl_1".into(),
            tenant_id: "ten_1".into(),
            waba_id: "waba".into(),
            name: "shipping".into(),
            language: "en_US".into(),
            category: None,
            status: "APPROVED".into(),
            meta_template_id: None,
            components: json!([]),
            quality_score: None,
            reason: None,
            created_at: 1,
            updated_at: 2,
            parameter_format: None,
            previous_category: None,
            message_send_ttl_seconds: None,
            deleted_at: None,
        }
    }

    #[test]
    fn admin_views_declare_their_fields_in_sorted_order() {
        assert_same_bytes(TenantView::new(&Tenant {
            id: "ten_1".into(),
            name: "Acme".into(),
            created_at: 1,
        }));
        let key = ApiKey {
            id: "key_1".into(),
            tenant_id: Some("ten_1".into()),
            name: "ci".into(),
            key_hash: "h".into(),
            key_prefix: "obsp_abc".into(),
            is_admin: false,
            created_at: 1,
            revoked_at: Some(2),
        };
        assert_same_bytes(ApiKeyView::new(&key, Some("obsp_secret")));
        assert_same_bytes(ApiKeyView::new(&key, None));
        assert_same_bytes(AppView::new(
            &App {
                id: "app_1".into(),
                tenant_id: "ten_1".into(),
                name: "app".into(),
                meta_app_id: Some("1".into()),
                app_secret_enc: "x".into(),
                verify_token_enc: "x".into(),
                verify_token_hash: "x".into(),
                created_at: 1,
                previous_secret_enc: Some("x".into()),
                previous_secret_expires_at: Some(3),
            },
            2,
        ));
        assert_same_bytes(ChannelView::new(&Channel {
            id: "chn_1".into(),
            tenant_id: "ten_1".into(),
            app_id: "app_1".into(),
            phone_number_id: "1".into(),
            waba_id: "2".into(),
            display_phone_number: "15550000000".into(),
            access_token_enc: "x".into(),
            graph_base_url: "http://g".into(),
            graph_version: "v23.0".into(),
            throughput_mps: 80,
            messaging_tier: None,
            business_id: None,
            created_at: 1,
            updated_at: 2,
            paused_at: Some(3),
            pause_reason: Some(json!({"code": 190})),
        }));
    }

    #[test]
    fn native_views_declare_their_fields_in_sorted_order() {
        let windows = WithWindows {
            contact: contact(),
            windows: vec![(
                ContactWindow {
                    channel_id: "chn_1".into(),
                    contact_id: "con_1".into(),
                    tenant_id: "ten_1".into(),
                    last_inbound_at: Some(10),
                    entry_point_at: Some(10),
                    fep_opened_at: Some(11),
                    fep_expires_at: Some(12),
                },
                Some("1".into()),
            )],
        };
        assert_same_bytes(ContactWithWindows::new(&windows, 11));
        let session = Session {
            id: "ses_1".into(),
            tenant_id: "ten_1".into(),
            channel_id: "chn_1".into(),
            contact_id: "con_1".into(),
            kind: None,
            opened_by: "session_start".into(),
            opened_at: 1,
            expires_at: 2,
            closed_at: None,
            close_reason: None,
            last_inbound_at: None,
            updated_at: 1,
        };
        assert_same_bytes(SessionStartView::new(
            &Started {
                contact: windows,
                session,
                reused: false,
                message: message(),
            },
            1,
        ));
        let receipt = openbsp_wire::send::ReadReceipt {
            message_id: "wamid.1".into(),
            typing_indicator: true,
        };
        assert_same_bytes(MessageOrReceipt::ReadReceipt(ReadReceiptView::new(
            &receipt,
        )));
        assert_same_bytes(MessageOrReceipt::Message(Box::new(MessageView::new(
            &message(),
            None,
        ))));

        let endpoint = WebhookEndpoint {
            id: "whe_1".into(),
            tenant_id: "ten_1".into(),
            url: "https://example.com/hook".into(),
            description: Some("d".into()),
            events: vec!["message.*".into()],
            format: "native".into(),
            enabled: true,
            disabled_reason: None,
            secret_enc: "x".into(),
            previous_secret_enc: Some("y".into()),
            previous_secret_expires_at: Some(100),
            failing_since: Some(5),
            cursor: None,
            created_at: 1,
            updated_at: 2,
            options: None,
        };
        let secret = Secret::from_bytes(&[7; 32]);
        assert_same_bytes(EndpointView::new(&endpoint, Some(&secret), 50));
        assert_same_bytes(ReplayView::new(&endpoint, 3));
        assert_same_bytes(AttemptView::new(&LoggedAttempt {
            seq: 9,
            attempt: DeliveryAttempt {
                endpoint_id: "whe_1".into(),
                tenant_id: "ten_1".into(),
                event_id: "evt_1".into(),
                event_type: "message.sent".into(),
                attempt: 1,
                at: 1,
                succeeded: false,
                status_code: Some(500),
                latency_ms: 12,
                error: Some("boom".into()),
                response: Some("no".into()),
                next_attempt_at: Some(2),
            },
        }));

        let t = template();
        assert_same_bytes(DeletedTemplatesView::new(std::slice::from_ref(&t)));
        assert_same_bytes(TemplateHistoryView::new(
            &t,
            &[TemplateEvent {
                template_id: "tpl_1".into(),
                kind: "status".into(),
                value: Some("APPROVED".into()),
                previous: Some("PENDING".into()),
                reason: None,
                detail: json!({"z": 1, "a": 2}),
                at: 3,
            }],
        ));
        assert_same_bytes(TemplateSyncView::new(&SyncReport::default(), "waba"));
        let send = TemplateSendView::new(&t, json!([{"type": "body", "parameters": []}]));
        assert_eq!(
            to_value(&send),
            json!({"name": "shipping", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": []}]})
        );
        let rendered = Rendered {
            header: Some("Hi".into()),
            body: "Body".into(),
            footer: None,
            buttons: vec!["Track".into()],
            cards: vec![RenderedCard {
                body: Some("card".into()),
                buttons: vec!["Buy".into()],
            }],
            text: "Hi\n\nBody".into(),
        };
        assert_same_bytes(TemplatePreviewView::new(&t, send, rendered, true));

        for meta_code in [None, Some(131047)] {
            assert_same_bytes(ErrorEnvelope {
                error: ErrorView {
                    code: "invalid_template",
                    details: vec![
                        ErrorDetail::Rule {
                            field: "components[0].text".into(),
                            message: "too long".into(),
                            meta_subcode: Some(2388040),
                            rule: "body_too_long",
                        },
                        ErrorDetail::MetaSubcode {
                            meta_subcode: 2388023,
                        },
                    ],
                    message: "m".into(),
                    meta_code,
                    request_id: "req_1".into(),
                },
            });
        }
    }
}
