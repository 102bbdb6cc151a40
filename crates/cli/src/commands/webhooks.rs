//! `hdms webhooks …`: endpoints, their delivery log, redelivery, a test ping.

use hdms_api_types::webhooks::{
    CreateWebhookEndpoint, UpdateWebhookEndpoint, WebhookAttempt, WebhookDelivery, WebhookDeliveryDetail, WebhookDeliveryQuery,
    UpdateWebhookSettings, WebhookDeliveryState, WebhookEndpoint, WebhookEndpointWithSecret, WebhookSettings,
};
use uuid::Uuid;

use crate::cli::{WebhookAllowCommand, WebhooksCommand};
use crate::commands::{args_or_stdin, parse_id};
use crate::exit::{CliError, CliResult};
use crate::output::human::{ago, yes_no};
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone, render_record_with, render_table};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: WebhooksCommand) -> CliResult {
    match command {
        WebhooksCommand::List => output.list(&session.call(|client| async move { client.list_webhooks().await }).await?),
        WebhooksCommand::Show { endpoint } => {
            let id = resolve(&session, &endpoint).await?;
            output.one(&session.call(|client| async move { client.get_webhook(id).await }).await?)
        }
        WebhooksCommand::Create { url, events, description, disabled } => {
            let request = CreateWebhookEndpoint { url, description: description.unwrap_or_default(), events, enabled: Some(!disabled) };
            let created = session.call(|client| {
                let request = request.clone();
                async move { client.create_webhook(&request).await }
            }).await?;
            show_with_secret(&output, &created.endpoint, &created.secret, &created)
        }
        WebhooksCommand::Update { endpoint, url, events, description, rotate_secret } => {
            let id = resolve(&session, &endpoint).await?;
            let update = UpdateWebhookEndpoint { url, description, events: (!events.is_empty()).then_some(events), enabled: None, rotate_secret };
            let updated = session.call(|client| {
                let update = update.clone();
                async move { client.update_webhook(id, &update).await }
            }).await?;
            match &updated.secret {
                Some(secret) => {
                    let shown = WebhookEndpointWithSecret { endpoint: updated.endpoint.clone(), secret: secret.clone() };
                    show_with_secret(&output, &updated.endpoint, secret, &shown)
                }
                None => output.one(&updated.endpoint),
            }
        }
        WebhooksCommand::Enable { endpoints } => switch(&session, &output, endpoints, true).await,
        WebhooksCommand::Disable { endpoints } => switch(&session, &output, endpoints, false).await,
        WebhooksCommand::Delete { endpoints } => {
            for endpoint in args_or_stdin(endpoints)? {
                let id = resolve(&session, &endpoint).await?;
                session.call(|client| async move { client.delete_webhook(id).await }).await?;
                eprintln!("Deleted webhook endpoint {id}");
            }
            Ok(())
        }
        WebhooksCommand::Deliveries { endpoint, delivery, state, limit } => {
            let id = resolve(&session, &endpoint).await?;
            match delivery {
                Some(delivery) => {
                    let delivery = parse_id(&delivery, "delivery")?;
                    show_detail(&output, &session.call(|client| async move { client.webhook_delivery(id, delivery).await }).await?)
                }
                None => {
                    let query = WebhookDeliveryQuery { state, limit };
                    let log = session.call(|client| {
                        let query = query.clone();
                        async move { client.webhook_deliveries(id, &query).await }
                    }).await?;
                    output.list(&log)
                }
            }
        }
        WebhooksCommand::Redeliver { endpoint, deliveries } => {
            let id = resolve(&session, &endpoint).await?;
            for delivery in args_or_stdin(deliveries)? {
                let delivery = parse_id(&delivery, "delivery")?;
                session.call(|client| async move { client.redeliver_webhook(id, delivery).await }).await?;
                eprintln!("Queued {delivery} again");
            }
            Ok(())
        }
        WebhooksCommand::Ping { endpoint } => {
            let id = resolve(&session, &endpoint).await?;
            let detail = session.call(|client| async move { client.ping_webhook(id).await }).await?;
            show_detail(&output, &detail)?;
            if detail.delivery.state != WebhookDeliveryState::Delivered {
                return Err(CliError::failure(format!("the ping failed: {}", detail.delivery.last_error.unwrap_or_default())));
            }
            Ok(())
        }
        WebhooksCommand::Allow(command) => allow(&session, &output, command).await,
    }
}

