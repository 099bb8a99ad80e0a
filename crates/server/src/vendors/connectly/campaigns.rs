//! `POST /v1/businesses/{businessId}/send/campaigns` (`vendors.md` §4.9): Connectly's campaign
//! sendouts, as campaigns of the gateway's (DESIGN §2.8).
//!
//! Connectly's campaigns are flows built in its UI, "published", then sent out to entries
//! `{sender, client, campaignName, campaignVersion?, variables?, scheduledAt?}`. The gateway
//! has no flow builder; what it reads as a published campaign (an inference: Connectly's own
//! model is not public) is a campaign made with `POST /v1/campaigns` whose `name` is
//! `campaignName`: its template, its `{{column}}` placeholders, its number and its rate. It
//! is never sent itself: each sendout is a new campaign copied from it.
//!
//! - `campaignVersion`: campaigns of the same name are that campaign's versions, in the order
//!   they were made. Left out (or `latest`): the newest; `N` (or `vN`): the N-th made (1 is
//!   the first); a campaign id (`cmp_…`): that campaign, which must have the name.
//! - Entries are grouped by (`campaignName`, `campaignVersion`, `sender`, `scheduledAt`); each
//!   group is one sendout: a new campaign named `<campaignName> · sendout <time>` on the
//!   `sender`'s number (one of the business's numbers, as `send/messages` reads it; left out,
//!   the published campaign's number), with its template and placeholders, its rate (within
//!   the number's throughput), the group's entries as recipients (`client` as `number` of
//!   `send/messages`: E.164 or digits, or a BSUID as `bsuid:…`; `variables` as the row's
//!   columns), started at once or, with `scheduledAt` (RFC 3339, not in the past), scheduled
//!   for then. Sendouts are campaigns like any: `GET /v1/campaigns` shows them, with counts,
//!   recipients and report; they can be paused or cancelled there.
//! - Every entry is checked as any upload's row (the core's checks: the number read as Meta
//!   would, the filled-in template against the stored one), fed to the core's upload as JSON
//!   lines. `client` is unique per campaign: a second entry with the same client is refused.
//!
//! The whole request is refused, nothing created, when its envelope is wrong (400: no or over
//! [`MAX_ENTRIES`] entries, an entry without `client` or `campaignName`, a field of the wrong
//! type, `scheduledAt` in the past), when a campaign is not found (404
//! `ERROR_CODE_CAMPAIGN_NOT_FOUND`), or is not published (409
//! `ERROR_CODE_CAMPAIGN_NOT_PUBLISHED`: cancelled, its template not approved on the number, or
//! its number gone), or a `sender` is not the business's. Otherwise the answer is 200 with a
//! report per sendout (Connectly's is not published; this one is the gateway's):
//! `{"data": [{"campaignName", "campaignVersion", "campaignId", "sendoutId", "sender",
//! "scheduledAt", "status": "SENDOUT_STATUS_RUNNING" | "…_SCHEDULED" | "…_REJECTED" |
//! "…_FAILED", "acceptedEntries", "rejectedEntries": [{"index", "client", "error"}]}]}`,
//! where each refused entry's `error` is Connectly's error object. A sendout none of whose
//! entries was accepted is not created (`sendoutId` null, `…_REJECTED`). No request is
//! idempotent (Connectly documents no key): sent again, it sends out again.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use chrono::{SecondsFormat, TimeZone, Utc};
use openbsp_store::{Campaign, CampaignAction, CampaignFilter, Channel, RecipientFilter};
use openbsp_wire::ids::{Bsuid, LanguageCode, TemplateName};
use openbsp_wire::template::status_error;
use serde_json::{Map, Value, json};

use super::auth::{Business, sender_channel};
use super::error::{ConnectlyError, code};
use super::messages::{CAMPAIGN_NAME_MAX, body_object};
use crate::core::campaigns::{self, CampaignInput, rows::Format};
use crate::core::{Core, templates};
use crate::http::request_id;

/// Most entries a request takes.
pub const MAX_ENTRIES: usize = 10_000;
/// The largest request body: [`MAX_ENTRIES`] entries of a few hundred bytes.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How far in the past a `scheduledAt` may be and still mean "now" (clocks differ).
const SCHEDULE_SKEW_MS: i64 = 60_000;
/// Campaigns read per page when looking campaigns up by name.
const PAGE: u32 = 500;
/// Recipients read per page when reporting a sendout.
const RECIPIENT_PAGE: u32 = 1_000;
/// The statuses of a sendout's report.
const STATUS_PREFIX: &str = "SENDOUT_STATUS_";

