//! The supervisor's dashboard: open and breaching tickets per team and per agent, SLA
//! compliance, first-response and resolution times over a window, and created vs resolved as a
//! chart. `[`/`]` change the window, `t` the team; it refreshes by itself every
//! [`REFRESH_SECS`]; Enter on a team or an agent opens the queue of their open tickets.
//!
//! Everything comes from the server's own counts (`GET /teams/{id}/metrics` per team,
//! `GET /reports/volume` per local day and `GET /reports/times` over the whole window), fetched
//! together as one call; an answer for a window or team already left is dropped.

use chrono::{DateTime, Utc};
use hdms_api_types::metrics::{TeamMetrics, TimesFigures, VolumeReport};
use hdms_api_types::tickets::{TeamSummary, TicketListQuery};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Bar, BarChart, BarGroup, Block, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState};
use uuid::Uuid;

use crate::app::{Purpose, Shared};
use crate::call::{Answer, Call, Failure, RequestId};
use crate::format;
use crate::keys::Action;
use crate::screens::queues::OPEN_STATUSES;

/// The windows `[` and `]` step through, in days.
pub const WINDOWS: [u32; 4] = [1, 7, 30, 90];
/// How often the dashboard asks again while it is on screen.
pub const REFRESH_SECS: i64 = 30;

/// What the dashboard shows, fetched in one call.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardData {
    /// Each team shown with its metrics.
    pub teams: Vec<(TeamSummary, TeamMetrics)>,
    /// Created and resolved per bucket (`None` when the server keeps it from this person).
    pub volume: Option<VolumeReport>,
    /// First-response and resolution times over the whole window (median and 90th percentile).
    pub times: Option<TimesFigures>,
}

/// A selectable row: a team, or an agent of the teams shown.
#[derive(Debug, Clone, PartialEq)]
pub enum DashRow {
    Team { id: Uuid, name: String, open: u64, breached: u64, sla_met: Option<f64> },
    Agent { id: Uuid, name: String, open: u64, breached: u64, resolved: u64 },
}

/// What Enter asks for: the queue of these open tickets, under this title.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRequest {
    pub title: String,
    pub query: TicketListQuery,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub days: u32,
    /// One team, or every team shown.
    pub team: Option<Uuid>,
    pub data: Option<DashboardData>,
    pub loading: Option<RequestId>,
    pub selected: usize,
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard { days: 7, team: None, data: None, loading: None, selected: 0, refreshed_at: None }
    }
}

impl Dashboard {
    /// The teams the dashboard covers: an admin's are all of them, a supervisor's those they
    /// belong to (all, when they belong to none).
    pub fn teams(shared: &Shared) -> Vec<TeamSummary> {
        let me = shared.me_id();
        let admin = shared.me.as_ref().is_some_and(|me| me.role == hdms_api_types::Role::Admin);
        let mine: Vec<TeamSummary> = shared
            .team_members
            .iter()
            .filter(|(_, members)| me.is_some_and(|me| members.contains(&me)))
            .filter_map(|(id, _)| shared.teams.iter().find(|t| t.id == *id).cloned())
            .collect();
        if admin || mine.is_empty() { shared.teams.clone() } else { mine }
    }

    /// Asks for the numbers of the current window and team (an older request's answer is
    /// dropped when it comes).
    pub fn load(&mut self, shared: &mut Shared) {
        let teams = Dashboard::teams(shared);
        let call = Call::Dashboard { teams, team: self.team, days: self.days };
        self.loading = Some(shared.call(Purpose::Dashboard, call));
    }

    pub fn answer(&mut self, id: RequestId, answer: Result<Answer, Failure>, shared: &mut Shared) {
        if self.loading != Some(id) {
            return;
        }
        self.loading = None;
        self.refreshed_at = Some(shared.now);
        match answer {
            Ok(Answer::Dashboard(data)) => {
                self.data = Some(*data);
                self.selected = self.selected.min(self.rows().len().saturating_sub(1));
            }
            Ok(_) => {}
            Err(failure) => shared.error(format!("Dashboard: {failure}")),
        }
    }

