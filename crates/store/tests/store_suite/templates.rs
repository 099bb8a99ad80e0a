//! Template management: creating, reading, listing, editing, syncing and deleting templates,
//! their history (from the gateway's own changes and Meta's webhooks), tenant isolation, and
//! the template an outbound message was sent from.

use std::sync::Arc;

use openbsp_domain::windows::SendKind;
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::{Value, json};

use crate::fixtures::*;

fn body(text: &str) -> Value {
    json!([{"type": "BODY", "text": text}])
}

fn new_template(w: &World, name: &str, language: &str, meta_id: &str, at: i64) -> NewTemplate {
    NewTemplate {
        tenant_id: w.tenant.id.clone(),
        waba_id: w.channel.waba_id.clone(),
        name: name.to_string(),
        language: language.to_string(),
        category: "UTILITY".to_string(),
        parameter_format: "POSITIONAL".to_string(),
        components: body(&format!("{name} {language} {{{{1}}}}")),
        status: "PENDING".to_string(),
        meta_template_id: Some(meta_id.to_string()),
        message_send_ttl_seconds: None,
        at,
    }
}

fn filter(w: &World) -> TemplateFilter {
    TemplateFilter {
        tenant_id: w.tenant.id.clone(),
        limit: 100,
        ..TemplateFilter::default()
    }
}

fn synced(w: &World, name: &str, meta_id: &str, status: &str, at: i64) -> SyncedTemplate {
    SyncedTemplate {
        tenant_id: w.tenant.id.clone(),
        waba_id: w.channel.waba_id.clone(),
        name: name.to_string(),
        language: "en_US".to_string(),
        meta_template_id: meta_id.to_string(),
        category: Some("MARKETING".to_string()),
        status: status.to_string(),
        components: body("Sale! {{1}}"),
        parameter_format: Some("POSITIONAL".to_string()),
        quality_score: Some("GREEN".to_string()),
        reason: None,
        previous_category: None,
        message_send_ttl_seconds: Some(3_600),
        at,
    }
}

fn webhook(w: &World, name: &str, event: &str, at: i64) -> TemplateUpdate {
    TemplateUpdate {
        tenant_id: w.tenant.id.clone(),
        waba_id: w.channel.waba_id.clone(),
        name: name.to_string(),
        language: "en_US".to_string(),
        category: None,
        status: None,
        meta_template_id: None,
        reason: None,
        quality_score: None,
        previous_category: None,
        event: event.to_string(),
        detail: json!({}),
        at,
    }
}

async fn create(store: &Arc<dyn Store>, new: &NewTemplate) -> Template {
    store.create_template(new).await.expect("create template")
}

async fn list(store: &Arc<dyn Store>, f: &TemplateFilter) -> Vec<String> {
    store
        .list_templates(f)
        .await
        .expect("list templates")
        .into_iter()
        .map(|t| format!("{}/{}", t.name, t.language))
        .collect()
}

/// (kind, value, previous) of a template's history, oldest first.
async fn history(store: &Arc<dyn Store>, w: &World, id: &str) -> Vec<(String, String, String)> {
    store
        .template_history(&w.tenant.id, id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| {
            (
                e.kind,
                e.value.unwrap_or_default(),
                e.previous.unwrap_or_default(),
            )
        })
        .collect()
}

fn entry(kind: &str, value: &str, previous: &str) -> (String, String, String) {
    (kind.into(), value.into(), previous.into())
}

