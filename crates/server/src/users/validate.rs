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