/// One entry of the request, parsed.
#[derive(Debug, Clone)]
struct Entry {
    /// Its place in `entries`.
    index: usize,
    /// `client` as given (trimmed).
    client: String,
    campaign_name: String,
    /// `campaignVersion` as given (trimmed; a number as its digits).
    version: Option<String>,
    /// `sender` (a string, or `{id}`).
    sender: Option<String>,
    variables: Map<String, Value>,
    /// `scheduledAt` (ms), and as given.
    scheduled: Option<(i64, String)>,
}

/// What a refused field of entry `i` is answered with.
fn bad_entry(i: usize, field: &str, message: impl std::fmt::Display) -> ConnectlyError {
    ConnectlyError::invalid(format!("entries[{i}].{field}: {message}"))
        .at(format!("entries[{i}].{field}"))
}

/// A string field of an entry (a number as its text when `numbers`), trimmed; `None` when
/// absent, null or empty.
fn text(
    e: &Map<String, Value>,
    i: usize,
    name: &str,
    numbers: bool,
) -> Result<Option<String>, ConnectlyError> {
    match e.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) if numbers => Ok(Some(n.to_string())),
        Some(_) => Err(bad_entry(i, name, "must be a string")),
    }
}

/// Parses one entry.
fn entry(i: usize, v: &Value, now: i64) -> Result<Entry, ConnectlyError> {
    let Value::Object(e) = v else {
        return Err(ConnectlyError::invalid(format!(
            "entries[{i}] must be an object: {{\"client\", \"campaignName\", …}}"
        ))
        .at(format!("entries[{i}]")));
    };
    let client =
        text(e, i, "client", true)?.ok_or_else(|| bad_entry(i, "client", "is required"))?;
    let campaign_name = text(e, i, "campaignName", false)?
        .ok_or_else(|| bad_entry(i, "campaignName", "is required"))?;
    if campaign_name.chars().count() > CAMPAIGN_NAME_MAX {
        return Err(bad_entry(
            i,
            "campaignName",
            format!("is at most {CAMPAIGN_NAME_MAX} characters"),
        ));
    }
    let version = text(e, i, "campaignVersion", true)?;
    let sender = match e.get("sender") {
        Some(Value::Object(s)) => text(s, i, "id", true)
            .map_err(|_| bad_entry(i, "sender", "must be a number's string, or {\"id\": \"…\"}"))?,
        _ => text(e, i, "sender", true)?,
    };
    let variables = match e.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad_entry(i, "variables", "must be an object")),
    };
    let scheduled = match text(e, i, "scheduledAt", false)? {
        None => None,
        Some(s) => {
            let at = chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|_| {
                    bad_entry(
                        i,
                        "scheduledAt",
                        "must be an ISO-8601 time with its offset (\"2030-01-31T09:00:00Z\")",
                    )
                })?
                .timestamp_millis();
            if at < now - SCHEDULE_SKEW_MS {
                return Err(bad_entry(
                    i,
                    "scheduledAt",
                    format!("{s} is in the past: give a time from now on"),
                ));
            }
            Some((at, s))
        }
    };
    Ok(Entry {
        index: i,
        client,
        campaign_name,
        version,
        sender,
        variables,
        scheduled,
    })
}

/// The request's entries, or 400 for its envelope.
fn entries(v: &Value, now: i64) -> Result<Vec<Entry>, ConnectlyError> {
    let list = match v.get("entries") {
        Some(Value::Array(l)) => l,
        None | Some(Value::Null) => {
            return Err(ConnectlyError::invalid("entries is required").at("entries"));
        }
        Some(_) => return Err(ConnectlyError::invalid("entries must be an array").at("entries")),
    };
    if list.is_empty() {
        return Err(ConnectlyError::invalid("entries is empty: give at least one").at("entries"));
    }
    if list.len() > MAX_ENTRIES {
        return Err(ConnectlyError::invalid(format!(
            "entries holds {} entries; a request takes at most {MAX_ENTRIES} (send the rest in \
             another request)",
            list.len()
        ))
        .at("entries"));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| entry(i, e, now))
        .collect()
}

