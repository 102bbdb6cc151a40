//! Who hears of a new comment. Mentioned people get a `mention`; the ticket's other people
//! (the requester for public replies, the assignee, the watchers) get a `new_reply`. Nobody
//! hears of their own comment, nobody hears of a ticket they may not see, and an internal note
//! reaches staff only. Written in the comment's transaction, like every notification.
//!
//! A mention is `@` and a handle at the start of a word: the full email (`@ana@example.com`),
//! or its part before the `@` (`@ana`) when exactly one live user has it. Anything else after
//! an `@` is ignored, so an email address in running text (`write to ana@example.com`) is not
//! a mention.

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::tickets::Comment;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Tx;
use crate::error::Result;
use crate::tickets::store::{self, TicketRow};
use crate::tickets::visibility::user_may_see;
use crate::users::auth::AuthUser;
use crate::with_tx;

/// Mentions looked up per comment; a comment naming more people is a broadcast, not a mention.
const MAX_MENTIONS: usize = 20;
/// Characters of the comment quoted in the notification.
const EXCERPT_CHARS: usize = 200;

pub async fn comment_added(tx: &mut Tx, author: &AuthUser, ticket: &TicketRow, comment: &Comment, now: DateTime<Utc>) -> Result<()> {
    let mut mentioned = Vec::new();
    for handle in mention_handles(&comment.body).into_iter().take(MAX_MENTIONS) {
        if let Some(user) = find_mentioned(tx, &handle).await?
            && user != author.id()
            && !mentioned.contains(&user)
            && may_hear(tx, user, ticket, comment.internal).await?
        {
            mentioned.push(user);
        }
    }

    let mut involved: Vec<Uuid> = Vec::new();
    if !comment.internal {
        involved.push(ticket.requester_id);
    }
    involved.extend(ticket.assignee_id);
    const WATCHERS: &str = "SELECT user_id FROM ticket_watchers WHERE ticket_id = $1 ORDER BY user_id";
    let watchers: Vec<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(WATCHERS).bind(ticket.id).fetch_all(&mut *conn).await?);
    involved.extend(watchers);
    let mut repliers = Vec::new();
    for user in involved {
        if user != author.id() && !mentioned.contains(&user) && !repliers.contains(&user) && may_hear(tx, user, ticket, comment.internal).await? {
            repliers.push(user);
        }
    }

    let number = store::display_number(ticket.number);
    let who = &author.user.name;
    let excerpt = excerpt(&comment.body);
    if !mentioned.is_empty() {
        let title = format!("{number}: {who} mentioned you");
        let notice = Notice { kind: Kind::Mention, ticket_id: Some(ticket.id), title: &title, body: &excerpt };
        notifications::notify(tx, &mentioned, &notice, now).await?;
    }
    if !repliers.is_empty() {
        let what = if comment.internal { "internal note" } else { "reply" };
        let title = format!("{number}: new {what} from {who}");
        let notice = Notice { kind: Kind::NewReply, ticket_id: Some(ticket.id), title: &title, body: &excerpt };
        notifications::notify(tx, &repliers, &notice, now).await?;
    }
    Ok(())
}

/// Whether a live, active user may see the ticket, and the comment (internal: staff only).
async fn may_hear(tx: &mut Tx, user: Uuid, ticket: &TicketRow, internal: bool) -> Result<bool> {
    const ROLE: &str = "SELECT role FROM users WHERE id = $1 AND active AND deleted_at IS NULL";
    const TEAMS: &str = "SELECT team_id FROM team_members WHERE user_id = $1";
    let role: Option<String> = with_tx!(tx, conn => sqlx::query_scalar(ROLE).bind(user).fetch_optional(&mut *conn).await?);
    let Some(role) = role.and_then(|r| r.parse::<Role>().ok()) else { return Ok(false) };
    if internal && role == Role::Customer {
        return Ok(false);
    }
    let teams: Vec<Uuid> = if role == Role::Agent {
        with_tx!(tx, conn => sqlx::query_scalar(TEAMS).bind(user).fetch_all(&mut *conn).await?)
    } else {
        Vec::new()
    };
    Ok(user_may_see(user, role, &teams, ticket))
}

/// The user a handle names: a full email, or a local part that exactly one live user has.
async fn find_mentioned(tx: &mut Tx, handle: &str) -> Result<Option<Uuid>> {
    const BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1 AND deleted_at IS NULL";
    // Emails are stored in lower case; the prefix comparison has no index, and needs none at
    // the rate people type mentions.
    const BY_LOCAL_PART: &str = "SELECT id FROM users WHERE substr(email, 1, $2) = $1 AND deleted_at IS NULL LIMIT 2";
    let handle = handle.to_lowercase();
    if handle.contains('@') {
        return Ok(with_tx!(tx, conn => sqlx::query_scalar(BY_EMAIL).bind(&handle).fetch_optional(&mut *conn).await?));
    }
    let prefix = format!("{handle}@");
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    let found: Vec<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(BY_LOCAL_PART).bind(&prefix).bind(length).fetch_all(&mut *conn).await?);
    Ok(match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    })
}

/// The handles after each `@` that starts a word, in order, without repeats.
fn mention_handles(body: &str) -> Vec<String> {
    let local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let domain = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-');
    let mut handles: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        let starts_word = previous.is_none_or(|p| !(p.is_alphanumeric() || matches!(p, '.' | '_' | '%' | '+' | '-' | '@')));
        if c == '@' && starts_word {
            let after = &rest[1..];
            let local_len: usize = after.chars().take_while(|c| local(*c)).map(char::len_utf8).sum();
            let mut end = local_len;
            if after[local_len..].starts_with('@') {
                let domain_len: usize = after[local_len + 1..].chars().take_while(|c| domain(*c)).map(char::len_utf8).sum();
                if domain_len > 0 {
                    end = local_len + 1 + domain_len;
                }
            }
            // A sentence may end right after a mention: "thanks @ana."
            let handle = after[..end].trim_end_matches(['.', '-']);
            if !handle.is_empty() && !handles.iter().any(|h| h.eq_ignore_ascii_case(handle)) {
                handles.push(handle.to_owned());
            }
            previous = handle.chars().last().or(Some('@'));
            rest = &after[handle.len()..];
            continue;
        }
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    handles
}

fn excerpt(body: &str) -> String {
    let mut chars = body.chars();
    let short: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::mention_handles;

    #[test]
    fn mentions_are_handles_at_the_start_of_a_word() {
        assert_eq!(mention_handles("@ana can you look? cc @bob.smith@example.com."), ["ana", "bob.smith@example.com"]);
        assert_eq!(mention_handles("thanks @ana."), ["ana"]);
        assert_eq!(mention_handles("(@ana) and @ANA and @ana again"), ["ana"]);
        // An address in running text, a bare @, and an @ inside a word are not mentions.
        assert!(mention_handles("write to ana@example.com or @ alone or x@y").is_empty());
        assert_eq!(mention_handles("@zoë and @ana"), ["zoë", "ana"]);
        assert_eq!(mention_handles("@ana@"), ["ana"]);
    }
}
