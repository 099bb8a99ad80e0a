//! Template management and the template check of every send, shared by the native
//! `/v1/templates` routes, the Graph-compatible routes and the send path.
//!
//! Definitions are validated like Meta (`openbsp_wire::template`) before Meta is called;
//! what Meta accepts is stored (PENDING until its review webhook arrives). A send names a
//! template by name and language: the stored template must be usable (132001 / 132015 /
//! 132016) and the send's parameters must fit it (132000 / 132005 / 132012 / 132018), all
//! before anything is queued. A template the gateway does not know yet (created in WhatsApp
//! Manager, say) is looked up on Meta once before the send is refused.

use std::collections::HashMap;
use std::sync::Arc;

use openbsp_store::{
    Channel, NewTemplate, StoreError, SyncedTemplate, Template, TemplateEdit, TemplateFilter,
};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::{
    self, Definition, Rendered, parse_definition, status_error, subcodes,
};
use reqwest::Method;
use serde_json::{Value, json};

use openbsp_domain::refs::ChannelRef;
use openbsp_wire::ids::{LanguageCode, TemplateName};

use super::{Core, CoreError, CoreResult};

/// A deleted template's name can be used again in that language after 30 days.
pub const NAME_REUSE_MS: i64 = 30 * 24 * 3600 * 1000;
/// An APPROVED template may be edited once per 24 hours…
pub const EDIT_SPACING_MS: i64 = 24 * 3600 * 1000;
/// …and 10 times per 30 days.
pub const EDITS_PER_30_DAYS: usize = 10;
const THIRTY_DAYS_MS: i64 = 30 * 24 * 3600 * 1000;