/// The business's campaigns that can be published ones (not grouped sends) named as one of
/// `names`, each name's oldest first.
async fn by_name(
    core: &Core,
    tenant_id: &str,
    names: &HashSet<&str>,
) -> Result<HashMap<String, Vec<Campaign>>, ConnectlyError> {
    let mut found: HashMap<String, Vec<Campaign>> = HashMap::new();
    let mut after = None;
    loop {
        let page = campaigns::list(
            core,
            &CampaignFilter {
                tenant_id: tenant_id.to_string(),
                after: after.clone(),
                limit: PAGE,
                ..Default::default()
            },
        )
        .await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|c| c.id.clone());
        for c in page {
            if c.group_key.is_none() && names.contains(c.name.as_str()) {
                found.entry(c.name.clone()).or_default().push(c);
            }
        }
        if !full {
            break;
        }
    }
    // Listed newest first.
    for list in found.values_mut() {
        list.reverse();
    }
    Ok(found)
}

/// The version of campaign `name` an entry names (see the module's doc).
fn version<'a>(
    name: &str,
    versions: &'a [Campaign],
    wanted: Option<&str>,
) -> Result<&'a Campaign, ConnectlyError> {
    let not_found = |what: String| ConnectlyError::campaign_not_found(what).at("campaignVersion");
    let Some(newest) = versions.last() else {
        return Err(ConnectlyError::campaign_not_found(format!(
            "no campaign is named {name}: create it first with POST /v1/campaigns (its name, \
             number and template with {{{{column}}}} placeholders)"
        ))
        .at("campaignName"));
    };
    let wanted = match wanted {
        None => return Ok(newest),
        Some(w) if w.eq_ignore_ascii_case("latest") => return Ok(newest),
        Some(w) => w,
    };
    if wanted.starts_with("cmp_") {
        return versions
            .iter()
            .find(|c| c.id == wanted)
            .ok_or_else(|| not_found(format!("campaign {name} has no version {wanted}")));
    }
    let n = wanted
        .strip_prefix(['v', 'V'])
        .unwrap_or(wanted)
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1);
    match n {
        Some(n) if n <= versions.len() => Ok(&versions[n - 1]),
        Some(_) => Err(not_found(format!(
            "campaign {name} has {} version(s); there is no version {wanted}",
            versions.len()
        ))),
        None => Err(not_found(format!(
            "campaignVersion {wanted} is none of campaign {name}'s: give latest, a number (1 \
             is the first made) or a campaign id"
        ))),
    }
}

/// Whether `c` can be sent out on `channel`: not cancelled, its template approved there.
async fn check_published(
    core: &Core,
    c: &Campaign,
    channel: &Channel,
) -> Result<(), ConnectlyError> {
    if c.status == openbsp_store::campaign_status::CANCELLED {
        return Err(ConnectlyError::campaign_not_published(format!(
            "campaign {} ({}) is cancelled",
            c.name, c.id
        ))
        .at("campaignName"));
    }
    let unpublished = |why: String| {
        ConnectlyError::campaign_not_published(format!(
            "campaign {} cannot be sent out from +{}: its template {} ({}) {why}",
            c.name, channel.display_phone_number, c.template_name, c.language
        ))
        .at("campaignName")
    };
    let found = match (
        TemplateName::parse(&c.template_name),
        LanguageCode::parse(&c.language),
    ) {
        (Ok(n), Ok(l)) => templates::find_for_send(core, channel, &n, &l).await?,
        _ => None,
    };
    let Some(t) = found else {
        return Err(unpublished(
            "is not on that number's WhatsApp Business Account".into(),
        ));
    };
    if let Some(m) = status_error(&t.status, &t.name, &t.language) {
        // Meta's code (paused, disabled) beside, as everywhere on this surface.
        let mut e = unpublished(format!("is {}, not approved", t.status));
        e.meta = Some(Box::new(m));
        return Err(e);
    }
    Ok(())
}

/// One sendout: a group of entries and what they are sent as.
struct Sendout {
    campaign_name: String,
    version: Option<String>,
    published: Campaign,
    channel: Channel,
    scheduled: Option<(i64, String)>,
    /// The entries to upload (indices into the request's entries).
    entries: Vec<usize>,
}

