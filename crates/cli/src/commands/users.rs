//! `hdms users …`.

use std::collections::HashMap;

use hdms_api_types::users::{CreateUser, UpdateUser, User, UserListQuery};
use uuid::Uuid;

use crate::cli::{UserFilters, UsersCommand};
use crate::commands::{args_or_stdin, collect_pages, import, read_stdin_line, teams};
use crate::exit::{CliError, CliResult};
use crate::output::human::{ago, yes_no};
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: UsersCommand) -> CliResult {
    match command {
        UsersCommand::List(filters) => {
            let users = list(&session, filters).await?;
            let teams = team_names(&session, &output).await?;
            output.list_as(&users, |user| UserRow::new(user, &teams))
        }
        UsersCommand::Show { users } => {
            let mut found = Vec::new();
            for user in args_or_stdin(users)? {
                let id = resolve(&session, &user, false).await?;
                found.push(session.call(|client| async move { client.get_user(id).await }).await?);
            }
            let teams = team_names(&session, &output).await?;
            match found.as_slice() {
                [one] => output.one_as(one, UserRow::new(one, &teams)),
                many => output.list_as(many, |user| UserRow::new(user, &teams)),
            }
        }
        UsersCommand::Create { email, name, role, phone, password_stdin } => {
            let password = if password_stdin { Some(read_stdin_line()?) } else { None };
            let request = CreateUser { email, name, role, phone, password };
            let user = session.call(|client| {
                let request = request.clone();
                async move { client.create_user(&request).await }
            }).await?;
            output.one_as(&user, UserRow { user: &user, teams: Vec::new() })
        }
        UsersCommand::Update { user, email, name, role, phone, clear_phone, active } => {
            let id = resolve(&session, &user, false).await?;
            let phone = if clear_phone { Some(None) } else { phone.map(Some) };
            let update = UpdateUser { email, name, role, phone, password: None, active };
            let user = session.call(|client| {
                let update = update.clone();
                async move { client.update_user(id, &update).await }
            }).await?;
            let teams = team_names(&session, &output).await?;
            output.one_as(&user, UserRow::new(&user, &teams))
        }
        UsersCommand::Delete { users } => {
            for user in args_or_stdin(users)? {
                let id = resolve(&session, &user, false).await?;
                session.call(|client| async move { client.delete_user(id).await }).await?;
                eprintln!("Deleted user {id}");
            }
            Ok(())
        }
        UsersCommand::Restore { users } => {
            let mut restored = Vec::new();
            for user in args_or_stdin(users)? {
                let id = resolve(&session, &user, true).await?;
                restored.push(session.call(|client| async move { client.restore_user(id).await }).await?);
            }
            output.list_as(&restored, |user| UserRow { user, teams: Vec::new() })
        }
        UsersCommand::Import(args) => import::run(session, output, args).await,
    }
}

/// Every user the filters match, page after page (up to `--limit`).
async fn list(session: &Session, filters: UserFilters) -> CliResult<Vec<User>> {
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
pub async fn resolve(session: &Session, user: &str, deleted: bool) -> CliResult<Uuid> {
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

/// Each user's teams by name, from one list of the teams (for tables only: JSON is the user
/// as the server sends it).
async fn team_names(session: &Session, output: &Output) -> CliResult<HashMap<Uuid, Vec<String>>> {
    let mut names: HashMap<Uuid, Vec<String>> = HashMap::new();
    if !output.for_people() {
        return Ok(names);
    }
    let teams = teams::live(session).await?;
    for team in teams {
        for member in &team.members {
            names.entry(*member).or_default().push(team.name.clone());
        }
    }
    Ok(names)
}

impl Record for User {
    const FIELDS: &'static [&'static str] =
        &["id", "email", "name", "role", "phone", "locale", "external_id", "active", "created_at", "updated_at", "deleted_at", "last_login_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// A user with the names of their teams, as a table row.
pub struct UserRow<'a> {
    pub user: &'a User,
    pub teams: Vec<String>,
}

impl<'a> UserRow<'a> {
    pub fn new(user: &'a User, teams: &HashMap<Uuid, Vec<String>>) -> UserRow<'a> {
        UserRow { user, teams: teams.get(&user.id).cloned().unwrap_or_default() }
    }
}

impl Tabular for UserRow<'_> {
    const COLUMNS: &'static [Column] = &[
        Column::shrink("name", 10),
        Column::shrink("email", 12),
        Column::whole("role"),
        Column::shrink("teams", 8),
        Column::whole("active"),
        Column::whole("last login"),
        Column::whole("created"),
        Column::whole("phone").wide(),
        Column::whole("deleted").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let user = self.user;
        vec![
            Cell::new(&user.name, Tone::Strong),
            user.email.as_str().into(),
            user.role.as_str().into(),
            self.teams.join(", ").into(),
            yes_no(user.active),
            user.last_login_at.map_or_else(|| Cell::new("never", Tone::Muted), |at| ago(at, layout).into()),
            Cell::new(ago(user.created_at, layout), Tone::Muted),
            user.phone.clone().unwrap_or_default().into(),
            user.deleted_at.map(|at| ago(at, layout)).unwrap_or_default().into(),
            Cell::new(user.id.to_string(), Tone::Muted),
        ]
    }
}