/// The channel a tenant's `waba_id` (or channel id, or phone number id) is reached through.
pub async fn waba_channel(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Channel> {
    if let Some(r) = ChannelRef::parse(id)
        && let Some(c) = core.tenant_channel(tenant_id, &r).await?
    {
        return Ok(c);
    }
    core.store
        .list_channels(Some(tenant_id))
        .await?
        .into_iter()
        .find(|c| c.waba_id == id)
        .ok_or_else(|| CoreError::not_found("channel", id))
}

async fn graph(
    core: &Core,
    channel: &Channel,
    method: Method,
    path: &str,
    query: &[(String, String)],
    body: Option<&Value>,
) -> CoreResult<Value> {
    let token = core.access_token(channel)?;
    core.graph
        .call(channel, &token, method, path, query, body)
        .await
        .map_err(CoreError::TemplateRefused)
}

fn already_exists(name: &str, language: &str) -> CoreError {
    CoreError::TemplateRefused(MetaError::with_subcode(
        codes::INVALID_PARAMETER,
        subcodes::ALREADY_EXISTS,
        format!(
            "There is already {language} content for this template ({name}). Edit it, or create a template with another name."
        ),
    ))
}

/// Creates a template: validated like Meta, checked against the WABA's templates (a name in
/// use, or deleted less than 30 days ago, in that language; the WABA's limit), submitted to
/// Meta, stored with Meta's id and status (PENDING).
pub async fn create(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    body: &Value,
) -> CoreResult<Template> {
    let def = parse_definition(body)?;
    let now = core.now();
    if let Some(t) = core
        .store
        .find_template(tenant_id, &channel.waba_id, &def.name, &def.language)
        .await?
    {
        if t.status != "DELETED" {
            return Err(already_exists(&def.name, &def.language));
        }
        if let Some(at) = t.deleted_at
            && now - at < NAME_REUSE_MS
        {
            return Err(CoreError::TemplateRefused(MetaError::with_subcode(
                codes::INVALID_PARAMETER,
                subcodes::LANGUAGE_BEING_DELETED,
                format!(
                    "{} ({}) was deleted at {}; the name can be used again in this language after {}.",
                    def.name,
                    def.language,
                    openbsp_domain::clock::rfc3339(at),
                    openbsp_domain::clock::rfc3339(at + NAME_REUSE_MS)
                ),
            )));
        }
    }
    if core.store.count_templates(&channel.waba_id).await? as usize
        >= template::MAX_TEMPLATES_PER_WABA
    {
        return Err(CoreError::TemplateRefused(MetaError::with_subcode(
            codes::INVALID_PARAMETER,
            subcodes::LIMIT_REACHED,
            format!(
                "WhatsApp Business Account {} already has {} templates; delete some first.",
                channel.waba_id,
                template::MAX_TEMPLATES_PER_WABA
            ),
        )));
    }
    let mut request = json!({
        "name": def.name,
        "language": def.language,
        "category": def.category.as_str(),
        "components": body["components"],
    });
    // Header samples given as gateway media go to Meta by its resumable upload.
    super::media::template_samples(core, tenant_id, channel, &mut request["components"]).await?;
    if let Some(f) = body.get("parameter_format").filter(|f| !f.is_null()) {
        request["parameter_format"] = f.clone();
    }
    if let Some(ttl) = body
        .get("message_send_ttl_seconds")
        .filter(|t| !t.is_null())
    {
        request["message_send_ttl_seconds"] = ttl.clone();
    }
    let answer = graph(
        core,
        channel,
        Method::POST,
        &format!("{}/message_templates", channel.waba_id),
        &[],
        Some(&request),
    )
    .await?;
    let meta_id = answer.get("id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
    });
    let status = answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("PENDING")
        .to_string();
    let category = answer
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or(def.category.as_str())
        .to_string();
    let ttl = body.get("message_send_ttl_seconds").and_then(Value::as_i64);
    let created = core
        .store
        .create_template(&NewTemplate {
            tenant_id: tenant_id.to_string(),
            waba_id: channel.waba_id.clone(),
            name: def.name.clone(),
            language: def.language.clone(),
            category: category.clone(),
            parameter_format: def.parameter_format.as_str().to_string(),
            components: def.components.clone(),
            status: status.clone(),
            meta_template_id: meta_id.clone(),
            message_send_ttl_seconds: ttl,
            at: now,
        })
        .await;
    let t = match created {
        Ok(t) => t,
        // Meta's review webhook overtook its answer: the row exists, made from the webhook,
        // whose status, category and quality are the newer news. It gets the definition.
        Err(StoreError::Conflict(_)) => {
            let known = core
                .store
                .find_template(tenant_id, &channel.waba_id, &def.name, &def.language)
                .await?
                .filter(|k| k.meta_template_id.is_none() || k.meta_template_id == meta_id)
                .ok_or_else(|| already_exists(&def.name, &def.language))?;
            core.store
                .edit_template(&TemplateEdit {
                    tenant_id: tenant_id.to_string(),
                    id: known.id.clone(),
                    components: Some(def.components.clone()),
                    category: known.category.is_none().then_some(category),
                    message_send_ttl_seconds: ttl,
                    status: None,
                    at: now,
                })
                .await?
                .ok_or_else(|| CoreError::NotFound {
                    what: known.id.clone(),
                    id: known.id.clone(),
                })?
        }
        Err(e) => return Err(e.into()),
    };
    core.invalidate();
    metrics::counter!("openbsp_templates_created_total").increment(1);
    Ok(t)
}