/// How a `client` is compared with another of the same campaign: a BSUID as written, a
/// phone number by its digits.
fn same_client(client: &str) -> String {
    match client.strip_prefix("bsuid:") {
        Some(b) => format!("bsuid:{}", b.trim()),
        None if Bsuid::parse(client).is_ok() => format!("bsuid:{client}"),
        None => client.chars().filter(char::is_ascii_digit).collect(),
    }
}

/// An entry as a line of the core's JSON-lines upload: `{"phone" | "user_id", "variables"}`.
fn ndjson_line(e: &Entry) -> String {
    let (key, value) = match e.client.strip_prefix("bsuid:") {
        Some(b) => ("user_id", b.trim()),
        None if Bsuid::parse(&e.client).is_ok() => ("user_id", e.client.as_str()),
        None => ("phone", e.client.as_str()),
    };
    let mut line = json!({key: value, "variables": e.variables}).to_string();
    line.push('\n');
    line
}

/// The error of an entry the core's upload refused, from its reason: the number (`phone: …`,
/// `user_id: …`), else the template its variables fill.
fn row_error(reason: &str) -> ConnectlyError {
    if ["phone:", "user_id:", "wa_id:"]
        .iter()
        .any(|p| reason.starts_with(p))
    {
        ConnectlyError::bad(
            code::PHONE_NUMBER_BAD_FORMAT,
            format!("client is no WhatsApp number or user id: {reason}"),
        )
        .at("client")
    } else {
        ConnectlyError::template_input(format!(
            "variables do not fill the campaign's template: {reason}"
        ))
        .at("variables")
    }
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A sendout's outcome: its campaign (none when no entry was accepted), its status, and how
/// many entries it sends.
struct Outcome {
    id: Option<String>,
    status: String,
    accepted: u64,
}

impl Outcome {
    fn rejected() -> Outcome {
        Outcome {
            id: None,
            status: format!("{STATUS_PREFIX}REJECTED"),
            accepted: 0,
        }
    }
}

/// Creates a sendout's campaign, uploads its entries (adding those refused to `rejected`),
/// and starts it; when none was accepted, deletes it again.
async fn send_out(
    core: &Core,
    tenant_id: &str,
    s: &Sendout,
    all: &[Entry],
    name: String,
    rejected: &mut Vec<(usize, ConnectlyError)>,
) -> Result<Outcome, ConnectlyError> {
    if s.entries.is_empty() {
        return Ok(Outcome::rejected());
    }
    let mut template = match &s.published.spec {
        Value::Object(o) => Value::Object(o.clone()),
        other => other.clone(),
    };
    template["name"] = json!(s.published.template_name);
    template["language"] = json!(s.published.language);
    let input = CampaignInput {
        name,
        channel: s.channel.id.clone(),
        template,
        start_at: s.scheduled.as_ref().map(|(at, _)| *at),
        rate_limit: s
            .published
            .rate_limit
            .map(|r| r.min(s.channel.throughput_mps)),
    };
    let (c, _) = campaigns::create(core, tenant_id, input, None).await?;
    let filled = fill(core, tenant_id, &c, s, all, rejected).await;
    let accepted = match filled {
        Ok(n) if n > 0 => n,
        other => {
            if let Err(e) = campaigns::delete(core, tenant_id, &c.id).await {
                tracing::warn!(campaign.id = %c.id, error = ?e, "could not delete a sendout none of whose entries went");
            }
            return other.map(|_| Outcome::rejected());
        }
    };
    let started = match campaigns::act(core, tenant_id, &c.id, CampaignAction::Start).await {
        Ok(c) => c,
        Err(e) => {
            if let Err(d) = campaigns::delete(core, tenant_id, &c.id).await {
                tracing::warn!(campaign.id = %c.id, error = ?d, "could not delete a sendout that did not start");
            }
            return Err(e.into());
        }
    };
    Ok(Outcome {
        id: Some(started.id.clone()),
        status: format!("{STATUS_PREFIX}{}", started.status.to_ascii_uppercase()),
        accepted,
    })
}

/// Uploads a sendout's entries to its campaign `c` through the core's checks; adds the
/// refused ones to `rejected`; how many will be sent.
async fn fill(
    core: &Core,
    tenant_id: &str,
    c: &Campaign,
    s: &Sendout,
    all: &[Entry],
    rejected: &mut Vec<(usize, ConnectlyError)>,
) -> Result<u64, ConnectlyError> {
    let lines: String = s.entries.iter().map(|i| ndjson_line(&all[*i])).collect();
    let report = campaigns::upload(
        core,
        tenant_id,
        &c.id,
        Format::Ndjson,
        Box::new(Cursor::new(lines.into_bytes())),
    )
    .await?;
    // Line N of the upload is the sendout's N-th entry.
    let index = |line: u64| {
        usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| s.entries.get(l).copied())
    };
    let mut explained: HashSet<usize> = HashSet::new();
    for r in &report.errors {
        if let Some(i) = index(r.line) {
            explained.insert(i);
            rejected.push((i, row_error(&r.reason)));
        }
    }
    let mut pending = 0;
    let mut after = None;
    loop {
        let page = campaigns::recipients(
            core,
            tenant_id,
            &c.id,
            &RecipientFilter {
                status: None,
                after,
                limit: RECIPIENT_PAGE,
            },
        )
        .await?;
        let full = page.len() == RECIPIENT_PAGE as usize;
        after = page.last().map(|r| r.seq);
        for r in page {
            let Some(i) = index(r.line) else { continue };
            explained.insert(i);
            if r.state == openbsp_store::recipient_state::SKIPPED {
                let why = r
                    .reason
                    .as_ref()
                    .and_then(|x| x.get("message").or_else(|| x.get("title")))
                    .and_then(Value::as_str)
                    .unwrap_or("the customer opted out of marketing messages")
                    .to_string();
                rejected.push((
                    i,
                    ConnectlyError::bad(code::CUSTOMER_OPTED_OUT, why).at("client"),
                ));
            } else {
                pending += 1;
            }
        }
        if !full {
            break;
        }
    }
    // Neither stored nor refused with a reason: the core found the client twice (written
    // differently), or refused it past the reasons it reports.
    let unreported = report.rejected.saturating_sub(report.errors.len() as u64);
    for i in s.entries.iter().filter(|i| !explained.contains(i)) {
        let e = if unreported == 0 {
            ConnectlyError::bad(
                code::CAMPAIGN_ENTRY_DUPLICATE,
                format!(
                    "client {} is already an entry of this sendout (written another way)",
                    all[*i].client
                ),
            )
        } else {
            ConnectlyError::invalid(format!(
                "client {} was refused: a duplicate, or a row the campaign's checks refused \
                 (the first {} reasons are reported)",
                all[*i].client,
                campaigns::MAX_REPORTED_ERRORS
            ))
        };
        rejected.push((*i, e.at("client")));
    }
    Ok(pending)
}