    /// The clock: asks again when the numbers are [`REFRESH_SECS`] old.
    pub fn tick(&mut self, shared: &mut Shared) {
        let due = self.refreshed_at.is_none_or(|at| (shared.now - at).num_seconds() >= REFRESH_SECS);
        if due && self.loading.is_none() {
            self.load(shared);
        }
    }

    pub fn rows(&self) -> Vec<DashRow> {
        let Some(data) = &self.data else { return Vec::new() };
        let mut rows: Vec<DashRow> = data
            .teams
            .iter()
            .map(|(team, metrics)| DashRow::Team {
                id: team.id,
                name: team.name.clone(),
                open: metrics.backlog.total,
                breached: metrics.backlog.breached,
                sla_met: metrics.window.sla_met_share,
            })
            .collect();
        // An agent of two teams shows once: their backlog is theirs whatever the team, what
        // they resolved adds up.
        let mut agents: Vec<DashRow> = Vec::new();
        for agent in data.teams.iter().flat_map(|(_, metrics)| &metrics.agents) {
            match agents.iter_mut().find(|row| matches!(row, DashRow::Agent { id, .. } if *id == agent.user_id)) {
                Some(DashRow::Agent { resolved, .. }) => *resolved += agent.resolved_in_window,
                _ => agents.push(DashRow::Agent {
                    id: agent.user_id,
                    name: agent.name.clone(),
                    open: agent.assigned,
                    breached: agent.breached,
                    resolved: agent.resolved_in_window,
                }),
            }
        }
        agents.sort_by_key(|row| match row {
            DashRow::Agent { open, breached, .. } => std::cmp::Reverse((*breached, *open)),
            DashRow::Team { .. } => std::cmp::Reverse((0, 0)),
        });
        rows.extend(agents);
        rows
    }

    /// A key on the dashboard; `Some` when Enter asks for a queue.
    pub fn action(&mut self, action: Action, shared: &mut Shared) -> Option<QueueRequest> {
        let count = self.rows().len();
        match action {
            Action::Down => self.selected = (self.selected + 1).min(count.saturating_sub(1)),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = count.saturating_sub(1),
            Action::ShorterWindow | Action::LongerWindow => {
                let at = WINDOWS.iter().position(|days| *days == self.days).unwrap_or(1);
                let next = if action == Action::LongerWindow { (at + 1).min(WINDOWS.len() - 1) } else { at.saturating_sub(1) };
                if WINDOWS[next] != self.days {
                    self.days = WINDOWS[next];
                    self.load(shared);
                }
            }
            Action::NextTeam => {
                // All teams, then each in turn.
                let teams = Dashboard::teams(shared);
                let at = self.team.and_then(|id| teams.iter().position(|t| t.id == id));
                self.team = match at {
                    None => teams.first().map(|t| t.id),
                    Some(at) => teams.get(at + 1).map(|t| t.id),
                };
                self.selected = 0;
                self.load(shared);
            }
            Action::Refresh => self.load(shared),
            Action::Open => {
                let base = || TicketListQuery { status: Some(OPEN_STATUSES.to_owned()), sort: Some("priority".to_owned()), ..Default::default() };
                return match self.rows().get(self.selected)? {
                    DashRow::Team { id, name, .. } => Some(QueueRequest { title: name.clone(), query: TicketListQuery { team: Some(*id), ..base() } }),
                    DashRow::Agent { id, name, .. } => {
                        Some(QueueRequest { title: name.clone(), query: TicketListQuery { assignee: Some(id.to_string()), ..base() } })
                    }
                };
            }
            _ => {}
        }
        None
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let [title_area, kpi_area, times_area, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let team_name = match self.team {
            None => "all teams".to_owned(),
            Some(id) => shared.teams.iter().find(|t| t.id == id).map(|t| t.name.clone()).unwrap_or_else(|| "a team".to_owned()),
        };
        let window = if self.days == 1 { "today".to_owned() } else { format!("last {} days", self.days) };
        let updated = match (self.loading, self.refreshed_at) {
            (Some(_), _) => "updating…".to_owned(),
            (None, Some(at)) => format!("updated {}", at.format("%H:%M:%S")),
            (None, None) => String::new(),
        };
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let dim = Style::default().add_modifier(Modifier::DIM);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Dashboard", bold),
                Span::raw(format!(" · {team_name} ")),
                Span::styled("(t)", dim),
                Span::raw(format!(" · {window} ")),
                Span::styled("([ ])", dim),
                Span::styled(format!(" · {updated}"), dim),
            ])),
            title_area,
        );
        let Some(data) = &self.data else {
            let text = if self.loading.is_some() { "Loading the numbers…" } else { "No numbers yet." };
            frame.render_widget(Paragraph::new(text), body);
            return;
        };
        frame.render_widget(Paragraph::new(kpi_line(data)), kpi_area);
        frame.render_widget(Paragraph::new(times_line(data.times.as_ref())), times_area);

        let wide = area.width >= 100;
        let [left, right] = Layout::horizontal([Constraint::Length(if wide { 52 } else { 38 }), Constraint::Fill(1)]).areas(body);
        self.draw_table(frame, left, wide);
        if right.height >= 16 {
            let [volume, breaching] = Layout::vertical([Constraint::Fill(1), Constraint::Length(9)]).areas(right);
            draw_volume(frame, volume, data);
            draw_breaching(frame, breaching, data);
        } else {
            draw_volume(frame, right, data);
        }
    }

    fn draw_table(&self, frame: &mut Frame, area: Rect, wide: bool) {
        let header = if wide {
            vec!["Team / agent", "Open", "Breach", "SLA met / resolved"]
        } else {
            vec!["Team / agent", "Open", "Breach", "SLA/res"]
        };
        let rows = self.rows().into_iter().map(|row| match row {
            DashRow::Team { name, open, breached, sla_met, .. } => Row::new(vec![
                Cell::from(Span::styled(format!("▸ {name}"), Style::default().add_modifier(Modifier::BOLD))),
                Cell::from(open.to_string()),
                Cell::from(breach_span(breached)),
                Cell::from(sla_met.map(|share| format!("{:.0}%", share * 100.0)).unwrap_or_else(|| "—".to_owned())),
            ]),
            DashRow::Agent { name, open, breached, resolved, .. } => Row::new(vec![
                Cell::from(format!("  {name}")),
                Cell::from(open.to_string()),
                Cell::from(breach_span(breached)),
                Cell::from(format!("{resolved} res.")),
            ]),
        });
        let table = Table::new(rows, [Constraint::Fill(1), Constraint::Length(5), Constraint::Length(6), Constraint::Length(if wide { 18 } else { 8 })])
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        let mut state = TableState::default().with_selected(Some(self.selected));
        frame.render_stateful_widget(table, area, &mut state);
    }
}