pub async fn templates_create_get_list_and_conflict(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let second = second_channel(&store, &w).await;
    let w2 = World {
        tenant: w.tenant.clone(),
        app: w.app.clone(),
        channel: second,
    };

    let mut greet_new = new_template(&w, "greet", "en_US", "901", 10_000);
    greet_new.message_send_ttl_seconds = Some(600);
    let greet = create(&store, &greet_new).await;
    assert!(greet.id.starts_with("tpl_"), "{}", greet.id);
    assert_eq!(
        greet,
        Template {
            id: greet.id.clone(),
            tenant_id: w.tenant.id.clone(),
            waba_id: w.channel.waba_id.clone(),
            name: "greet".into(),
            language: "en_US".into(),
            category: Some("UTILITY".into()),
            status: "PENDING".into(),
            meta_template_id: Some("901".into()),
            components: greet_new.components.clone(),
            quality_score: None,
            reason: None,
            created_at: 10_000,
            updated_at: 10_000,
            parameter_format: Some("POSITIONAL".into()),
            previous_category: None,
            message_send_ttl_seconds: Some(600),
            deleted_at: None,
        }
    );
    let greet_es = create(&store, &new_template(&w, "greet", "es_ES", "902", 11_000)).await;
    let mut promo_new = new_template(&w, "promo", "en_US", "903", 12_000);
    promo_new.category = "MARKETING".into();
    promo_new.status = "APPROVED".into();
    promo_new.parameter_format = "NAMED".into();
    let promo = create(&store, &promo_new).await;
    let other_waba = create(&store, &new_template(&w2, "greet", "en_US", "904", 13_000)).await;
    assert_ne!(other_waba.id, greet.id, "the same name in another WABA");

    // By the gateway's id and by Meta's.
    assert_eq!(
        store.get_template(&w.tenant.id, &greet.id).await.unwrap(),
        Some(greet.clone())
    );
    assert_eq!(
        store.get_template(&w.tenant.id, "902").await.unwrap(),
        Some(greet_es.clone())
    );
    assert_eq!(store.get_template(&w.tenant.id, "999").await.unwrap(), None);
    assert_eq!(
        store.get_template(&w.tenant.id, "tpl_nope").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_template(&w.tenant.id, &w.channel.waba_id, "promo", "en_US")
            .await
            .unwrap(),
        Some(promo.clone())
    );
    assert_eq!(
        history(&store, &w, &greet.id).await,
        vec![entry("created", "PENDING", "")]
    );

    // Listing: everything in id order, then each filter.
    let all = store.list_templates(&filter(&w)).await.unwrap();
    assert_eq!(
        all,
        vec![
            greet.clone(),
            greet_es.clone(),
            promo.clone(),
            other_waba.clone()
        ]
    );
    let f = |edit: &dyn Fn(&mut TemplateFilter)| {
        let mut f = filter(&w);
        edit(&mut f);
        f
    };
    let waba1 = Some(w.channel.waba_id.clone());
    assert_eq!(
        list(&store, &f(&|f| f.waba_id = waba1.clone())).await,
        ["greet/en_US", "greet/es_ES", "promo/en_US"]
    );
    assert_eq!(
        list(
            &store,
            &f(&|f| f.waba_id = Some(w2.channel.waba_id.clone()))
        )
        .await,
        ["greet/en_US"]
    );
    assert_eq!(
        list(&store, &f(&|f| f.name = Some("greet".into()))).await,
        ["greet/en_US", "greet/es_ES", "greet/en_US"]
    );
    assert_eq!(
        list(&store, &f(&|f| f.status = Some("APPROVED".into()))).await,
        ["promo/en_US"]
    );
    assert_eq!(
        list(&store, &f(&|f| f.category = Some("UTILITY".into()))).await,
        ["greet/en_US", "greet/es_ES", "greet/en_US"]
    );
    assert_eq!(
        list(&store, &f(&|f| f.language = Some("es_ES".into()))).await,
        ["greet/es_ES"]
    );
    assert_eq!(
        list(
            &store,
            &f(&|f| {
                f.waba_id = waba1.clone();
                f.language = Some("en_US".into());
            })
        )
        .await,
        ["greet/en_US", "promo/en_US"]
    );
    assert!(
        list(&store, &f(&|f| f.waba_id = Some("nope".into())))
            .await
            .is_empty()
    );

    // Cursor paging: pages of two, each after the last id of the one before.
    let mut pages = Vec::new();
    let mut after = None;
    // Bounded: a cursor that does not move on must fail the test, not hang it.
    for _ in 0..4 {
        let page = store
            .list_templates(&TemplateFilter {
                limit: 2,
                after: after.clone(),
                ..filter(&w)
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|t| t.id.clone());
        pages.push(page.into_iter().map(|t| t.id).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        vec![
            vec![greet.id.clone(), greet_es.id.clone()],
            vec![promo.id.clone(), other_waba.id.clone()]
        ]
    );

    assert_eq!(store.count_templates(&w.channel.waba_id).await.unwrap(), 3);
    assert_eq!(store.count_templates(&w2.channel.waba_id).await.unwrap(), 1);
    assert_eq!(store.count_templates("nope").await.unwrap(), 0);

    // The same name and language again in that WABA: a conflict, nothing changes.
    let mut dup = new_template(&w, "greet", "en_US", "905", 14_000);
    dup.category = "MARKETING".into();
    match store.create_template(&dup).await {
        Err(StoreError::Conflict(what)) => assert!(!what.is_empty()),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_template(&w.tenant.id, &greet.id).await.unwrap(),
        Some(greet.clone())
    );
    assert_eq!(store.count_templates(&w.channel.waba_id).await.unwrap(), 3);
    assert_eq!(history(&store, &w, &greet.id).await.len(), 1);
}

pub async fn templates_delete_and_recreate(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let en = create(&store, &new_template(&w, "greet", "en_US", "901", 10_000)).await;
    let es = create(&store, &new_template(&w, "greet", "es_ES", "902", 10_001)).await;
    let fr = create(&store, &new_template(&w, "greet", "fr_FR", "903", 10_002)).await;
    let other = create(&store, &new_template(&w, "other", "en_US", "904", 10_003)).await;
    let waba = w.channel.waba_id.clone();

    // One language, by Meta's id.
    let gone = store
        .delete_templates(&w.tenant.id, &waba, "greet", Some("902"), 20_000)
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].id, es.id);
    assert_eq!(gone[0].status, "DELETED");
    assert_eq!(gone[0].deleted_at, Some(20_000));
    assert_eq!(gone[0].updated_at, 20_000);
    assert_eq!(
        store.get_template(&w.tenant.id, &es.id).await.unwrap(),
        Some(gone[0].clone()),
        "a deleted template can still be read"
    );
    assert_eq!(store.count_templates(&waba).await.unwrap(), 3);
    assert_eq!(
        list(&store, &filter(&w)).await,
        ["greet/en_US", "greet/fr_FR", "other/en_US"]
    );
    assert_eq!(
        list(
            &store,
            &TemplateFilter {
                include_deleted: true,
                ..filter(&w)
            }
        )
        .await,
        ["greet/en_US", "greet/es_ES", "greet/fr_FR", "other/en_US"]
    );
    // One language, by the gateway's id.
    let gone = store
        .delete_templates(&w.tenant.id, &waba, "greet", Some(&fr.id), 21_000)
        .await
        .unwrap();
    assert_eq!(gone.iter().map(|t| &t.id).collect::<Vec<_>>(), [&fr.id]);
    // An id of another name deletes nothing.
    assert!(
        store
            .delete_templates(&w.tenant.id, &waba, "greet", Some("904"), 21_500)
            .await
            .unwrap()
            .is_empty()
    );

    // Every language left: only en_US was.
    let gone = store
        .delete_templates(&w.tenant.id, &waba, "greet", None, 22_000)
        .await
        .unwrap();
    assert_eq!(gone.iter().map(|t| &t.id).collect::<Vec<_>>(), [&en.id]);
    assert_eq!(gone[0].deleted_at, Some(22_000));
    assert_eq!(list(&store, &filter(&w)).await, ["other/en_US"]);
    assert_eq!(store.count_templates(&waba).await.unwrap(), 1);
    // Deleting again finds nothing left to delete, and keeps the first deletion's time.
    assert!(
        store
            .delete_templates(&w.tenant.id, &waba, "greet", None, 23_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_template(&w.tenant.id, &es.id)
            .await
            .unwrap()
            .unwrap()
            .deleted_at,
        Some(20_000)
    );
    assert_eq!(
        history(&store, &w, &es.id).await,
        vec![
            entry("created", "PENDING", ""),
            entry("deleted", "DELETED", "PENDING")
        ]
    );
    assert_eq!(
        store
            .find_template(&w.tenant.id, &waba, "greet", "en_US")
            .await
            .unwrap()
            .map(|t| t.status),
        Some("DELETED".to_string()),
        "find_template returns deleted templates"
    );

    // Creating a deleted name again reuses its row: same id, everything else new.
    let mut again = new_template(&w, "greet", "es_ES", "905", 30_000);
    again.category = "MARKETING".into();
    again.parameter_format = "NAMED".into();
    again.components = body("¡Hola {{name}}!");
    again.message_send_ttl_seconds = Some(120);
    let recreated = create(&store, &again).await;
    assert_eq!(recreated.id, es.id);
    assert_eq!(
        recreated,
        Template {
            id: es.id.clone(),
            tenant_id: w.tenant.id.clone(),
            waba_id: waba.clone(),
            name: "greet".into(),
            language: "es_ES".into(),
            category: Some("MARKETING".into()),
            status: "PENDING".into(),
            meta_template_id: Some("905".into()),
            components: again.components.clone(),
            quality_score: None,
            reason: None,
            created_at: 30_000,
            updated_at: 30_000,
            parameter_format: Some("NAMED".into()),
            previous_category: None,
            message_send_ttl_seconds: Some(120),
            deleted_at: None,
        }
    );
    assert_eq!(
        store.get_template(&w.tenant.id, "905").await.unwrap(),
        Some(recreated.clone())
    );
    assert_eq!(
        list(&store, &filter(&w)).await,
        ["greet/es_ES", "other/en_US"]
    );
    assert_eq!(store.count_templates(&waba).await.unwrap(), 2);
    assert_eq!(
        history(&store, &w, &es.id).await,
        vec![
            entry("created", "PENDING", ""),
            entry("deleted", "DELETED", "PENDING"),
            entry("created", "PENDING", "DELETED"),
        ]
    );
    // A live one is not reused.
    assert!(matches!(
        store.create_template(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_template(&w.tenant.id, &other.id).await.unwrap(),
        Some(other)
    );
}

pub async fn templates_edit(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let t = create(&store, &new_template(&w, "greet", "en_US", "901", 10_000)).await;

    let edit = TemplateEdit {
        tenant_id: w.tenant.id.clone(),
        id: "901".into(),
        components: Some(body("Hello again {{1}}")),
        category: Some("MARKETING".into()),
        message_send_ttl_seconds: Some(900),
        status: Some("PENDING".into()),
        at: 20_000,
    };
    let edited = store.edit_template(&edit).await.unwrap().expect("edited");
    assert_eq!(
        edited,
        Template {
            components: body("Hello again {{1}}"),
            category: Some("MARKETING".into()),
            message_send_ttl_seconds: Some(900),
            updated_at: 20_000,
            ..t.clone()
        }
    );
    assert_eq!(
        store.get_template(&w.tenant.id, &t.id).await.unwrap(),
        Some(edited.clone())
    );
    let events = store.template_history(&w.tenant.id, &t.id).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        TemplateEvent {
            template_id: t.id.clone(),
            kind: "edited".into(),
            value: Some("PENDING".into()),
            previous: Some("PENDING".into()),
            reason: None,
            detail: json!({
                "components": body("Hello again {{1}}"),
                "category": "MARKETING",
                "message_send_ttl_seconds": 900
            }),
            at: 20_000,
        }
    );

    // Only what is given changes (by the gateway's id this time); no status: value ''.
    let edited2 = store
        .edit_template(&TemplateEdit {
            tenant_id: w.tenant.id.clone(),
            id: t.id.clone(),
            components: None,
            category: Some("UTILITY".into()),
            message_send_ttl_seconds: None,
            status: None,
            at: 21_000,
        })
        .await
        .unwrap()
        .expect("edited");
    assert_eq!(edited2.category.as_deref(), Some("UTILITY"));
    assert_eq!(edited2.components, body("Hello again {{1}}"));
    assert_eq!(edited2.message_send_ttl_seconds, Some(900));
    assert_eq!(edited2.status, "PENDING");
    let events = store.template_history(&w.tenant.id, &t.id).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].kind, "edited");
    assert_eq!(events[2].value, None);
    assert_eq!(events[2].detail, json!({"category": "UTILITY"}));

    // Unknown, or another tenant's: None, and nothing changes.
    let mut ghost = edit.clone();
    ghost.id = "tpl_nope".into();
    assert_eq!(store.edit_template(&ghost).await.unwrap(), None);
    let globex = world(&store, "Globex").await;
    let mut foreign = edit.clone();
    foreign.tenant_id = globex.tenant.id.clone();
    foreign.at = 22_000;
    assert_eq!(store.edit_template(&foreign).await.unwrap(), None);
    assert_eq!(
        store.get_template(&w.tenant.id, &t.id).await.unwrap(),
        Some(edited2)
    );
}