/// Edits a template (components, category, `message_send_ttl_seconds`) within Meta's
/// limits: only APPROVED, REJECTED or PAUSED templates; no category change once APPROVED;
/// an APPROVED template once per 24 hours and 10 times per 30 days. The new definition is
/// validated like a creation, sent to Meta, and reviewed again (PENDING).
pub async fn edit(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    t: &Template,
    body: &Value,
) -> CoreResult<Template> {
    let refuse = |msg: String| CoreError::TemplateRefused(MetaError::invalid_parameter(msg));
    if !["APPROVED", "REJECTED", "PAUSED"].contains(&t.status.as_str()) {
        return Err(refuse(format!(
            "Template {} ({}) is {}: only APPROVED, REJECTED or PAUSED templates can be edited.",
            t.name, t.language, t.status
        )));
    }
    let Some(o) = body.as_object() else {
        return Err(refuse("The request body must be a JSON object.".into()));
    };
    for k in o.keys() {
        if ![
            "components",
            "category",
            "message_send_ttl_seconds",
            "name",
            "language",
            "parameter_format",
        ]
        .contains(&k.as_str())
        {
            return Err(refuse(format!(
                "{k} cannot be edited: send components, category or message_send_ttl_seconds."
            )));
        }
    }
    for (k, current) in [("name", &t.name), ("language", &t.language)] {
        if let Some(v) = o.get(k).and_then(Value::as_str)
            && v != current
        {
            return Err(refuse(format!(
                "A template's {k} cannot be edited ({current})."
            )));
        }
    }
    let category = o
        .get("category")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .or_else(|| t.category.clone())
        .unwrap_or_else(|| "UTILITY".into());
    if t.status == "APPROVED"
        && t.category
            .as_deref()
            .is_some_and(|c| !c.eq_ignore_ascii_case(&category))
    {
        return Err(refuse(format!(
            "The category of an APPROVED template cannot be changed ({} to {category}).",
            t.category.as_deref().unwrap_or("")
        )));
    }
    let now = core.now();
    // Only new content (components or category) is reviewed again and counts as an edit.
    let content = o.contains_key("components") || o.contains_key("category");
    if t.status == "APPROVED" && content {
        let edits: Vec<i64> = core
            .store
            .template_history(tenant_id, &t.id)
            .await?
            .into_iter()
            .filter(|e| e.kind == "edited" && e.previous.as_deref() == Some("APPROVED"))
            .map(|e| e.at)
            .collect();
        if let Some(last) = edits.iter().max()
            && now - last < EDIT_SPACING_MS
        {
            return Err(refuse(format!(
                "An APPROVED template can be edited once per 24 hours; {} was last edited at {}.",
                t.name,
                openbsp_domain::clock::rfc3339(*last)
            )));
        }
        let recent = edits
            .iter()
            .filter(|at| now - **at < THIRTY_DAYS_MS)
            .count();
        if recent >= EDITS_PER_30_DAYS {
            return Err(refuse(format!(
                "An APPROVED template can be edited {EDITS_PER_30_DAYS} times per 30 days; {} has been edited {recent} times.",
                t.name
            )));
        }
    }
    let components = o
        .get("components")
        .cloned()
        .unwrap_or_else(|| t.components.clone());
    let def = if content {
        let mut full = json!({
            "name": t.name,
            "language": t.language,
            "category": category,
            "components": components,
        });
        if let Some(f) = &t.parameter_format {
            full["parameter_format"] = json!(f);
        }
        Some(parse_definition(&full)?)
    } else {
        None
    };
    let mut request = serde_json::Map::new();
    if o.contains_key("components") {
        let mut sent = components.clone();
        super::media::template_samples(core, tenant_id, channel, &mut sent).await?;
        request.insert("components".into(), sent);
    }
    if o.contains_key("category") {
        request.insert("category".into(), json!(category));
    }
    if let Some(ttl) = o.get("message_send_ttl_seconds") {
        request.insert("message_send_ttl_seconds".into(), ttl.clone());
    }
    let Some(meta_id) = &t.meta_template_id else {
        return Err(CoreError::NotFound {
            what: t.id.clone(),
            id: t.id.clone(),
        });
    };
    graph(
        core,
        channel,
        Method::POST,
        meta_id,
        &[],
        Some(&Value::Object(request)),
    )
    .await?;
    let edited = core
        .store
        .edit_template(&TemplateEdit {
            tenant_id: tenant_id.to_string(),
            id: t.id.clone(),
            components: def
                .filter(|_| o.contains_key("components"))
                .map(|d| d.components),
            category: o.contains_key("category").then(|| category.clone()),
            message_send_ttl_seconds: o.get("message_send_ttl_seconds").and_then(Value::as_i64),
            status: content.then(|| "PENDING".to_string()),
            at: now,
        })
        .await?
        .ok_or_else(|| CoreError::NotFound {
            what: t.id.clone(),
            id: t.id.clone(),
        })?;
    core.invalidate();
    Ok(edited)
}

