//! `hdms users …`.

use hdms_api_types::users::{CreateUser, UpdateUser, User, UserListQuery};
use uuid::Uuid;

use crate::cli::{UserFilters, UsersCommand};
use crate::commands::{args_or_stdin, collect_pages, import, read_stdin_line, teams};
use crate::exit::{CliError, CliResult};
use crate::output::Output;
use hdms_api_types::credentials::Session;

pub async fn run(mut session: Session, output: Output, command: UsersCommand) -> CliResult {
    match command {
        UsersCommand::List(filters) => {
            let users = list(&mut session, filters).await?;
            output.list(&users)
        }
        UsersCommand::Show { users } => {
            let mut found = Vec::new();
            for user in args_or_stdin(users)? {
                let id = resolve(&mut session, &user, false).await?;
                found.push(session.call(|client| async move { client.get_user(id).await }).await?);
            }
            match found.as_slice() {
                [one] => output.one(one),
                many => output.list(many),
            }
        }
        UsersCommand::Create { email, name, role, phone, password_stdin } => {
            let password = if password_stdin { Some(read_stdin_line()?) } else { None };
            let request = CreateUser { email, name, role, phone, password };
            let user = session.call(|client| {
                let request = request.clone();
                async move { client.create_user(&request).await }
            }).await?;
            output.one(&user)
        }
        UsersCommand::Update { user, email, name, role, phone, clear_phone, active } => {
            let id = resolve(&mut session, &user, false).await?;
            let phone = if clear_phone { Some(None) } else { phone.map(Some) };
            let update = UpdateUser { email, name, role, phone, password: None, active };
            let user = session.call(|client| {
                let update = update.clone();
                async move { client.update_user(id, &update).await }
            }).await?;
            output.one(&user)
        }
        UsersCommand::Delete { users } => {
            for user in args_or_stdin(users)? {
                let id = resolve(&mut session, &user, false).await?;
                session.call(|client| async move { client.delete_user(id).await }).await?;
                eprintln!("Deleted user {id}");
            }
            Ok(())
        }
        UsersCommand::Restore { users } => {
            let mut restored = Vec::new();
            for user in args_or_stdin(users)? {
                let id = resolve(&mut session, &user, true).await?;
                restored.push(session.call(|client| async move { client.restore_user(id).await }).await?);
            }
            output.list(&restored)
        }
        UsersCommand::Import(args) => import::run(session, output, args).await,
    }
}

/// Every user the filters match, page after page (up to `--limit`).
async fn list(session: &mut Session, filters: UserFilters) -> CliResult<Vec<User>> {
    let team = match &filters.team {
        Some(team) => Some(teams::resolve(session, team).await?),
        None => None,
    };
    let wanted = filters.limit.unwrap_or(usize::MAX);
    let query = UserListQuery {
        role: filters.role,
        q: filters.query,
        team,
        deleted: filters.deleted.then_some(true),
        limit: Some(wanted.min(500) as u32),
        cursor: None,
    };
    collect_pages(session, wanted, |client, cursor| {
        let query = UserListQuery { cursor, ..query.clone() };
        async move { client.list_users(&query).await }
    })
    .await
}

/// A user's id from an id or an email address.
pub async fn resolve(session: &mut Session, user: &str, deleted: bool) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::try_parse(user.trim()) {
        return Ok(id);
    }
    let email = user.trim().to_lowercase();
    if !email.contains('@') {
        return Err(CliError::usage(format!("'{user}' is neither a user id nor an email address")));
    }
    let filters = UserFilters { query: Some(email.clone()), deleted, ..Default::default() };
    let matches = list(session, filters).await?;
    matches
        .into_iter()
        .find(|candidate| candidate.email == email)
        .map(|user| user.id)
        .ok_or_else(|| CliError::failure(format!("not_found: no {}user with email '{email}'", if deleted { "deleted " } else { "" })))
}