/// A breach count: red and bold when there is any (and a number, not colour alone).
fn breach_span(breached: u64) -> Span<'static> {
    if breached > 0 {
        Span::styled(breached.to_string(), Style::default().fg(Color::Red).add_modifier(Modifier::BOLD))
    } else {
        Span::raw("0")
    }
}

/// The headline numbers over the teams shown.
fn kpi_line(data: &DashboardData) -> Line<'static> {
    let open: u64 = data.teams.iter().map(|(_, m)| m.backlog.total).sum();
    let breached: u64 = data.teams.iter().map(|(_, m)| m.backlog.breached).sum();
    let resolved: u64 = data.teams.iter().map(|(_, m)| m.window.resolved).sum();
    // The SLA share is the teams' own, weighted by what they resolved.
    let (sum, weight) = data
        .teams
        .iter()
        .filter_map(|(_, m)| m.window.sla_met_share.map(|share| (share * m.window.resolved.max(1) as f64, m.window.resolved.max(1) as f64)))
        .fold((0.0, 0.0), |(s, w), (v, x)| (s + v, w + x));
    let sla = (weight > 0.0).then(|| sum / weight);
    let good: u64 = data.teams.iter().map(|(_, m)| m.window.rated_good).sum();
    let bad: u64 = data.teams.iter().map(|(_, m)| m.window.rated_bad).sum();
    let dim = Style::default().add_modifier(Modifier::DIM);
    Line::from(vec![
        Span::styled("Open ", dim),
        Span::raw(format!("{open} ")),
        Span::styled("Breaching ", dim),
        breach_span(breached),
        Span::styled(" · SLA met ", dim),
        Span::raw(sla.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "—".to_owned())),
        Span::styled(" · Resolved ", dim),
        Span::raw(resolved.to_string()),
        Span::styled(" · Rated ", dim),
        Span::raw(format!("{good} good {bad} bad")),
    ])
}

