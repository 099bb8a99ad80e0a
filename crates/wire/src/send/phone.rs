//! Recipient phone numbers: from what a client writes in `to` to Meta's `wa_id`.

use phonenumber::country;
use phonenumber::metadata::DATABASE;

use crate::error::MetaError;
use crate::limits;

/// What the parser knows about the business a message is sent from, for the rules that depend
/// on it. The default knows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseContext {
    /// The sending business number's display digits (`metadata.display_phone_number`, e.g.
    /// `"15550783881"`). With it, a recipient written without `+` in the business's national
    /// format is given the business's country code, as Meta does.
    pub business_phone: Option<String>,
}

impl ParseContext {
    /// A context for the business number `digits`.
    pub fn for_business(digits: impl Into<String>) -> ParseContext {
        ParseContext {
            business_phone: Some(digits.into()),
        }
    }
}

/// Normalises a recipient phone number as a client writes it to Meta's `wa_id` (country code
/// and national number, digits only), with what is known about the sending business.
///
/// The rule:
///
/// 1. Only digits, a leading `+`, spaces, dashes, dots and parentheses are allowed (Meta allows
///    `+ - ( )` and spaces; dots are kept for clients that already send them). Anything else is
///    refused with 131009 naming `to`.
/// 2. **With a leading `+`** the number is read as international, with Google's libphonenumber
///    metadata (the `phonenumber` crate): the `wa_id` is the country code followed by the
///    national number, so a trunk prefix written after the country code goes
///    (`+44 (0)7911 123456` → `447911123456`) and `+55 (11) 98765-4321` → `5511987654321`. A
///    number whose country code does not exist, or that cannot be read as a phone number at
///    all, is refused. The number need not be *valid* (assigned) in its country: fictional
///    test numbers such as `+1 555 010 1234` pass.
/// 3. **Without `+`** Meta prepends the business number's country code. So, when the business
///    number is known (`ParseContext::business_phone`) and the digits are a valid national
///    number of the business's country — a national trunk prefix such as `0` (or `1` in the
///    US) is understood and dropped — the `wa_id` is that country code followed by the
///    national number: `07911 123456` from a UK business → `447911123456`, `(11) 98765-4321`
///    from a Brazilian one → `5511987654321`. A number dialled with the country's
///    international prefix (`011 44 …` from the US, `0044 …` from the UK) is read as the
///    international number it dials, if valid. Otherwise the digits are taken as already
///    international, which is what nearly every client sends (`15551234567`).
/// 4. **Without `+` and without a known business number** the digits are kept as written.
/// 5. In every case the `wa_id` has 7 to 15 digits ([`limits::PHONE_DIGITS_MIN`],
///    [`limits::PHONE_DIGITS_MAX`]); anything else is refused with 131009 naming `to`.
///
/// Normalising `+` followed by a `wa_id` that this function read as an international or a
/// national number (rules 2 and 3) gives the same `wa_id` back.
pub fn normalize_phone_in(input: &str, ctx: &ParseContext) -> Result<String, MetaError> {
    let trimmed = input.trim();
    let mut digits = String::with_capacity(trimmed.len());
    let mut plus = false;
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => {
                return Err(MetaError::invalid_value(format!(
                    "Param to must be a phone number; found '{c}' in \"{input}\"."
                )));
            }
        }
    }
    // Bound the work before handing anything to the metadata: nothing longer than a number
    // with a trunk prefix and an international prefix in front of it is a phone number.
    if digits.len() > limits::PHONE_DIGITS_MAX + 5 {
        return Err(length_error(input));
    }
    let wa_id = if plus {
        memo::lookup(true, &digits, None, || international(&digits)).ok_or_else(|| {
            MetaError::invalid_value(format!(
                "Param to is not a valid international phone number: \"{input}\"."
            ))
        })?
    } else {
        match ctx.business_phone.as_deref() {
            Some(business) => memo::lookup(false, &digits, Some(business), || {
                business_region(business).and_then(|region| national(&digits, region))
            })
            .unwrap_or(digits),
            None => digits,
        }
    };
    if wa_id.len() < limits::PHONE_DIGITS_MIN || wa_id.len() > limits::PHONE_DIGITS_MAX {
        return Err(length_error(input));
    }
    Ok(wa_id)
}

fn length_error(input: &str) -> MetaError {
    MetaError::invalid_value(format!(
        "Param to must be a phone number of {} to {} digits; got \"{input}\".",
        limits::PHONE_DIGITS_MIN,
        limits::PHONE_DIGITS_MAX
    ))
}

/// Loads libphonenumber's metadata now (about a quarter of a second, once per process) rather
/// than on the first number read: that first send would wait for it, and so would every request
/// that arrives meanwhile (they then all go through within a millisecond of each other).
pub fn load_phone_metadata() {
    let _ = &*DATABASE;
}

fn wa_id_of(n: &phonenumber::PhoneNumber) -> String {
    format!("{}{}", n.code().value(), n.national())
}

