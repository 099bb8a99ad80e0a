//! Contact rules both backends share: what a merge keeps of two contacts that turned out to be
//! one user, and how a business's attribute patch applies. Pure: the backends read and write
//! the rows.

use serde_json::{Map, Value};

use crate::model::Contact;

/// The contact `keep` becomes when `lose` (the same user) is merged into it: the fields it lacks
/// (identifiers, profile name, username) are taken from `lose`; so is the marketing opt-out
/// (with its source) if `keep` has none; its attributes are laid over `lose`'s (its own win);
/// its earlier numbers are `lose`'s, then its own. `updated_at` is the caller's.
pub(crate) fn merged(mut keep: Contact, lose: Contact) -> Contact {
    keep.wa_id = keep.wa_id.or(lose.wa_id);
    keep.user_id = keep.user_id.or(lose.user_id);
    keep.profile_name = keep.profile_name.or(lose.profile_name);
    keep.username = keep.username.or(lose.username);
    if keep.marketing_opt_out_at.is_none() {
        keep.marketing_opt_out_at = lose.marketing_opt_out_at;
        keep.marketing_opt_out_source = lose.marketing_opt_out_source;
    }
    keep.attributes = overlay(lose.attributes, &keep.attributes);
    let mut previous = lose.previous_wa_ids;
    for w in std::mem::take(&mut keep.previous_wa_ids) {
        if !previous.contains(&w) {
            previous.push(w);
        }
    }
    keep.previous_wa_ids = previous;
    keep
}

/// `base` with the keys of `top` set over it (both JSON objects; anything else counts as empty).
fn overlay(base: Value, top: &Value) -> Value {
    let mut out = match base {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(top) = top {
        for (k, v) in top {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Merges a business's attribute changes into `attributes`: each key is set, a `null` removes
/// it. A patch that is not an object changes nothing.
pub(crate) fn patch_attributes(attributes: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        return;
    };
    if !attributes.is_object() {
        *attributes = Value::Object(Map::new());
    }
    if let Value::Object(m) = attributes {
        for (k, v) in patch {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact(id: &str) -> Contact {
        Contact {
            id: id.into(),
            tenant_id: "ten_1".into(),
            wa_id: None,
            user_id: None,
            profile_name: None,
            username: None,
            attributes: json!({}),
            marketing_opt_out_at: None,
            marketing_opt_out_source: None,
            previous_wa_ids: Vec::new(),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn attributes_merge_key_by_key_and_null_removes() {
        let mut a = json!({"tier": "gold", "city": "Lima", "n": 1});
        patch_attributes(&mut a, &json!({"city": "Cusco", "n": null, "new": [1]}));
        assert_eq!(a, json!({"tier": "gold", "city": "Cusco", "new": [1]}));
        patch_attributes(&mut a, &json!("not an object"));
        assert_eq!(a, json!({"tier": "gold", "city": "Cusco", "new": [1]}));
        let mut broken = json!([1, 2]);
        patch_attributes(&mut broken, &json!({"k": "v"}));
        assert_eq!(broken, json!({"k": "v"}));
    }

    #[test]
    fn the_survivors_attributes_win() {
        assert_eq!(
            overlay(json!({"a": 1, "b": 2}), &json!({"b": 3, "c": 4})),
            json!({"a": 1, "b": 3, "c": 4})
        );
        assert_eq!(overlay(json!(null), &json!({"b": 3})), json!({"b": 3}));
    }

    #[test]
    fn a_merge_fills_what_the_survivor_lacks() {
        let mut keep = contact("con_a");
        keep.wa_id = Some("111".into());
        keep.profile_name = Some("Ana".into());
        keep.attributes = json!({"tier": "gold"});
        keep.previous_wa_ids = vec!["000".into(), "222".into()];
        let mut lose = contact("con_b");
        lose.wa_id = Some("333".into());
        lose.user_id = Some("US.1".into());
        lose.profile_name = Some("Other".into());
        lose.username = Some("ana".into());
        lose.attributes = json!({"tier": "silver", "city": "Lima"});
        lose.marketing_opt_out_at = Some(7);
        lose.marketing_opt_out_source = Some("keyword".into());
        lose.previous_wa_ids = vec!["222".into(), "444".into()];
        let m = merged(keep, lose);
        assert_eq!(m.id, "con_a");
        assert_eq!(m.wa_id.as_deref(), Some("111"));
        assert_eq!(m.user_id.as_deref(), Some("US.1"));
        assert_eq!(m.profile_name.as_deref(), Some("Ana"));
        assert_eq!(m.username.as_deref(), Some("ana"));
        assert_eq!(m.attributes, json!({"tier": "gold", "city": "Lima"}));
        assert_eq!(
            (
                m.marketing_opt_out_at,
                m.marketing_opt_out_source.as_deref()
            ),
            (Some(7), Some("keyword"))
        );
        assert_eq!(m.previous_wa_ids, ["222", "444", "000"]);
    }

    #[test]
    fn the_survivors_opt_out_stands() {
        let mut keep = contact("con_a");
        keep.marketing_opt_out_at = Some(3);
        keep.marketing_opt_out_source = Some("api".into());
        let mut lose = contact("con_b");
        lose.marketing_opt_out_at = Some(9);
        lose.marketing_opt_out_source = Some("keyword".into());
        let m = merged(keep, lose);
        assert_eq!(
            (
                m.marketing_opt_out_at,
                m.marketing_opt_out_source.as_deref()
            ),
            (Some(3), Some("api"))
        );
    }
}
