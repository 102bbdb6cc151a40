//! Field checks for user data, shared by the REST handlers and the CSV importer so both give the
//! same answer for the same value.

use phonenumber::Mode;

use crate::error::{Error, Result};
use crate::users::store::normalise_email;

/// A normalised (trimmed, lower-case) email address, or why it is not one.
pub fn email(raw: &str) -> Result<String, String> {
    let email = normalise_email(raw);
    if email.is_empty() {
        return Err("is empty".to_owned());
    }
    if email.len() > 254 || !email_address::EmailAddress::is_valid(&email) || !email.contains('.') && !email.ends_with("@localhost") {
        return Err(format!("'{}' is not a valid email address", raw.trim()));
    }
    Ok(email)
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
pub fn name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name.chars().count() > 200 {
        return Err("must be at most 200 characters".to_owned());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

/// A phone number in E.164 form (`+` and up to 15 digits) that is a real, dialable number.
pub fn phone(raw: &str) -> Result<String, String> {
    let phone = raw.trim();
    let digits = phone.strip_prefix('+').unwrap_or_default();
    let shaped = !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit());
    let parsed = shaped.then(|| phonenumber::parse(None, phone).ok()).flatten();
    match parsed {
        Some(number) if phonenumber::is_valid(&number) => Ok(number.format().mode(Mode::E164).to_string()),
        _ => Err(format!("'{phone}' is not a valid phone number in E.164 form (e.g. +14155550123)")),
    }
}

/// Adapts a field check to an API error naming the field.
pub fn field<T>(field: &str, result: Result<T, String>) -> Result<T> {
    result.map_err(|message| Error::invalid(field, message))
}

/// A language tag such as `en`, `fr-CA` or `zh-Hant-TW` (BCP 47 shape: a 2-3 letter language,
/// then subtags of 1-8 letters or digits), normalised to `-` separators and the usual case.
pub fn locale(raw: &str) -> Result<String, String> {
    let tag = raw.trim().replace('_', "-");
    let mut subtags = tag.split('-');
    let language = subtags.next().unwrap_or_default();
    let language_ok = (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic());
    let rest: Vec<&str> = subtags.collect();
    let rest_ok = rest.iter().all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !language_ok || !rest_ok || tag.len() > 35 {
        return Err(format!("'{}' is not a language tag such as en, fr-CA or pt-BR", raw.trim()));
    }
    let mut normalised = language.to_ascii_lowercase();
    for subtag in rest {
        normalised.push('-');
        // Regions are upper case (CA), scripts title case (Hant), the rest lower case.
        match subtag.len() {
            2 if subtag.bytes().all(|b| b.is_ascii_alphabetic()) => normalised.push_str(&subtag.to_ascii_uppercase()),
            4 if subtag.bytes().all(|b| b.is_ascii_alphabetic()) => {
                normalised.push_str(&subtag[..1].to_ascii_uppercase());
                normalised.push_str(&subtag[1..].to_ascii_lowercase());
            }
            _ => normalised.push_str(&subtag.to_ascii_lowercase()),
        }
    }
    Ok(normalised)
}

/// An id in another system: trimmed, 1 to 200 characters, no control characters.
pub fn external_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.chars().count() > 200 {
        return Err("must be at most 200 characters".to_owned());
    }
    if id.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(id.to_owned())
}