/// Deletes a template by name (every language), or one language by id, on Meta and here.
pub async fn delete(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    name: &TemplateName,
    one: Option<&Template>,
) -> CoreResult<Vec<Template>> {
    let live = core
        .store
        .list_templates(&TemplateFilter {
            tenant_id: tenant_id.to_string(),
            waba_id: Some(channel.waba_id.clone()),
            name: Some(name.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    if live.is_empty() {
        return Err(no_such_name(name));
    }
    let mut query = vec![("name".to_string(), name.to_string())];
    if let Some(t) = one {
        // Without Meta's id, Meta would delete every language of the name.
        let Some(m) = &t.meta_template_id else {
            return Err(CoreError::TemplateRefused(MetaError::invalid_parameter(
                format!(
                    "Template {} ({}) has no Meta id yet, so one language cannot be deleted alone; sync the templates first, or delete the name in every language.",
                    t.name, t.language
                ),
            )));
        };
        query.push(("hsm_id".to_string(), m.clone()));
    }
    graph(
        core,
        channel,
        Method::DELETE,
        &format!("{}/message_templates", channel.waba_id),
        &query,
        None,
    )
    .await?;
    let deleted = core
        .store
        .delete_templates(
            tenant_id,
            &channel.waba_id,
            name,
            one.map(|t| t.id.as_str()),
            core.now(),
        )
        .await?;
    core.invalidate();
    Ok(deleted)
}

/// The fields a sync asks Meta for.
const SYNC_FIELDS: &str = "id,name,language,status,category,components,parameter_format,quality_score,rejected_reason,previous_category,message_send_ttl_seconds";

/// What a sync did.
#[derive(Debug, Default, serde::Serialize)]
pub struct SyncReport {
    /// Templates Meta listed.
    pub total: usize,
    /// New to the gateway.
    pub created: usize,
    /// Known, and changed.
    pub changed: usize,
    /// Known and unchanged.
    pub unchanged: usize,
    /// Known to the gateway but no longer on Meta (marked DELETED; full syncs only).
    pub deleted: usize,
}

fn id_string(v: Option<&Value>) -> Option<String> {
    v.and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
    })
}

/// A template as Meta lists it, for the store.
fn synced(tenant_id: &str, waba_id: &str, item: &Value, now: i64) -> Option<SyncedTemplate> {
    let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let quality = item.get("quality_score").and_then(|q| {
        q.as_str()
            .map(str::to_string)
            .or_else(|| q.get("score").and_then(Value::as_str).map(str::to_string))
    });
    Some(SyncedTemplate {
        tenant_id: tenant_id.to_string(),
        waba_id: waba_id.to_string(),
        name: s("name")?,
        language: s("language")?,
        meta_template_id: id_string(item.get("id"))?,
        category: s("category"),
        status: s("status").unwrap_or_else(|| "UNKNOWN".into()),
        components: item.get("components").cloned().unwrap_or_else(|| json!([])),
        parameter_format: s("parameter_format").map(|f| f.to_ascii_uppercase()),
        quality_score: quality,
        reason: s("rejected_reason").filter(|r| r != "NONE"),
        previous_category: s("previous_category"),
        message_send_ttl_seconds: item.get("message_send_ttl_seconds").and_then(Value::as_i64),
        at: now,
    })
}

/// Imports the WABA's templates from Meta (every page), or only those named `name`; a full
/// sync also marks DELETED the templates Meta no longer has.
pub async fn sync(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    name: Option<&str>,
) -> CoreResult<SyncReport> {
    let mut report = SyncReport::default();
    let mut after: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let now = core.now();
    loop {
        let mut query = vec![
            ("limit".to_string(), "100".to_string()),
            // Meta lists only some fields unless asked for the rest.
            ("fields".to_string(), SYNC_FIELDS.to_string()),
        ];
        if let Some(n) = name {
            query.push(("name".to_string(), n.to_string()));
        }
        if let Some(a) = &after {
            query.push(("after".to_string(), a.clone()));
        }
        let page = graph(
            core,
            channel,
            Method::GET,
            &format!("{}/message_templates", channel.waba_id),
            &query,
            None,
        )
        .await?;
        for item in page
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(t) = synced(tenant_id, &channel.waba_id, item, now) else {
                tracing::warn!(waba_id = %channel.waba_id, "a listed template without id, name or language; skipped");
                continue;
            };
            // Meta may list a template whose name only looks like the filter.
            if name.is_some_and(|n| n != t.name) {
                continue;
            }
            seen.insert(t.meta_template_id.clone());
            report.total += 1;
            let outcome = core.store.sync_template(&t).await?;
            match (outcome.created, outcome.changed) {
                (true, _) => report.created += 1,
                (false, true) => report.changed += 1,
                _ => report.unchanged += 1,
            }
        }
        let next = page.pointer("/paging/next").is_some();
        after = page
            .pointer("/paging/cursors/after")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !next || after.is_none() {
            break;
        }
    }
    if name.is_none() {
        let mut cursor = None;
        loop {
            let known = core
                .store
                .list_templates(&TemplateFilter {
                    tenant_id: tenant_id.to_string(),
                    waba_id: Some(channel.waba_id.clone()),
                    after: cursor.clone(),
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            for t in &known {
                if let Some(m) = &t.meta_template_id
                    && !seen.contains(m)
                {
                    core.store
                        .delete_templates(tenant_id, &channel.waba_id, &t.name, Some(&t.id), now)
                        .await?;
                    report.deleted += 1;
                }
            }
            if known.len() < 500 {
                break;
            }
            cursor = known.last().map(|t| t.id.clone());
        }
    }
    core.invalidate();
    Ok(report)
}

/// What the template of a send is, once checked.
#[derive(Debug, Clone)]
pub struct TemplateUse {
    /// The gateway's template id.
    pub template_id: String,
    /// Its category, lower case (`marketing`, …), when known.
    pub category: Option<String>,
    /// The text the contact will see (absent when the stored definition could not be read).
    pub rendered: Option<Rendered>,
}

/// The stored template a send names (cached; looked up on Meta once when unknown).
pub async fn find_for_send(
    core: &Core,
    channel: &Channel,
    name: &TemplateName,
    language: &LanguageCode,
) -> CoreResult<Option<Arc<Template>>> {
    let (name, language) = (name.as_str(), language.as_str());
    let key = format!(
        "{}\u{0}{}\u{0}{name}\u{0}{language}",
        channel.tenant_id, channel.waba_id
    );
    if let Some(known) = core.templates.get(&key) {
        return Ok(known);
    }
    let mut found = core
        .store
        .find_template(&channel.tenant_id, &channel.waba_id, name, language)
        .await?;
    // Unknown, not understood, or not sendable: Meta may know better (a template made in
    // WhatsApp Manager, a lost webhook). Asked once per cache lifetime.
    let stale = |t: &Option<Template>| {
        t.as_ref().is_none_or(|t| {
            t.status == "UNKNOWN"
                || t.components.as_array().is_none_or(Vec::is_empty)
                || status_error(&t.status, name, language).is_some()
        })
    };
    let mut cache = true;
    if stale(&found) {
        match sync(core, &channel.tenant_id, channel, Some(name)).await {
            Ok(_) => {
                found = core
                    .store
                    .find_template(&channel.tenant_id, &channel.waba_id, name, language)
                    .await?;
            }
            Err(e) => {
                // Meta unreachable: decide on what the gateway knows, and ask again next time.
                tracing::warn!(template = name, error = ?e, "could not look the template up on Meta");
                cache = false;
            }
        }
    }
    let found = found.map(Arc::new);
    if cache {
        core.templates.insert(key, found.clone());
    }
    Ok(found)
}

/// The stored template a send's `name` and `language.code` name; `None` when either is not
/// even well-formed (no template can have it, and Meta is not asked).
async fn named(
    core: &Core,
    channel: &Channel,
    name: &str,
    language: &str,
) -> CoreResult<Option<Arc<Template>>> {
    match (TemplateName::parse(name), LanguageCode::parse(language)) {
        (Ok(n), Ok(l)) => find_for_send(core, channel, &n, &l).await,
        _ => Ok(None),
    }
}

/// Checks a send's `template` object against the stored template: usable (132001 / 132015 /
/// 132016) and with fitting parameters (132000 / 132005 / 132012 / 132018); renders it.
pub async fn check_send(core: &Core, channel: &Channel, object: &Value) -> CoreResult<TemplateUse> {
    let name = object.get("name").and_then(Value::as_str).unwrap_or("");
    let language = object
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(t) = named(core, channel, name, language).await? else {
        let others: Vec<String> = core
            .store
            .list_templates(&TemplateFilter {
                tenant_id: channel.tenant_id.clone(),
                waba_id: Some(channel.waba_id.clone()),
                name: Some(name.to_string()),
                limit: 100,
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|t| t.language)
            .collect();
        let hint = if others.is_empty() {
            "no template of that name exists on this WhatsApp Business Account".to_string()
        } else {
            format!("it exists in {}", others.join(", "))
        };
        return Err(CoreError::TemplateRefused(MetaError::new(
            codes::TEMPLATE_MISSING,
            Some(format!(
                "template name ({name}) does not exist in {language}: {hint}."
            )),
        )));
    };
    if let Some(e) = status_error(&t.status, name, language) {
        return Err(CoreError::TemplateRefused(e));
    }
    let category = t.category.as_ref().map(|c| c.to_ascii_lowercase());
    let definition = Definition::from_stored(
        &t.name,
        &t.language,
        t.category.as_deref(),
        t.parameter_format.as_deref(),
        &t.components,
    );
    let rendered = match definition {
        Ok(def) => Some(template::check_send(&def, object)?),
        Err(e) => {
            // A definition this gateway cannot read: Meta decides.
            tracing::warn!(template.id = %t.id, error = %e, "stored template definition not understood; its parameters are not checked");
            None
        }
    };
    Ok(TemplateUse {
        template_id: t.id.clone(),
        category,
        rendered,
    })
}

/// The definition of a stored template (for previews and Session Start's variables).
pub fn definition(t: &Template) -> CoreResult<Definition> {
    Ok(Definition::from_stored(
        &t.name,
        &t.language,
        t.category.as_deref(),
        t.parameter_format.as_deref(),
        &t.components,
    )?)
}

/// A template message whose body variables come as a plain ordered list (the seeds'
/// `campaignVariables`): the stored template says how many and, for named templates, which.
/// Returns `message` with its `template.components` filled in.
pub async fn fill_variables(
    core: &Core,
    channel: &Channel,
    message: &Value,
    values: &[String],
) -> CoreResult<Value> {
    let object = message
        .get("template")
        .filter(|_| message.get("type").and_then(Value::as_str) == Some("template"))
        .ok_or_else(|| {
            CoreError::invalid_field("variables", "variables fill a template: message must be {\"type\": \"template\", \"template\": {\"name\", \"language\"}}")
        })?;
    if object
        .get("components")
        .is_some_and(|c| c.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(CoreError::invalid_field(
            "variables",
            "give either variables or message.template.components, not both",
        ));
    }
    let name = object.get("name").and_then(Value::as_str).unwrap_or("");
    let language = object
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(t) = named(core, channel, name, language).await? else {
        // Unknown: the send check says so, in Meta's words.
        return Err(check_send(core, channel, object)
            .await
            .err()
            .unwrap_or_else(|| CoreError::not_found("template", name)));
    };
    let def = definition(&t)?;
    let components = template::components_from_values(&def, values)?;
    let mut message = message.clone();
    message["template"]["components"] = components;
    Ok(message)
}

/// A tenant's template by gateway id or Meta id; deleted ones too when `deleted`.
pub async fn get(core: &Core, tenant_id: &str, id: &str, deleted: bool) -> CoreResult<Template> {
    core.store
        .get_template(tenant_id, id)
        .await?
        .filter(|t| deleted || t.status != "DELETED")
        .ok_or_else(|| CoreError::not_found("template", id))
}

/// The live template `body` would create again, if one with the same definition (name,
/// language, category and components) already exists: a repeated creation answers it.
pub async fn find_same(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    body: &Value,
) -> CoreResult<Option<Template>> {
    let (Some(name), Some(language)) = (
        body.get("name").and_then(Value::as_str),
        body.get("language").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let Some(t) = core
        .store
        .find_template(tenant_id, &channel.waba_id, name, language)
        .await?
    else {
        return Ok(None);
    };
    Ok((t.status != "DELETED"
        && parse_definition(body).is_ok_and(|parsed| {
            parsed.components == t.components
                && t.category.as_deref() == Some(parsed.category.as_str())
        }))
    .then_some(t))
}

/// A tenant's templates.
pub async fn list(core: &Core, filter: &TemplateFilter) -> CoreResult<Vec<Template>> {
    Ok(core.store.list_templates(filter).await?)
}

/// Meta's default and largest page sizes for template lists.
const DEFAULT_PAGE_LIMIT: u32 = 25;
const MAX_PAGE_LIMIT: u32 = 1000;

/// One page of a template list, as Meta's Graph API pages it.
pub struct TemplatePage {
    /// The page's templates, at most `limit`.
    pub rows: Vec<Template>,
    /// The page size asked for (Meta's default when none was).
    pub limit: u32,
    /// Whether a page follows.
    pub more: bool,
    /// Whether a page precedes (the page was asked for after or before a cursor, and there
    /// are templates before it).
    pub previous: bool,
}

/// The filters of Meta's template list in `query`, for `waba_id`.
fn filter_of(tenant_id: &str, waba_id: &str, query: &HashMap<String, String>) -> TemplateFilter {
    TemplateFilter {
        tenant_id: tenant_id.to_string(),
        waba_id: Some(waba_id.to_string()),
        name: query.get("name").cloned(),
        status: query.get("status").map(|s| s.to_ascii_uppercase()),
        category: query.get("category").map(|s| s.to_ascii_uppercase()),
        language: query.get("language").cloned(),
        ..Default::default()
    }
}

/// A page of the tenant's templates on WABA `waba_id`, with the query of Meta's template list:
/// `name`, `status`, `category` and `language` filters, `limit` (1 to 1000, 25 when absent)
/// and the `after` or `before` cursor (not both).
pub async fn list_page(
    core: &Core,
    tenant_id: &str,
    waba_id: &str,
    query: &HashMap<String, String>,
) -> CoreResult<TemplatePage> {
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
            .ok_or_else(|| {
                CoreError::invalid(format!(
                    "Param limit must be a number from 1 to {MAX_PAGE_LIMIT}."
                ))
            })?,
    };
    let (after, before) = (query.get("after").cloned(), query.get("before").cloned());
    if after.is_some() && before.is_some() {
        return Err(CoreError::invalid(
            "Param after and before cannot be used together.",
        ));
    }
    let backwards = before.is_some();
    let mut rows = list(
        core,
        &TemplateFilter {
            after: after.clone(),
            before,
            limit: limit + 1,
            ..filter_of(tenant_id, waba_id, query)
        },
    )
    .await?;
    let beyond = rows.len() > limit as usize;
    if backwards {
        // The row past the page is the earliest: drop it, a page precedes.
        if beyond {
            rows.remove(0);
        }
        Ok(TemplatePage {
            rows,
            limit,
            more: true,
            previous: beyond,
        })
    } else {
        rows.truncate(limit as usize);
        Ok(TemplatePage {
            rows,
            limit,
            more: beyond,
            previous: after.is_some(),
        })
    }
}

/// Meta's limit on a WABA's templates (reference §2.4: 250, error 2388019).
pub const MESSAGE_TEMPLATE_LIMIT: u64 = 250;

/// The `summary` of Meta's template list of WABA `waba_id` under `query`'s filters.
pub struct TemplateSummary {
    /// Templates that match the list's filters.
    pub total_count: u64,
    /// Templates of the WABA (not deleted).
    pub message_template_count: u64,
    /// [`MESSAGE_TEMPLATE_LIMIT`].
    pub message_template_limit: u64,
    /// Whether every template name of the WABA exists in every language the WABA uses.
    pub are_translations_complete: bool,
}

/// The summary of the WABA's templates (read whole: a WABA holds a few hundred at most).
pub async fn summary(
    core: &Core,
    tenant_id: &str,
    waba_id: &str,
    query: &HashMap<String, String>,
) -> CoreResult<TemplateSummary> {
    let all = every(core, filter_of(tenant_id, waba_id, &HashMap::new())).await?;
    let matching = if ["name", "status", "category", "language"]
        .iter()
        .any(|k| query.contains_key(*k))
    {
        every(core, filter_of(tenant_id, waba_id, query))
            .await?
            .len() as u64
    } else {
        all.len() as u64
    };
    let languages: std::collections::BTreeSet<&str> =
        all.iter().map(|t| t.language.as_str()).collect();
    let mut by_name: HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::new();
    for t in &all {
        by_name.entry(&t.name).or_default().insert(&t.language);
    }
    Ok(TemplateSummary {
        total_count: matching,
        message_template_count: all.len() as u64,
        message_template_limit: MESSAGE_TEMPLATE_LIMIT,
        are_translations_complete: by_name.values().all(|l| *l == languages),
    })
}

/// Every template `filter` selects, read a page at a time.
async fn every(core: &Core, filter: TemplateFilter) -> CoreResult<Vec<Template>> {
    let mut out: Vec<Template> = Vec::new();
    loop {
        let page = list(
            core,
            &TemplateFilter {
                after: out.last().map(|t| t.id.clone()),
                limit: MAX_PAGE_LIMIT,
                ..filter.clone()
            },
        )
        .await?;
        let n = page.len();
        out.extend(page);
        if n < MAX_PAGE_LIMIT as usize {
            return Ok(out);
        }
    }
}

/// Every change of a template, oldest first.
pub async fn history(
    core: &Core,
    tenant_id: &str,
    t: &Template,
) -> CoreResult<Vec<openbsp_store::TemplateEvent>> {
    Ok(core.store.template_history(tenant_id, &t.id).await?)
}

/// The error for a name no template of the tenant's WABA has (also a malformed one).
pub fn no_such_name(name: &str) -> CoreError {
    CoreError::NotFound {
        what: format!("template {name}"),
        id: format!("template {name}"),
    }
}