pub async fn templates_sync_creates_changes_or_leaves_alone(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;

    // Unknown: created.
    let s = synced(&w, "sale", "801", "APPROVED", 10_000);
    let first = store.sync_template(&s).await.unwrap();
    assert!(first.created && first.changed);
    let t = first.template.clone();
    assert!(t.id.starts_with("tpl_"));
    assert_eq!(
        t,
        Template {
            id: t.id.clone(),
            tenant_id: w.tenant.id.clone(),
            waba_id: w.channel.waba_id.clone(),
            name: "sale".into(),
            language: "en_US".into(),
            category: Some("MARKETING".into()),
            status: "APPROVED".into(),
            meta_template_id: Some("801".into()),
            components: body("Sale! {{1}}"),
            quality_score: Some("GREEN".into()),
            reason: None,
            created_at: 10_000,
            updated_at: 10_000,
            parameter_format: Some("POSITIONAL".into()),
            previous_category: None,
            message_send_ttl_seconds: Some(3_600),
            deleted_at: None,
        }
    );
    assert_eq!(
        store.get_template(&w.tenant.id, "801").await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        history(&store, &w, &t.id).await,
        vec![entry("synced", "APPROVED", "")]
    );

    // The same again, later: unchanged, no history entry, no write.
    let mut same = s.clone();
    same.at = 11_000;
    let second = store.sync_template(&same).await.unwrap();
    assert!(!second.created && !second.changed);
    assert_eq!(second.template, t);
    assert_eq!(history(&store, &w, &t.id).await.len(), 1);

    // Meta re-categorised it and its quality dropped: changed.
    let mut moved = s.clone();
    moved.category = Some("UTILITY".into());
    moved.previous_category = Some("MARKETING".into());
    moved.quality_score = Some("YELLOW".into());
    moved.at = 12_000;
    let third = store.sync_template(&moved).await.unwrap();
    assert!(!third.created && third.changed);
    assert_eq!(third.template.id, t.id);
    assert_eq!(third.template.category.as_deref(), Some("UTILITY"));
    assert_eq!(
        third.template.previous_category.as_deref(),
        Some("MARKETING")
    );
    assert_eq!(third.template.quality_score.as_deref(), Some("YELLOW"));
    assert_eq!(third.template.updated_at, 12_000);
    let events = store.template_history(&w.tenant.id, &t.id).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].kind, "synced");
    assert_eq!(events[1].previous.as_deref(), Some("APPROVED"));
    assert_eq!(
        events[1].detail,
        json!({"category": "UTILITY", "previous_category": "MARKETING", "quality_score": "YELLOW"})
    );
    // Components alone are a change too.
    let mut reworded = moved.clone();
    reworded.components = body("Bigger sale! {{1}}");
    reworded.at = 13_000;
    let current = store.sync_template(&reworded).await.unwrap();
    assert!(current.changed);
    assert_eq!(current.template.components, body("Bigger sale! {{1}}"));
    assert_eq!(history(&store, &w, &t.id).await.len(), 3);

    // A template the gateway created and deleted, still listed by Meta: back, not deleted.
    let gw = create(&store, &new_template(&w, "greet", "en_US", "802", 14_000)).await;
    store
        .delete_templates(&w.tenant.id, &w.channel.waba_id, "greet", None, 15_000)
        .await
        .unwrap();
    let mut listed = synced(&w, "greet", "802", "APPROVED", 16_000);
    listed.category = Some("UTILITY".into());
    let back = store.sync_template(&listed).await.unwrap();
    assert!(!back.created && back.changed);
    assert_eq!(back.template.id, gw.id);
    assert_eq!(back.template.status, "APPROVED");
    assert_eq!(back.template.deleted_at, None);
    assert_eq!(back.template.created_at, 14_000);
    assert_eq!(store.count_templates(&w.channel.waba_id).await.unwrap(), 2);

    // Another tenant's WABA, name and language: a conflict.
    let globex = world(&store, "Globex").await;
    let mut theirs = s.clone();
    theirs.tenant_id = globex.tenant.id.clone();
    theirs.at = 17_000;
    assert!(matches!(
        store.sync_template(&theirs).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_template(&w.tenant.id, &t.id).await.unwrap(),
        Some(current.template),
        "untouched by the other tenant's sync"
    );
    assert_eq!(history(&store, &w, &t.id).await.len(), 3);
}