/// The allow-list is one setting, replaced whole: read it, change it, write it back.
async fn allow(session: &Session, output: &Output, command: WebhookAllowCommand) -> CliResult {
    let settings = session.call(|client| async move { client.webhook_settings().await }).await?;
    let mut allow = settings.allow.clone();
    match command {
        WebhookAllowCommand::List => return output.one(&settings),
        WebhookAllowCommand::Add { networks } => allow.extend(networks),
        WebhookAllowCommand::Remove { networks } => {
            for network in networks {
                // As listed (`10.20.0.0/16`), or a single address without its `/32`.
                let before = allow.len();
                allow.retain(|listed| listed != network.trim() && listed.split('/').next() != Some(network.trim()));
                if allow.len() == before {
                    let configured = settings.configured_allow.iter().any(|c| c == network.trim());
                    let why = if configured { "it is set by the server's configuration (HDMS_WEBHOOK_ALLOW)" } else { "it is not on the list" };
                    return Err(CliError::failure(format!("cannot remove {network}: {why}")));
                }
            }
        }
    }
    let update = UpdateWebhookSettings { allow };
    let updated = session.call(|client| {
        let update = update.clone();
        async move { client.update_webhook_settings(&update).await }
    }).await?;
    output.one(&updated)
}

impl Record for WebhookSettings {
    const FIELDS: &'static [&'static str] = &["allow", "configured_allow"];

    fn id(&self) -> String {
        self.allow.join(",")
    }
}

impl Tabular for WebhookSettings {
    const COLUMNS: &'static [Column] = &[Column::whole("allowed by admins"), Column::whole("allowed by the configuration")];

    fn row(&self, _layout: &Layout) -> Vec<Cell> {
        let list = |nets: &[String]| if nets.is_empty() { "none".to_owned() } else { nets.join(", ") };
        vec![Cell::new(list(&self.allow), Tone::Strong), Cell::new(list(&self.configured_allow), Tone::Muted)]
    }
}

async fn switch(session: &Session, output: &Output, endpoints: Vec<String>, enabled: bool) -> CliResult {
    let mut latest = None;
    for endpoint in args_or_stdin(endpoints)? {
        let id = resolve(session, &endpoint).await?;
        let update = UpdateWebhookEndpoint { enabled: Some(enabled), ..Default::default() };
        latest = Some(session.call(|client| {
            let update = update.clone();
            async move { client.update_webhook(id, &update).await }
        }).await?.endpoint);
    }
    latest.map_or(Ok(()), |endpoint| output.one(&endpoint))
}

/// People see the endpoint and, under it, the secret with a warning; programs get both as JSON.
fn show_with_secret(output: &Output, endpoint: &WebhookEndpoint, secret: &str, whole: &WebhookEndpointWithSecret) -> CliResult {
    if !output.for_people() {
        return output.one(whole);
    }
    let more = [("Secret", Cell::new(format!("{secret}  (shown this once: keep it where the receiver can read it)"), Tone::Warn))];
    print!("{}", render_record_with(WebhookEndpoint::COLUMNS, &endpoint.row(&output.layout), &more, &output.layout));
    Ok(())
}

fn show_detail(output: &Output, detail: &WebhookDeliveryDetail) -> CliResult {
    if !output.for_people() {
        return output.one(detail);
    }
    let delivery = &detail.delivery;
    print!("{}", render_record_with(WebhookDelivery::COLUMNS, &delivery.row(&output.layout), &[("Payload", Cell::from(detail.payload.as_str()))], &output.layout));
    if !detail.attempt_log.is_empty() {
        let rows: Vec<Vec<Cell>> = detail.attempt_log.iter().map(|attempt| attempt.row(&output.layout)).collect();
        print!("\n{}", render_table(WebhookAttempt::COLUMNS, &rows, &output.layout));
    }
    Ok(())
}