/// `+digits` read as an international number, to its `wa_id`; `None` if it is not one.
fn international(digits: &str) -> Option<String> {
    if digits.is_empty() {
        return None;
    }
    // Reading a `wa_id` again strips a trunk prefix that the first reading left in place
    // (a national number that itself starts with the prefix); two readings reach the fixed
    // point, the third is a guard.
    let mut current = digits.to_string();
    for _ in 0..3 {
        let n = phonenumber::parse(None, format!("+{current}")).ok()?;
        let next = wa_id_of(&n);
        if next == current {
            return Some(next);
        }
        current = next;
    }
    Some(current)
}

/// The region (for national numbers) of the business number `digits`.
fn business_region(digits: &str) -> Option<country::Id> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = phonenumber::parse(None, format!("+{digits}")).ok()?;
    if let Some(id) = n.country().id() {
        return Some(id);
    }
    // Fictional business numbers (`+1 555 …`) belong to no region; their country code's main
    // region stands in.
    let code = n.code().value();
    let regions = DATABASE.by_code(&code)?;
    let main = regions
        .iter()
        .find(|m| m.is_main_country_for_code())
        .or_else(|| regions.first())?;
    main.id().parse().ok()
}

/// `digits` read as a national number of `region`, if valid there, to its `wa_id`.
fn national(digits: &str, region: country::Id) -> Option<String> {
    if digits.is_empty() {
        return None;
    }
    let n = phonenumber::parse(Some(region), digits).ok()?;
    if !n.is_valid() {
        return None;
    }
    let wa_id = wa_id_of(&n);
    // The `wa_id` must read back as itself (see `international`).
    (international(&wa_id).as_deref() == Some(wa_id.as_str())).then_some(wa_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: &str = "15550783881";
    const BR: &str = "551140042000";
    const GB: &str = "442071838750";
    const DE: &str = "4930901820";
    const IN: &str = "912226520000";

    fn norm(input: &str, business: Option<&str>) -> Result<String, MetaError> {
        let ctx = ParseContext {
            business_phone: business.map(str::to_string),
        };
        normalize_phone_in(input, &ctx)
    }

    #[test]
    fn numbers_become_wa_ids() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            // With `+`: international, whatever the business.
            ("+1 (555) 010-1234", None, "15550101234"),
            ("+1 555 0101234", Some(GB), "15550101234"),
            ("+1 650.555.1234", None, "16505551234"),
            ("+55 (11) 98765-4321", None, "5511987654321"),
            ("+55 11 98765 4321", Some(US), "5511987654321"),
            ("+91 98765 43210", None, "919876543210"),
            ("+44 7911 123456", Some(DE), "447911123456"),
            ("+44 (0)7911 123456", None, "447911123456"),
            ("+49 (0)151 23456789", None, "4915123456789"),
            ("+49 151 23456789", Some(IN), "4915123456789"),
            ("+39 06 1234 5678", None, "390612345678"),
            ("+52 1 55 1234 5678", None, "5215512345678"),
            ("  +16505551234  ", None, "16505551234"),
            // Without `+` and without a business number: as written.
            ("15551234567", None, "15551234567"),
            ("07911 123456", None, "07911123456"),
            ("(11) 98765-4321", None, "11987654321"),
            // Without `+`, already international: kept.
            ("15551234567", Some(US), "15551234567"),
            ("16505551234", Some(US), "16505551234"),
            ("5511987654321", Some(US), "5511987654321"),
            ("447911123456", Some(US), "447911123456"),
            ("5511987654321", Some(BR), "5511987654321"),
            ("447911123456", Some(GB), "447911123456"),
            ("4915123456789", Some(DE), "4915123456789"),
            ("919876543210", Some(IN), "919876543210"),
            // Without `+`, national in the business's country: its country code is added.
            ("(650) 555-1234", Some(US), "16505551234"),
            ("1 650 555 1234", Some(US), "16505551234"),
            ("11 98765-4321", Some(BR), "5511987654321"),
            ("011 98765 4321", Some(BR), "5511987654321"),
            ("07911 123456", Some(GB), "447911123456"),
            ("020 7183 8750", Some(GB), "442071838750"),
            ("0151 23456789", Some(DE), "4915123456789"),
            ("030 901820", Some(DE), "4930901820"),
            ("98765 43210", Some(IN), "919876543210"),
            ("098765 43210", Some(IN), "919876543210"),
            // Without `+`, dialled with the international prefix.
            ("011 44 7911 123456", Some(US), "447911123456"),
            ("0044 7911 123456", Some(GB), "447911123456"),
            ("00 55 11 98765 4321", Some(DE), "5511987654321"),
            // A national number of another country is not rewritten: taken as international.
            ("07911 123456", Some(US), "07911123456"),
            // A business number that is no phone number is ignored.
            ("07911 123456", Some("12"), "07911123456"),
            ("07911 123456", Some("abc"), "07911123456"),
        ];
        for (input, business, want) in cases {
            assert_eq!(
                norm(input, *business).as_deref(),
                Ok(*want),
                "{input} from {business:?}"
            );
        }
    }

    #[test]
    fn bad_numbers_are_refused_naming_to() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1555abc1234", None),
            ("+1 555 010 1234 ext 5", None),
            ("1555#0101234", Some(US)),
            ("15550101234+", None),
            ("++15550101234", None),
            ("1555_0101234", None),
            ("tel:+15550101234", None),
            ("", None),
            ("+", None),
            ("123456", None),
            ("123456", Some(US)),
            ("1234567890123456", None),
            ("+1234567890123456", None),
            ("+999 1234 5678", None),
            ("+0 555 010 1234", None),
            ("+1", None),
            ("+1000000", None),
            ("{{Recipient-Phone-Number}}", None),
            (&"9".repeat(40), None),
            (&format!("+{}", "9".repeat(40)), None),
        ];
        for (input, business) in cases {
            let e = norm(input, *business).expect_err(input);
            assert_eq!(e.code, 131009, "{input}: {e}");
            assert!(
                e.details.as_deref().unwrap_or("").contains("Param to"),
                "{input}: {e}"
            );
        }
    }

    #[test]
    fn length_boundaries() {
        // Without `+` and without context the digits are counted as written.
        assert!(norm("1234567", None).is_ok());
        assert!(norm("123456", None).is_err());
        assert!(norm("123456789012345", None).is_ok());
        assert!(norm("1234567890123456", None).is_err());
        // With `+`: the shortest and longest numbers of real countries.
        assert_eq!(norm("+290 1234", None).as_deref(), Ok("2901234"));
        assert_eq!(
            norm("+49 1234 567890123", None).as_deref(),
            Ok("491234567890123")
        );
    }

    #[test]
    fn the_context_free_function_is_the_default_context() {
        for input in ["+1 (555) 010-1234", "07911 123456", "1555abc"] {
            assert_eq!(
                super::super::normalize_phone(input),
                normalize_phone_in(input, &ParseContext::default())
            );
        }
    }

    fn phone_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\+?[0-9 ().-]{0,24}",
            "\\+[1-9][0-9]{6,14}",
            "0{0,2}[1-9][0-9]{6,13}",
        ]
    }

    fn business() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some(US.to_string())),
            Just(Some(BR.to_string())),
            Just(Some(GB.to_string())),
            Just(Some(DE.to_string())),
            Just(Some(IN.to_string())),
            "[0-9]{0,16}".prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn normalising_a_wa_id_with_plus_gives_it_back(input in phone_like(), b in business()) {
            if let Ok(wa_id) = norm(&input, b.as_deref()) {
                prop_assert!(wa_id.bytes().all(|c| c.is_ascii_digit()));
                prop_assert!((limits::PHONE_DIGITS_MIN..=limits::PHONE_DIGITS_MAX).contains(&wa_id.len()));
                let as_written: String = input.chars().filter(char::is_ascii_digit).collect();
                if input.trim_start().starts_with('+') || wa_id != as_written {
                    // Read as an international or a national number: a fixed point.
                    prop_assert_eq!(norm(&format!("+{wa_id}"), b.as_deref()), Ok(wa_id.clone()));
                    prop_assert_eq!(norm(&format!("+{wa_id}"), None), Ok(wa_id));
                }
            }
        }

        #[test]
        fn international_wa_ids_are_fixed_points(input in "\\+[0-9 ()-]{1,20}", b in business()) {
            if let Ok(wa_id) = norm(&input, b.as_deref()) {
                let again = norm(&format!("+{wa_id}"), b.as_deref());
                prop_assert_eq!(again, Ok(wa_id));
            }
        }

        #[test]
        fn normalising_never_panics(input in "\\PC{0,40}", b in business()) {
            let _ = norm(&input, b.as_deref());
        }
    }
}

/// A bounded memo of the metadata look-ups, which cost tens of microseconds each (many
/// regular expressions) while a business writes to the same users again and again. The
/// look-up is a pure function of its key, so a remembered answer is the answer.
mod memo {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    /// Entries kept at most; the memo starts over when full.
    const CAPACITY: usize = 1 << 16;

    type Key = (bool, String, Option<String>);

    static MEMO: LazyLock<Mutex<HashMap<Key, Option<String>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));

    /// The remembered answer for (`plus`, `digits`, `business`), or `compute`'s.
    pub(super) fn lookup(
        plus: bool,
        digits: &str,
        business: Option<&str>,
        compute: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        let key = (plus, digits.to_string(), business.map(str::to_string));
        if let Ok(memo) = MEMO.lock()
            && let Some(known) = memo.get(&key)
        {
            return known.clone();
        }
        let answer = compute();
        if let Ok(mut memo) = MEMO.lock() {
            if memo.len() >= CAPACITY {
                memo.clear();
            }
            memo.insert(key, answer.clone());
        }
        answer
    }
}
