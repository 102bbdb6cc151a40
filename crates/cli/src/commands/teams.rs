//! `hdms teams …`.

use hdms_api_types::teams::{CreateTeam, Team, TeamListQuery, UpdateTeam};
use hdms_api_types::users::UserListQuery;
use uuid::Uuid;

use crate::cli::TeamsCommand;
use crate::commands::names::display_name;
use crate::commands::{args_or_stdin, collect_pages, parse_id, users};
use crate::exit::{CliError, CliResult};
use crate::output::human::ago;
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone, render_record_with};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: TeamsCommand) -> CliResult {
    match command {
        TeamsCommand::List { deleted } => {
            let query = TeamListQuery { deleted: deleted.then_some(true) };
            let teams = session.call(|client| {
                let query = query.clone();
                async move { client.list_teams(&query).await }
            }).await?;
            output.list(&teams)
        }
        TeamsCommand::Show { team } => {
            let id = resolve(&session, &team).await?;
            let team = session.call(|client| async move { client.get_team(id).await }).await?;
            if !output.for_people() {
                return output.one(&team);
            }
            // Members by name: one paged list of the team's users rather than one request each.
            let query = UserListQuery { team: Some(id), limit: Some(500), ..Default::default() };
            let members = collect_pages(&session, usize::MAX, |client, cursor| {
                let query = UserListQuery { cursor, ..query.clone() };
                async move { client.list_users(&query).await }
            })
            .await?;
            let names = members.iter().map(|user| format!("{} ({})", display_name(&user.name, &user.email), user.role)).collect::<Vec<_>>();
            let members = [("Members", Cell::from(names.join("\n")))];
            print!("{}", render_record_with(Team::COLUMNS, &team.row(&output.layout), &members, &output.layout));
            Ok(())
        }
        TeamsCommand::Create { name, description } => {
            let request = CreateTeam { name, description };
            let team = session.call(|client| {
                let request = request.clone();
                async move { client.create_team(&request).await }
            }).await?;
            output.one(&team)
        }
        TeamsCommand::Update { team, name, description } => {
            let id = resolve(&session, &team).await?;
            let update = UpdateTeam { name, description };
            let team = session.call(|client| {
                let update = update.clone();
                async move { client.update_team(id, &update).await }
            }).await?;
            output.one(&team)
        }
        TeamsCommand::Delete { team } => {
            let id = resolve(&session, &team).await?;
            session.call(|client| async move { client.delete_team(id).await }).await?;
            eprintln!("Deleted team {id}");
            Ok(())
        }
        TeamsCommand::Restore { id } => {
            let id = parse_id(&id, "team")?;
            output.one(&session.call(|client| async move { client.restore_team(id).await }).await?)
        }
        TeamsCommand::AddMember { team, users: members } => {
            let id = resolve(&session, &team).await?;
            let mut latest = None;
            for member in args_or_stdin(members)? {
                let user = users::resolve(&session, &member, false).await?;
                latest = Some(session.call(|client| async move { client.add_team_member(id, user).await }).await?);
            }
            latest.map_or(Ok(()), |team| output.one(&team))
        }
        TeamsCommand::RemoveMember { team, users: members } => {
            let id = resolve(&session, &team).await?;
            let mut latest = None;
            for member in args_or_stdin(members)? {
                let user = users::resolve(&session, &member, false).await?;
                latest = Some(session.call(|client| async move { client.remove_team_member(id, user).await }).await?);
            }
            latest.map_or(Ok(()), |team| output.one(&team))
        }
    }
}

/// Every team that is not deleted.
pub async fn live(session: &Session) -> CliResult<Vec<Team>> {
    Ok(session.call(|client| async move { client.list_teams(&TeamListQuery::default()).await }).await?)
}

/// A team's id from its id or its name (case-insensitive).
pub async fn resolve(session: &Session, team: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::try_parse(team.trim()) {
        return Ok(id);
    }
    let teams = live(session).await?;
    teams
        .into_iter()
        .find(|candidate| candidate.name.eq_ignore_ascii_case(team.trim()))
        .map(|found| found.id)
        .ok_or_else(|| CliError::failure(format!("not_found: no team named '{team}'")))
}

impl Record for Team {
    const FIELDS: &'static [&'static str] = &["id", "name", "description", "members", "created_at", "updated_at", "deleted_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for Team {
    const COLUMNS: &'static [Column] = &[
        Column::shrink("name", 10),
        Column::shrink("description", 12),
        Column::number("members"),
        Column::whole("created"),
        Column::whole("deleted").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            Cell::new(&self.name, Tone::Strong),
            self.description.clone().unwrap_or_default().into(),
            self.members.len().to_string().into(),
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            self.deleted_at.map(|at| ago(at, layout)).unwrap_or_default().into(),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}
