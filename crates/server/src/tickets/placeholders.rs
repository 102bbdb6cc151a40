//! Placeholders in the texts hdms writes for people: replies and notes of macros, bulk updates
//! and rules, rule notifications, canned replies (`Dear {{ requester.name }}, ...`).
//!
//! Rendered by minijinja in a sandbox: no loader (no includes or imports), strict undefined
//! values, a fuel limit against runaway loops, and a context holding only the fields of
//! [`ALLOWED`]. A text naming anything else is refused when it is saved, with the field named.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

use crate::error::{Error, Result};

/// The fields a text may name.
pub const ALLOWED: &[&str] = &[
    "ticket.number",
    "ticket.subject",
    "ticket.status",
    "ticket.priority",
    "ticket.category",
    "requester.name",
    "requester.email",
    "agent.name",
    "agent.email",
];

/// Instructions one rendering may run (a loop over a long range runs out of it).
const FUEL: u64 = 50_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Plain text (replies are text, mail bodies too): nothing to escape.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env
}

/// Checks a text's syntax and that it names only allowed fields; `field` is the input's name
/// in the 422 answer.
pub fn check(field: &str, text: &str) -> Result<()> {
    let env = environment();
    let template = env.template_from_str(text).map_err(|e| Error::invalid(field, format!("placeholders: {}", e.detail().unwrap_or("syntax error"))))?;
    let mut unknown: Vec<String> = template.undeclared_variables(true).into_iter().filter(|v| !ALLOWED.contains(&v.as_str())).collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(Error::invalid(
            field,
            format!("unknown placeholder {}; known: {}", unknown.join(", "), ALLOWED.join(", ")),
        ));
    }
    Ok(())
}

/// A person a text may name.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// What the placeholders stand for.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub number: String,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub category: String,
    pub requester: Person,
    /// The person acting (macros, bulk), or the ticket's assignee (rules).
    pub agent: Person,
}

fn person(p: &Person) -> Value {
    context! { name => p.name.clone(), email => p.email.clone() }
}

/// The text with its placeholders filled in.
pub fn render(field: &str, text: &str, values: &Values) -> Result<String> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Ok(text.to_owned());
    }
    let ctx = context! {
        ticket => context! {
            number => values.number.clone(),
            subject => values.subject.clone(),
            status => values.status.clone(),
            priority => values.priority.clone(),
            category => values.category.clone(),
        },
        requester => person(&values.requester),
        agent => person(&values.agent),
    };
    environment().render_str(text, ctx).map_err(|e| Error::invalid(field, format!("placeholders: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_render_and_unknown_ones_are_refused() {
        let values = Values { number: "HD-7".into(), requester: Person { name: "Ada".into(), email: "ada@example.com".into() }, ..Values::default() };
        assert_eq!(render("body", "Dear {{ requester.name }}, re {{ ticket.number }}", &values).unwrap(), "Dear Ada, re HD-7");
        check("body", "{{ ticket.subject | upper }} {% if agent.name %}{{ agent.name }}{% endif %}").unwrap();
        let err = check("body", "{{ ticket.secret }} {{ env }}").unwrap_err().to_string();
        assert!(err.contains("env, ticket.secret"), "{err}");
        assert!(check("body", "{{ ticket }}").is_err(), "the whole object is not on the list");
        assert!(check("body", "{{ ticket.number ").is_err());
        assert!(render("body", "{% for i in range(100000000) %}x{% endfor %}", &values).is_err(), "fuel runs out");
    }
}
