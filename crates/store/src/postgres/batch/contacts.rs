//! The contacts of a batch of outbound messages: found or created set-based, never locked, so
//! that concurrent batches sending to the same people do not wait for each other.

use std::collections::{BTreeMap, HashMap};

use openbsp_domain::ids::{new_id_at, prefix};
use sqlx::PgConnection;

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::postgres::conn::{DbResult, chunks, text_bytes};
use crate::postgres::rows;
use crate::sql::{CONTACT_COLS, CONTACT_N, contact_key};

/// Contact ids by (tenant, key column, key value).
pub(super) type ContactIds = HashMap<(String, &'static str, String), String>;

/// The contacts created, as stored, by (tenant, key column, key value).
pub(super) type NewContacts = HashMap<(String, &'static str, String), Contact>;

/// Finds or creates the contacts `wanted` names — (tenant, key, time of the request) — and
/// returns their ids, and the contacts it created. A contact created here gets the time of the
/// first request naming it. Contacts are only ever inserted (`ON CONFLICT DO NOTHING`), never
/// locked, so concurrent batches sending to the same people do not wait for each other.
pub(super) async fn resolve_contacts(
    c: &mut PgConnection,
    wanted: &[(&str, &ContactKey, i64)],
) -> StoreResult<(ContactIds, NewContacts)> {
    // Sorted and deduplicated: a fixed insertion order keeps concurrent batches from deadlocking.
    let mut distinct: BTreeMap<(&'static str, &str, &str), i64> = BTreeMap::new();
    for (tenant, key, at) in wanted {
        let (col, value) = contact_key(key);
        distinct.entry((col, tenant, value)).or_insert(*at);
    }
    let mut out = ContactIds::with_capacity(distinct.len());
    let mut made = NewContacts::new();
    for col in ["wa_id", "user_id"] {
        let group: Vec<(&str, &str, i64)> = distinct
            .iter()
            .filter(|((c, _, _), _)| *c == col)
            .map(|((_, t, v), at)| (*t, *v, *at))
            .collect();
        if group.is_empty() {
            continue;
        }
        let ids: Vec<String> = group
            .iter()
            .map(|(_, _, at)| new_id_at(prefix::CONTACT, *at))
            .collect();
        let tenants: Vec<&str> = group.iter().map(|g| g.0).collect();
        let values: Vec<&str> = group.iter().map(|g| g.1).collect();
        let ats: Vec<i64> = group.iter().map(|g| g.2).collect();
        // The key in its column of CONTACT_COLS, the others NULL, for the rows found.
        let key_cols = if col == "wa_id" {
            "e.v, NULL"
        } else {
            "NULL, e.v"
        };
        // The look-ups are LATERAL so that each is an index probe: joined plainly, the planner
        // (which guesses 100 rows for UNNEST) hashes the tenant's whole contacts table instead.
        // The LIMIT 1 (a key matches one contact) keeps the planner from flattening the
        // LATERAL back into such a join: once the table has statistics it did, and every batch
        // scanned all contacts (10,000 rows, 70 times a second, in the accept benchmark).
        let sql = format!(
            "WITH input AS (
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(id, tenant_id, v, at)
             ), existing AS (
                SELECT c.id, c.tenant_id, c.v FROM input i
                CROSS JOIN LATERAL (
                    SELECT id, tenant_id, {col} AS v FROM contacts
                    WHERE contacts.tenant_id = i.tenant_id AND contacts.{col} = i.v
                    LIMIT 1
                ) c
             ), ins AS (
                INSERT INTO contacts (id, tenant_id, {col}, created_at, updated_at)
                SELECT i.id, i.tenant_id, i.v, i.at, i.at FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.tenant_id = i.tenant_id AND e.v = i.v)
                ON CONFLICT DO NOTHING
                RETURNING {CONTACT_COLS}
             )
             SELECT {CONTACT_COLS}, true FROM ins
             UNION ALL
             SELECT e.id, e.tenant_id, {key_cols}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 false
             FROM existing e"
        );
        let value_at = if col == "wa_id" { 2 } else { 3 };
        let sizes = group.iter().zip(&ids).map(|((t, v, _), id)| {
            text_bytes(Some(t)) + text_bytes(Some(v)) + text_bytes(Some(id)) + 12
        });
        for r in chunks(sizes) {
            let found = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&ids[r.clone()])
                .bind(&tenants[r.clone()])
                .bind(&values[r.clone()])
                .bind(&ats[r])
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found {
                let (id, tenant, value): (String, String, String) = (
                    rows::get(row, 0)?,
                    rows::get(row, 1)?,
                    rows::get(row, value_at)?,
                );
                let fresh: bool = rows::get(row, CONTACT_N)?;
                if fresh {
                    made.insert((tenant.clone(), col, value.clone()), rows::contact(row)?);
                }
                out.insert((tenant, col, value), id);
            }
        }
        // Skipped by a concurrent transaction's insert, committed since that statement began:
        // a new statement sees it. (Rare, and few: one statement.)
        let (missing_t, missing_v): (Vec<&str>, Vec<&str>) = group
            .iter()
            .filter(|(t, v, _)| !out.contains_key(&(t.to_string(), col, v.to_string())))
            .map(|(t, v, _)| (*t, *v))
            .unzip();
        if missing_t.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT c.id, c.tenant_id, c.{col} FROM UNNEST($1::text[], $2::text[]) AS u(t, v)
             CROSS JOIN LATERAL (SELECT id, tenant_id, {col} FROM contacts
                 WHERE contacts.tenant_id = u.t AND contacts.{col} = u.v LIMIT 1) c"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&missing_t)
            .bind(&missing_v)
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let (id, tenant, value): (String, String, String) =
                (rows::get(row, 0)?, rows::get(row, 1)?, rows::get(row, 2)?);
            out.insert((tenant, col, value), id);
        }
        if group
            .iter()
            .any(|(t, v, _)| !out.contains_key(&(t.to_string(), col, v.to_string())))
        {
            // Only reachable if contacts were deleted under us, which nothing does.
            return Err(StoreError::database(
                "a contact could not be found or created",
            ));
        }
    }
    Ok((out, made))
}
