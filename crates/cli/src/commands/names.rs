//! Names for the ids a page mentions that its records do not name themselves (a ticket's parent,
//! the ticket it was merged into). People never need this: the server sends their names with
//! tickets, comments, approvals and attachments.

use std::collections::HashMap;

use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct Names(HashMap<Uuid, String>);

impl Names {
    pub fn learn(&mut self, known: impl IntoIterator<Item = (Uuid, String)>) {
        for (id, name) in known {
            if !name.trim().is_empty() {
                self.0.entry(id).or_insert(name);
            }
        }
    }

    /// The name, or the id for someone this caller may not look up.
    pub fn name(&self, id: Uuid) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }
}

/// A name, or the email when the name is blank.
pub fn display_name(name: &str, email: &str) -> String {
    if name.trim().is_empty() { email.to_owned() } else { name.to_owned() }
}