/// An endpoint's id from its id or its exact URL.
pub async fn resolve(session: &Session, endpoint: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::try_parse(endpoint.trim()) {
        return Ok(id);
    }
    let endpoints = session.call(|client| async move { client.list_webhooks().await }).await?;
    let wanted = endpoint.trim().trim_end_matches('/');
    let found: Vec<&WebhookEndpoint> = endpoints.iter().filter(|e| e.url.trim_end_matches('/') == wanted).collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::failure(format!("not_found: no webhook endpoint has the URL '{endpoint}'"))),
        _ => Err(CliError::usage(format!("several endpoints have the URL '{endpoint}': name one by id"))),
    }
}

fn state_cell(state: WebhookDeliveryState) -> Cell {
    let tone = match state {
        WebhookDeliveryState::Delivered => Tone::Good,
        WebhookDeliveryState::Failed => Tone::Bad,
        WebhookDeliveryState::Pending | WebhookDeliveryState::Sending => Tone::Warn,
    };
    Cell::new(state.as_str(), tone)
}

impl Record for WebhookEndpoint {
    const FIELDS: &'static [&'static str] = &["id", "url", "description", "events", "enabled", "disabled_reason", "created_at", "updated_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for WebhookEndpoint {
    const COLUMNS: &'static [Column] = &[
        Column::shrink("url", 16),
        Column::shrink("events", 14),
        Column::whole("on"),
        Column::shrink("description", 10),
        Column::whole("created"),
        Column::shrink("off because", 10).wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let events: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        vec![
            Cell::new(&self.url, Tone::Strong),
            events.join(",").into(),
            yes_no(self.enabled),
            self.description.as_str().into(),
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            self.disabled_reason.clone().unwrap_or_default().into(),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for WebhookEndpointWithSecret {
    const FIELDS: &'static [&'static str] = &["endpoint", "secret"];

    fn id(&self) -> String {
        self.endpoint.id.to_string()
    }
}

impl Tabular for WebhookEndpointWithSecret {
    const COLUMNS: &'static [Column] = WebhookEndpoint::COLUMNS;

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        self.endpoint.row(layout)
    }
}

impl Record for WebhookDelivery {
    const FIELDS: &'static [&'static str] = &[
        "id", "endpoint_id", "event_type", "state", "attempts", "next_attempt_at", "last_status", "last_error", "created_at", "delivered_at", "failed_at",
    ];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for WebhookDelivery {
    const COLUMNS: &'static [Column] = &[
        Column::whole("created"),
        Column::whole("event"),
        Column::whole("state"),
        Column::number("tries"),
        Column::number("status"),
        Column::shrink("error", 16),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            self.event_type.as_str().into(),
            state_cell(self.state),
            self.attempts.to_string().into(),
            self.last_status.map(|s| s.to_string()).unwrap_or_default().into(),
            self.last_error.clone().unwrap_or_default().into(),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for WebhookDeliveryDetail {
    const FIELDS: &'static [&'static str] = &["delivery", "payload", "attempt_log"];

    fn id(&self) -> String {
        self.delivery.id.to_string()
    }
}

impl Tabular for WebhookDeliveryDetail {
    const COLUMNS: &'static [Column] = WebhookDelivery::COLUMNS;

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        self.delivery.row(layout)
    }
}

impl Tabular for WebhookAttempt {
    const COLUMNS: &'static [Column] = &[
        Column::number("try"),
        Column::whole("started"),
        Column::number("ms"),
        Column::number("status"),
        Column::shrink("answer or error", 20),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let said = self.error.clone().or_else(|| self.response_body.clone()).unwrap_or_default();
        vec![
            self.attempt.to_string().into(),
            Cell::new(ago(self.started_at, layout), Tone::Muted),
            self.duration_ms.to_string().into(),
            match self.response_status {
                Some(status) => Cell::new(status.to_string(), if self.ok { Tone::Good } else { Tone::Bad }),
                None => Cell::new("-", Tone::Bad),
            },
            said.replace('\n', " ").into(),
        ]
    }
}
