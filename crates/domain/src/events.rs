//! The event catalogue: what the gateway tells a business's systems, and which event types
//! an endpoint's patterns (`message.*`, `session.opened`, `*`) select.

/// Every event type, in the catalogue's order.
pub const CATALOGUE: &[&str] = &[
    "message.received",
    "message.status",
    "session.opened",
    "session.closed",
    "contact.updated",
    "template.status_changed",
    "template.quality_changed",
    "template.category_changed",
    "endpoint.disabled",
    "channel.paused",
    "channel.resumed",
    "campaign.started",
    "campaign.paused",
    "campaign.resumed",
    "campaign.completed",
    "campaign.cancelled",
    "media.stored",
    "media.failed",
];

/// Whether `pattern` selects `event_type`: the exact type, `group.*` for every type of the
/// group, or `*` for every type.
pub fn matches(pattern: &str, event_type: &str) -> bool {
    match pattern {
        "*" => true,
        p => match p.strip_suffix(".*") {
            Some(group) => event_type
                .strip_prefix(group)
                .is_some_and(|rest| rest.starts_with('.')),
            None => p == event_type,
        },
    }
}

/// The types that `patterns` select, for a store that reads each type through an index:
/// `None` when they select every type (no pattern, or `*`); else each type once, those of the
/// catalogue that a pattern selects (a group selects its catalogue types: the catalogue lists
/// every type the gateway writes) followed by exact types outside it (which then select
/// nothing stored, as [`matches`] would).
pub fn selected_types(patterns: &[String]) -> Option<Vec<String>> {
    if patterns.is_empty() || patterns.iter().any(|p| p == "*") {
        return None;
    }
    let mut types: Vec<String> = CATALOGUE
        .iter()
        .filter(|t| patterns.iter().any(|p| matches(p, t)))
        .map(|t| t.to_string())
        .collect();
    for p in patterns {
        if p.strip_suffix(".*").is_none() && !types.contains(p) {
            types.push(p.clone());
        }
    }
    Some(types)
}

/// Checks a pattern names something in the catalogue; the error says what is known.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if CATALOGUE.iter().any(|t| matches(pattern, t)) {
        Ok(())
    } else {
        Err(format!(
            "\"{pattern}\" selects no event type: use one of {}, a group such as message.*, or *",
            CATALOGUE.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_types_groups_or_everything() {
        assert!(matches("message.*", "message.status"));
        assert!(matches("message.*", "message.received"));
        assert!(!matches("message.*", "session.opened"));
        assert!(!matches("message.*", "messages.x"));
        assert!(matches("session.opened", "session.opened"));
        assert!(!matches("session.opened", "session.closed"));
        assert!(CATALOGUE.iter().all(|t| matches("*", t)));
    }

    #[test]
    fn patterns_expand_to_the_types_they_select() {
        let ps = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(selected_types(&[]), None);
        assert_eq!(selected_types(&ps(&["message.status", "*"])), None);
        assert_eq!(
            selected_types(&ps(&["session.opened", "message.*", "message.status"])),
            Some(ps(&[
                "message.received",
                "message.status",
                "session.opened"
            ]))
        );
        assert_eq!(
            selected_types(&ps(&["nothing.*", "not.a_type"])),
            Some(ps(&["not.a_type"]))
        );
        // Every group and type of the catalogue: what `matches` selects among its types.
        for p in CATALOGUE
            .iter()
            .flat_map(|t| [t.to_string(), format!("{}.*", t.split('.').next().unwrap())])
        {
            let want: Vec<&str> = CATALOGUE
                .iter()
                .copied()
                .filter(|t| matches(&p, t))
                .collect();
            assert_eq!(
                selected_types(std::slice::from_ref(&p)).unwrap(),
                want,
                "{p}"
            );
        }
    }

    #[test]
    fn unknown_patterns_are_refused() {
        for ok in [
            "*",
            "message.*",
            "template.quality_changed",
            "contact.updated",
        ] {
            validate_pattern(ok).unwrap();
        }
        for bad in ["messages.*", "message.sent", "", "message.", "*.status"] {
            assert!(validate_pattern(bad).is_err(), "{bad}");
        }
    }
}