pub async fn templates_webhook_updates_record_history(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let t = create(&store, &new_template(&w, "greet", "en_US", "901", 10_000)).await;

    // Approved.
    let approved = TemplateUpdate {
        status: Some("APPROVED".into()),
        meta_template_id: Some("901".into()),
        detail: json!({"event": "APPROVED", "message_template_id": 901}),
        ..webhook(&w, "greet", "status", 20_000)
    };
    let now = store.apply_template_update(&approved).await.unwrap();
    assert_eq!(now.id, t.id);
    assert_eq!(now.status, "APPROVED");
    assert_eq!(now.updated_at, 20_000);
    // Meta delivers it again: nothing new.
    let again = store.apply_template_update(&approved).await.unwrap();
    assert_eq!(again, now);
    // Quality.
    let quality = TemplateUpdate {
        quality_score: Some("RED".into()),
        ..webhook(&w, "greet", "quality", 21_000)
    };
    let now = store.apply_template_update(&quality).await.unwrap();
    assert_eq!(now.quality_score.as_deref(), Some("RED"));
    assert_eq!(now.status, "APPROVED");
    // Category.
    let category = TemplateUpdate {
        category: Some("MARKETING".into()),
        previous_category: Some("UTILITY".into()),
        ..webhook(&w, "greet", "category", 22_000)
    };
    let now = store.apply_template_update(&category).await.unwrap();
    assert_eq!(now.category.as_deref(), Some("MARKETING"));
    assert_eq!(now.previous_category.as_deref(), Some("UTILITY"));
    // Rejected, with a reason.
    let rejected = TemplateUpdate {
        status: Some("REJECTED".into()),
        reason: Some("INVALID_FORMAT".into()),
        ..webhook(&w, "greet", "status", 23_000)
    };
    let now = store.apply_template_update(&rejected).await.unwrap();
    assert_eq!(now.reason.as_deref(), Some("INVALID_FORMAT"));
    store.apply_template_update(&quality).await.unwrap(); // a late redelivery

    assert_eq!(
        history(&store, &w, &t.id).await,
        vec![
            entry("created", "PENDING", ""),
            entry("status", "APPROVED", "PENDING"),
            entry("quality", "RED", ""),
            entry("category", "MARKETING", "UTILITY"),
            entry("status", "REJECTED", "APPROVED"),
        ]
    );
    let events = store.template_history(&w.tenant.id, &t.id).await.unwrap();
    assert_eq!(events[1].detail, approved.detail);
    assert_eq!(events[1].at, 20_000);
    assert_eq!(events[4].reason.as_deref(), Some("INVALID_FORMAT"));
    assert_eq!(events[0].detail, json!({}));

    // Meta deleted it: deleted, and no longer counted.
    let deleted = TemplateUpdate {
        status: Some("DELETED".into()),
        ..webhook(&w, "greet", "status", 24_000)
    };
    let now = store.apply_template_update(&deleted).await.unwrap();
    assert_eq!(now.deleted_at, Some(24_000));
    assert_eq!(
        now.reason, None,
        "a new status replaces the old one's reason"
    );
    assert_eq!(store.count_templates(&w.channel.waba_id).await.unwrap(), 0);

    // A template the gateway did not know: created, UNKNOWN unless told.
    let unknown = TemplateUpdate {
        quality_score: Some("GREEN".into()),
        ..webhook(&w, "legacy", "quality", 25_000)
    };
    let legacy = store.apply_template_update(&unknown).await.unwrap();
    assert!(legacy.id.starts_with("tpl_"));
    assert_eq!(legacy.status, "UNKNOWN");
    assert_eq!(legacy.quality_score.as_deref(), Some("GREEN"));
    assert_eq!(legacy.created_at, 25_000);
    assert_eq!(
        history(&store, &w, &legacy.id).await,
        vec![entry("quality", "GREEN", "")]
    );

    // Another tenant's update for this WABA's template: a conflict, nothing recorded.
    let globex = world(&store, "Globex").await;
    let mut foreign = approved.clone();
    foreign.tenant_id = globex.tenant.id.clone();
    foreign.at = 26_000;
    assert!(matches!(
        store.apply_template_update(&foreign).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(history(&store, &w, &t.id).await.len(), 6);
}

pub async fn templates_other_tenants_see_nothing(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let t = create(&store, &new_template(&w, "greet", "en_US", "901", 10_000)).await;
    let theirs = &globex.tenant.id;

    assert_eq!(store.get_template(theirs, &t.id).await.unwrap(), None);
    assert_eq!(store.get_template(theirs, "901").await.unwrap(), None);
    assert_eq!(
        store
            .find_template(theirs, &w.channel.waba_id, "greet", "en_US")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .list_templates(&TemplateFilter {
                include_deleted: true,
                ..filter(&globex)
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .template_history(theirs, &t.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .delete_templates(theirs, &w.channel.waba_id, "greet", None, 20_000)
            .await
            .unwrap()
            .is_empty()
    );
    // Creating it in a WABA the other tenant holds that name in: a conflict.
    let mut dup = new_template(&w, "greet", "en_US", "902", 21_000);
    dup.tenant_id = theirs.clone();
    assert!(matches!(
        store.create_template(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // The owner still sees it, untouched.
    assert_eq!(
        store.get_template(&w.tenant.id, &t.id).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(history(&store, &w, &t.id).await.len(), 1);
}

fn templated(channel: &Channel, to: &str, at: i64, n: usize) -> NewOutbound {
    let mut new = outbound(channel, to, at);
    new.message.msg_type = "template".into();
    new.message.template_id = Some(format!("tpl_{n}"));
    new.message.rendered_text = Some(format!("Hello {to}, your code is {n}"));
    new
}

pub async fn templates_messages_keep_their_template_and_text(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;

    // Plain enqueue.
    let new = templated(&w.channel, "15550001", 10_000, 1);
    let m = enqueue(&store, new.clone()).await;
    assert_eq!(m.template_id.as_deref(), Some("tpl_1"));
    let stored = message(&store, &w.tenant.id, &m.id).await;
    assert_eq!(stored, m);
    assert_eq!(
        stored.rendered_text.as_deref(),
        Some("Hello 15550001, your code is 1")
    );

    // Behind the send policy (a template may go outside the window).
    let check = openbsp_store::policy::SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: Some("utility".into()),
        opened_by: "session_start".into(),
        reach: None,
    };
    let new = templated(&w.channel, "15550002", 11_000, 2);
    let checked = match store.enqueue_checked(new, &check).await.unwrap() {
        Ok(EnqueueOutcome::Created { message: m, .. }) => m,
        other => panic!("expected Created, got {other:?}"),
    };
    let stored = message(&store, &w.tenant.id, &checked.id).await;
    assert_eq!(stored.template_id.as_deref(), Some("tpl_2"));
    assert_eq!(
        stored.rendered_text.as_deref(),
        Some("Hello 15550002, your code is 2")
    );
    // An idempotent retry answers with the stored message, fields included.
    let keyed_new = {
        let mut n = templated(&w.channel, "15550003", 12_000, 3);
        n.message.idempotency_key = Some("k-3".into());
        n
    };
    let first = enqueue(&store, keyed_new.clone()).await;
    match store.enqueue_outbound(keyed_new).await.unwrap() {
        EnqueueOutcome::Existing(e) => {
            assert_eq!(e.id, first.id);
            assert_eq!(e.template_id.as_deref(), Some("tpl_3"));
            assert_eq!(
                e.rendered_text.as_deref(),
                Some("Hello 15550003, your code is 3")
            );
        }
        other => panic!("expected Existing, got {other:?}"),
    }

    // Many at once (the group commit's batches), with and without a template.
    let sends: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            let to = format!("1556{i:07}");
            let new = if i % 2 == 0 {
                templated(&w.channel, &to, 13_000 + i as i64, 100 + i)
            } else {
                outbound(&w.channel, &to, 13_000 + i as i64)
            };
            tokio::spawn(async move { enqueue(&store, new).await })
        })
        .collect();
    for (i, send) in sends.into_iter().enumerate() {
        let m = send.await.unwrap();
        let stored = message(&store, &w.tenant.id, &m.id).await;
        if i % 2 == 0 {
            assert_eq!(stored.template_id, Some(format!("tpl_{}", 100 + i)));
            assert!(stored.rendered_text.is_some());
        } else {
            assert_eq!((stored.template_id, stored.rendered_text), (None, None));
        }
    }
    // Listing reads them too.
    let listed = store
        .list_messages(
            &w.tenant.id,
            &MessageFilter {
                recipient: Some("15550001".into()),
                ..MessageFilter::default()
            },
            &Page {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].template_id.as_deref(), Some("tpl_1"));

    // Inbound messages have none, even if the caller set them.
    let mut inb = inbound(&w.channel, "15550001", "wamid.in1", None, 14_000);
    inb.message.template_id = Some("tpl_x".into());
    inb.message.rendered_text = Some("x".into());
    assert!(store.insert_inbound(&inb).await.unwrap());
    let stored = message(&store, &w.tenant.id, "wamid.in1").await;
    assert_eq!((stored.template_id, stored.rendered_text), (None, None));
}