/// How long answers and resolutions took over the window: medians and 90th percentiles, which
/// the server works out over all the window's tickets (never averaged from parts).
fn times_line(times: Option<&TimesFigures>) -> Line<'static> {
    let dim = Style::default().add_modifier(Modifier::DIM);
    let time = |secs: Option<i64>| secs.map(format::duration).unwrap_or_else(|| "—".to_owned());
    let Some(times) = times else { return Line::styled("First response and resolution times: not available", dim) };
    Line::from(vec![
        Span::styled("1st response ", dim),
        Span::raw(time(times.first_response_median_secs)),
        Span::styled(" p90 ", dim),
        Span::raw(time(times.first_response_p90_secs)),
        Span::styled(" · Resolution ", dim),
        Span::raw(time(times.resolution_median_secs)),
        Span::styled(" p90 ", dim),
        Span::raw(time(times.resolution_p90_secs)),
    ])
}

/// Created vs resolved per bucket, as two lines.
fn draw_volume(frame: &mut Frame, area: Rect, data: &DashboardData) {
    // Told apart by the marker as well as the colour (the legend needs room a small chart
    // has not got).
    let block = Block::bordered().title(" Created ⣿ vs resolved • ");
    let Some(volume) = data.volume.as_ref().filter(|v| !v.buckets.is_empty()) else {
        frame.render_widget(Paragraph::new("No report for these teams.").block(block), area);
        return;
    };
    let created: Vec<(f64, f64)> = volume.buckets.iter().enumerate().map(|(i, b)| (i as f64, b.figures.created as f64)).collect();
    let resolved: Vec<(f64, f64)> = volume.buckets.iter().enumerate().map(|(i, b)| (i as f64, b.figures.resolved as f64)).collect();
    let top = volume.buckets.iter().map(|b| b.figures.created.max(b.figures.resolved)).max().unwrap_or(0).max(1) as f64;
    let last = (volume.buckets.len().saturating_sub(1)).max(1) as f64;
    // Labelled in the report's own zone: its days are local days.
    let zone: chrono_tz::Tz = volume.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let label = |at: &DateTime<Utc>| match volume.bucket {
        hdms_api_types::metrics::ReportBucket::Hour => at.with_timezone(&zone).format("%H:00").to_string(),
        _ => at.with_timezone(&zone).format("%m-%d").to_string(),
    };
    let first_label = volume.buckets.first().map(|b| label(&b.start)).unwrap_or_default();
    let last_label = volume.buckets.last().map(|b| label(&b.start)).unwrap_or_default();
    let datasets = vec![
        Dataset::default().name("created").marker(Marker::Braille).graph_type(GraphType::Line).style(Style::default().fg(Color::Cyan)).data(&created),
        Dataset::default().name("resolved").marker(Marker::Dot).graph_type(GraphType::Line).style(Style::default().fg(Color::Green)).data(&resolved),
    ];
    // The title tells the lines apart; a legend box would sit on top of the lines it explains.
    let chart = Chart::new(datasets)
        .legend_position(None)
        .block(block)
        .x_axis(Axis::default().bounds([0.0, last]).labels([first_label, last_label]))
        .y_axis(Axis::default().bounds([0.0, top]).labels(["0".to_owned(), format!("{top:.0}")]));
    frame.render_widget(chart, area);
}

/// Open and breaching tickets per team, as bars (shown when there is room).
fn draw_breaching(frame: &mut Frame, area: Rect, data: &DashboardData) {
    let groups: Vec<BarGroup> = data
        .teams
        .iter()
        .map(|(team, metrics)| {
            BarGroup::default().label(Line::from(format::fit(&team.name, 12))).bars(&[
                Bar::default().value(metrics.backlog.total).style(Style::default().fg(Color::Cyan)),
                Bar::default().value(metrics.backlog.breached).style(Style::default().fg(Color::Red)),
            ])
        })
        .collect();
    let mut chart = BarChart::default().block(Block::bordered().title(" Open / breaching per team ")).bar_width(3).group_gap(2);
    for group in groups {
        chart = chart.data(group);
    }
    frame.render_widget(chart, area);
}
