//! One identifier per external party, whatever channel names them.
//!
//! WhatsApp webhooks give `5511988887777`, an import `+55 11 98888-7777`,
//! a CRM `+5511988887777`: all are the same person, and must share one data
//! key so that erasing them erases everything. Phone numbers become `+` and
//! their digits; e-mail addresses are lower-cased; anything else (a
//! business-scoped user id, a Slack id) is kept as it is, trimmed.

/// The canonical form of a party's address.
pub fn party_id(address: &str) -> String {
    let trimmed = address.trim();
    let phone_like = !trimmed.is_empty()
        && trimmed.chars().any(|c| c.is_ascii_digit())
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
    if phone_like {
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        return format!("+{digits}");
    }
    if trimmed.contains('@') {
        return trimmed.to_lowercase();
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::party_id;

    #[test]
    fn the_same_person_has_one_id_across_channels() {
        for form in [
            "5511988887777",
            "+55 11 98888-7777",
            "+5511988887777",
            " (55) 11.98888.7777 ",
        ] {
            assert_eq!(party_id(form), "+5511988887777", "{form}");
        }
        assert_eq!(party_id("Ana.Souza@Example.com"), "ana.souza@example.com");
        assert_eq!(party_id("BR.1349001234567"), "BR.1349001234567");
        assert_eq!(party_id("U024BE7LH"), "U024BE7LH");
    }
}
