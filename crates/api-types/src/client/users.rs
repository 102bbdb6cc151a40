//! Health, authentication, users, teams and personal API tokens.

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::auth::{Health, LoginRequest, LoginResponse, LogoutRequest, RefreshRequest};
use crate::metrics::{self, ReportQuery};
use crate::teams::{CreateTeam, Team, TeamListQuery, UpdateTeam};
use crate::tokens::{ApiToken, CreateApiToken, CreatedApiToken};
use crate::users::{CreateUser, UpdateUser, User, UserListQuery};
use crate::{API_PREFIX, Page};

impl Client {
    // --- health -------------------------------------------------------------------------

    pub async fn health(&self) -> Result<Health> {
        self.get("/healthz").await
    }

    // --- auth ---------------------------------------------------------------------------

    /// Logs in and keeps the access token for the calls that follow.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse> {
        let request = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let answer: LoginResponse =
            self.with_body(Method::POST, &format!("{API_PREFIX}/auth/login"), &request).await?;
        self.set_token(Some(answer.access_token.clone()));
        Ok(answer)
    }

    /// Trades a refresh token for a new pair and keeps the new access token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse> {
        let request = RefreshRequest { refresh_token: refresh_token.to_owned() };
        let answer: LoginResponse =
            self.with_body(Method::POST, &format!("{API_PREFIX}/auth/refresh"), &request).await?;
        self.set_token(Some(answer.access_token.clone()));
        Ok(answer)
    }

    pub async fn logout(&self, refresh_token: Option<&str>) -> Result<()> {
        let request = LogoutRequest { refresh_token: refresh_token.map(str::to_owned) };
        let builder = self.request(Method::POST, &format!("{API_PREFIX}/auth/logout"))?;
        self.send_empty(builder.json(&request)).await
    }

    // --- users --------------------------------------------------------------------------

    pub async fn me(&self) -> Result<User> {
        self.get(&format!("{API_PREFIX}/users/me")).await
    }

    pub async fn list_users(&self, query: &UserListQuery) -> Result<Page<User>> {
        self.get_query(&format!("{API_PREFIX}/users"), query).await
    }

    pub async fn get_user(&self, id: Uuid) -> Result<User> {
        self.get(&format!("{API_PREFIX}/users/{id}")).await
    }

    pub async fn create_user(&self, user: &CreateUser) -> Result<User> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/users"), user).await
    }

    pub async fn update_user(&self, id: Uuid, update: &UpdateUser) -> Result<User> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/users/{id}"), update).await
    }

    pub async fn delete_user(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/users/{id}")).await
    }

    pub async fn restore_user(&self, id: Uuid) -> Result<User> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/users/{id}/restore"))?).await
    }

    // --- teams --------------------------------------------------------------------------

    pub async fn list_teams(&self, query: &TeamListQuery) -> Result<Vec<Team>> {
        self.get_query(&format!("{API_PREFIX}/teams"), query).await
    }

    pub async fn get_team(&self, id: Uuid) -> Result<Team> {
        self.get(&format!("{API_PREFIX}/teams/{id}")).await
    }

    /// A team's backlog, SLA health, throughput and agents' load (supervisors and admins).
    pub async fn team_metrics(&self, id: Uuid, query: &crate::metrics::TeamMetricsQuery) -> Result<crate::metrics::TeamMetrics> {
        self.get_query(&format!("{API_PREFIX}/teams/{id}/metrics"), query).await
    }

    /// Tickets created, resolved and reopened per local day or hour (`GET /api/v1/reports/volume`).
    pub async fn volume_report(&self, query: &ReportQuery) -> Result<metrics::VolumeReport> {
        self.report("volume", query).await
    }

    /// The backlog by status at the end of each bucket (`GET /api/v1/reports/backlog`).
    pub async fn backlog_report(&self, query: &ReportQuery) -> Result<metrics::BacklogReport> {
        self.report("backlog", query).await
    }

    /// Median and 90th-percentile first response and resolution times (`GET /api/v1/reports/times`).
    pub async fn times_report(&self, query: &ReportQuery) -> Result<metrics::TimesReport> {
        self.report("times", query).await
    }

    /// Resolutions within SLA and breaches (`GET /api/v1/reports/sla`).
    pub async fn sla_report(&self, query: &ReportQuery) -> Result<metrics::SlaReport> {
        self.report("sla", query).await
    }

    /// Satisfaction ratings good and bad (`GET /api/v1/reports/satisfaction`).
    pub async fn satisfaction_report(&self, query: &ReportQuery) -> Result<metrics::SatisfactionReport> {
        self.report("satisfaction", query).await
    }

    /// Per agent: assigned, replies, resolved (`GET /api/v1/reports/agents`).
    pub async fn agents_report(&self, query: &ReportQuery) -> Result<metrics::AgentsReport> {
        self.report("agents", query).await
    }

    /// Any report by its name (`volume`, `backlog`, `times`, `sla`, `satisfaction`, `agents`),
    /// for callers that pass it on as it comes.
    pub async fn report<T: serde::de::DeserializeOwned>(&self, kind: &str, query: &ReportQuery) -> Result<T> {
        self.get_query(&format!("{API_PREFIX}/reports/{kind}"), query).await
    }

    pub async fn create_team(&self, team: &CreateTeam) -> Result<Team> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/teams"), team).await
    }

    pub async fn update_team(&self, id: Uuid, update: &UpdateTeam) -> Result<Team> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/teams/{id}"), update).await
    }

    pub async fn delete_team(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/teams/{id}")).await
    }

    pub async fn restore_team(&self, id: Uuid) -> Result<Team> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/teams/{id}/restore"))?).await
    }

    pub async fn add_team_member(&self, team: Uuid, user: Uuid) -> Result<Team> {
        self.send(self.request(Method::PUT, &format!("{API_PREFIX}/teams/{team}/members/{user}"))?)
            .await
    }

    pub async fn remove_team_member(&self, team: Uuid, user: Uuid) -> Result<Team> {
        let path = format!("{API_PREFIX}/teams/{team}/members/{user}");
        self.send(self.request(Method::DELETE, &path)?).await
    }

    // --- personal API tokens ------------------------------------------------------------

    pub async fn create_token(&self, request: &CreateApiToken) -> Result<CreatedApiToken> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tokens"), request).await
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        self.get(&format!("{API_PREFIX}/tokens")).await
    }

    pub async fn revoke_token(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/tokens/{id}")).await
    }
}
