//! Names for the user ids a page mentions that the server did not name for us (comment authors,
//! approvers): known ones first, then one lookup per distinct id, a few at a time.

use std::collections::HashMap;

use futures::StreamExt;
use hdms_api_types::client::{Client, ClientError};
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
    let unknown: Vec<Uuid> = ids.into_iter().filter(|id| !names.knows(id)).collect();
    let found = fetch_each(session, unknown, |client, id| async move { client.get_user(id).await }).await;
    names.learn(found.into_iter().map(|user| (user.id, display_name(&user.name, &user.email))));
}

/// One request per distinct id, a few at a time, for what the records at hand only name by id;
/// whatever cannot be read is left out.
pub async fn fetch_each<T, F, Fut>(session: &Session, ids: impl IntoIterator<Item = Uuid>, fetch: F) -> Vec<T>
where
    F: Fn(Client, Uuid) -> Fut + Clone,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut wanted: Vec<Uuid> = ids.into_iter().collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Vec::new();
    }
    let found = session
        .call(|client| {
            let (wanted, fetch) = (wanted.clone(), fetch.clone());
            async move {
                Ok(futures::stream::iter(wanted)
                    .map(|id| fetch(client.clone(), id))
                    .buffer_unordered(CONCURRENT)
                    .filter_map(|found| async move { found.ok() })
                    .collect::<Vec<T>>()
                    .await)
            }
        })
        .await;
    found.unwrap_or_default()
}

/// A name, or the email when the name is blank.
pub fn display_name(name: &str, email: &str) -> String {
    if name.trim().is_empty() { email.to_owned() } else { name.to_owned() }
}
