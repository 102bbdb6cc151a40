//! `hdms teams …`.

use hdms_api_types::teams::{CreateTeam, Team, TeamListQuery, UpdateTeam};
use uuid::Uuid;

use crate::cli::TeamsCommand;
use crate::commands::{args_or_stdin, parse_id, users};
use crate::exit::{CliError, CliResult};
use crate::output::{Output, Record};
use hdms_api_types::credentials::Session;

pub async fn run(mut session: Session, output: Output, command: TeamsCommand) -> CliResult {
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
            let id = resolve(&mut session, &team).await?;
            output.one(&session.call(|client| async move { client.get_team(id).await }).await?)
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
            let id = resolve(&mut session, &team).await?;
            let update = UpdateTeam { name, description };
            let team = session.call(|client| {
                let update = update.clone();
                async move { client.update_team(id, &update).await }
            }).await?;
            output.one(&team)
        }
        TeamsCommand::Delete { team } => {
            let id = resolve(&mut session, &team).await?;
            session.call(|client| async move { client.delete_team(id).await }).await?;
            eprintln!("Deleted team {id}");
            Ok(())
        }
        TeamsCommand::Restore { id } => {
            let id = parse_id(&id, "team")?;
            output.one(&session.call(|client| async move { client.restore_team(id).await }).await?)
        }
        TeamsCommand::AddMember { team, users: members } => {
            let id = resolve(&mut session, &team).await?;
            let mut latest = None;
            for member in args_or_stdin(members)? {
                let user = users::resolve(&mut session, &member, false).await?;
                latest = Some(session.call(|client| async move { client.add_team_member(id, user).await }).await?);
            }
            latest.map_or(Ok(()), |team| output.one(&team))
        }
        TeamsCommand::RemoveMember { team, users: members } => {
            let id = resolve(&mut session, &team).await?;
            let mut latest = None;
            for member in args_or_stdin(members)? {
                let user = users::resolve(&mut session, &member, false).await?;
                latest = Some(session.call(|client| async move { client.remove_team_member(id, user).await }).await?);
            }
            latest.map_or(Ok(()), |team| output.one(&team))
        }
    }
}

/// A team's id from its id or its name (case-insensitive).
pub async fn resolve(session: &mut Session, team: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::try_parse(team.trim()) {
        return Ok(id);
    }
    let teams = session.call(|client| async move { client.list_teams(&TeamListQuery::default()).await }).await?;
    teams
        .into_iter()
        .find(|candidate| candidate.name.eq_ignore_ascii_case(team.trim()))
        .map(|found| found.id)
        .ok_or_else(|| CliError::failure(format!("not_found: no team named '{team}'")))
}

impl Record for Team {
    const COLUMNS: &'static [&'static str] = &["id", "name", "description", "members", "created_at", "deleted_at"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            crate::output::optional(&self.description),
            self.members.iter().map(Uuid::to_string).collect::<Vec<_>>().join(" "),
            self.created_at.to_rfc3339(),
            self.deleted_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}
