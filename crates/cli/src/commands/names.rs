//! Names for the user ids a page mentions that the server did not name for us (comment authors,
//! approvers): known ones first, then one lookup per distinct id, a few at a time.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use hdms_api_types::credentials::Session;

/// Lookups in flight at once.
const CONCURRENT: usize = 8;

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

    pub fn knows(&self, id: &Uuid) -> bool {
        self.0.contains_key(id)
    }
}

/// Looks up the ids `names` does not know yet. People the caller may not read (customers read
/// no other users) stay ids: a page is still worth printing without them.
pub async fn fill(session: &Session, names: &mut Names, ids: impl IntoIterator<Item = Uuid>) {
    let mut wanted: Vec<Uuid> = ids.into_iter().filter(|id| !names.knows(id)).collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return;
    }
    let found = session
        .call(|client| {
            let wanted = wanted.clone();
            async move {
                futures::stream::iter(wanted)
                    .map(|id| {
                        let client = client.clone();
                        async move { Ok(client.get_user(id).await.ok()) }
                    })
                    .buffer_unordered(CONCURRENT)
                    .try_collect::<Vec<_>>()
                    .await
            }
        })
        .await
        .unwrap_or_default();
    names.learn(found.into_iter().flatten().map(|user| (user.id, display_name(&user.name, &user.email))));
}

/// A name, or the email when the name is blank.
pub fn display_name(name: &str, email: &str) -> String {
    if name.trim().is_empty() { email.to_owned() } else { name.to_owned() }
}