/// `POST …/send/campaigns`: `{"entries": [{sender, client, campaignName, campaignVersion?,
/// variables?, scheduledAt?}]}` → 200 `{"data": [<sendout report>]}` (see the module's doc).
pub async fn send(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (_, v) = body_object(body)?;
    let now = core.now();
    let all = entries(&v, now)?;

    // Everything that refuses the request as a whole is checked before anything is created.
    let names: HashSet<&str> = all.iter().map(|e| e.campaign_name.as_str()).collect();
    let versions = by_name(&core, &tenant_id, &names).await?;
    let mut senders: HashMap<String, Channel> = HashMap::new();
    let mut checked: HashSet<(String, String)> = HashSet::new();
    let mut sendouts: Vec<(Sendout, Vec<(usize, ConnectlyError)>)> = Vec::new();
    let mut groups: HashMap<(String, Option<String>, String, Option<i64>), usize> = HashMap::new();
    let mut clients: HashMap<(String, String), usize> = HashMap::new();
    for e in &all {
        let here = |err: ConnectlyError| {
            let field = match &err.field {
                Some(f) => format!("entries[{}].{f}", e.index),
                None => format!("entries[{}]", e.index),
            };
            err.at(field)
        };
        let list = versions
            .get(&e.campaign_name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let published = version(&e.campaign_name, list, e.version.as_deref()).map_err(here)?;
        let channel = resolve_sender(
            &core,
            &tenant_id,
            e.sender.as_deref(),
            published,
            &mut senders,
        )
        .await
        .map_err(here)?;
        if checked.insert((published.id.clone(), channel.id.clone())) {
            check_published(&core, published, &channel)
                .await
                .map_err(here)?;
        }
        let key = (
            e.campaign_name.clone(),
            e.version.clone(),
            channel.id.clone(),
            e.scheduled.as_ref().map(|(at, _)| *at),
        );
        let at = *groups.entry(key).or_insert_with(|| {
            sendouts.push((
                Sendout {
                    campaign_name: e.campaign_name.clone(),
                    version: e.version.clone(),
                    published: published.clone(),
                    channel,
                    scheduled: e.scheduled.clone(),
                    entries: Vec::new(),
                },
                Vec::new(),
            ));
            sendouts.len() - 1
        });
        let (s, rejected) = &mut sendouts[at];
        match clients.entry((published.id.clone(), same_client(&e.client))) {
            std::collections::hash_map::Entry::Occupied(first) => rejected.push((
                e.index,
                ConnectlyError::bad(
                    code::CAMPAIGN_ENTRY_DUPLICATE,
                    format!(
                        "client {} is already an entry of campaign {} (entries[{}]): a client \
                         gets a campaign once",
                        e.client,
                        e.campaign_name,
                        first.get()
                    ),
                )
                .at("client"),
            )),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(e.index);
                s.entries.push(e.index);
            }
        }
    }

    let trace_id = request_id::current();
    let stamp = rfc3339(now);
    let several = sendouts.len() > 1;
    let mut started_any = false;
    let mut data = Vec::with_capacity(sendouts.len());
    for (k, (s, mut rejected)) in sendouts.into_iter().enumerate() {
        let name = if several {
            format!("{} · sendout {stamp} #{}", s.campaign_name, k + 1)
        } else {
            format!("{} · sendout {stamp}", s.campaign_name)
        };
        let before = rejected.len();
        let outcome = match send_out(&core, &tenant_id, &s, &all, name, &mut rejected).await {
            Ok(o) => o,
            // Nothing started yet: the request fails as a whole, nothing created.
            Err(e) if !started_any => return Err(e),
            // Earlier sendouts are under way: this one's failure is its report.
            Err(e) => {
                tracing::warn!(campaign = %s.campaign_name, code = e.code, message = %e.message,
                    cause = ?e.cause, "a sendout failed after others had started");
                rejected.truncate(before);
                rejected.extend(s.entries.iter().map(|i| {
                    let mut copy = ConnectlyError::new(e.status, e.code, e.message.clone());
                    copy.kind = e.kind;
                    (*i, copy)
                }));
                Outcome {
                    id: None,
                    status: format!("{STATUS_PREFIX}FAILED"),
                    accepted: 0,
                }
            }
        };
        started_any |= outcome.id.is_some();
        rejected.sort_by_key(|(i, _)| *i);
        let rejected: Vec<Value> = rejected
            .iter()
            .map(|(i, e)| json!({"index": i, "client": all[*i].client, "error": e.body(&trace_id)}))
            .collect();
        data.push(json!({
            "campaignName": s.campaign_name,
            "campaignVersion": s.version,
            "campaignId": s.published.id,
            "sendoutId": outcome.id,
            "sender": format!("+{}", s.channel.display_phone_number),
            "scheduledAt": s.scheduled.as_ref().map(|(_, raw)| raw),
            "status": outcome.status,
            "acceptedEntries": outcome.accepted,
            "rejectedEntries": rejected,
        }));
    }
    Ok(Json(json!({"data": data})))
}

/// The number an entry sends from: its `sender` (one of the business's numbers), else the
/// published campaign's (gone: the campaign cannot be sent out). Looked up once per request.
async fn resolve_sender(
    core: &Core,
    tenant_id: &str,
    sender: Option<&str>,
    published: &Campaign,
    known: &mut HashMap<String, Channel>,
) -> Result<Channel, ConnectlyError> {
    let key = match sender {
        Some(s) => format!("sender:{s}"),
        None => format!("campaign:{}", published.channel_id),
    };
    if let Some(c) = known.get(&key) {
        return Ok(c.clone());
    }
    let found = match sender {
        Some(s) => sender_channel(core, tenant_id, Some(s)).await?,
        None => sender_channel(core, tenant_id, Some(&published.channel_id))
            .await
            .map_err(|_| {
                ConnectlyError::campaign_not_published(format!(
                    "campaign {} ({}) sends from a number this business no longer has: name \
                     one as sender",
                    published.name, published.id
                ))
                .at("sender")
            })?,
    };
    known.insert(key, found.clone());
    Ok(found)
}
