//! The runtime: draws the state, waits for the next event (a key, an answer, a websocket event,
//! the clock), runs it through `update`, and performs the effects on tokio tasks. Every HTTP call
//! runs on its own task and comes back as an event tagged with its request id, so no network
//! call ever holds up a frame.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use hdms_api_types::client::Client;
use hdms_api_types::notifications::NotificationListQuery;
use hdms_api_types::sms::LoginOutcome;
use hdms_api_types::tickets::{CreateLink, MergeRequest, TransitionRequest, ViewPageQuery};
use hdms_api_types::{Page, teams::TeamListQuery};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::app::{Effect, Event, State, update};
use crate::call::{Answer, Call, Failure, RequestId, TicketDetail};
use crate::live::{LiveConfig, LiveWorker, TokenFn};
use crate::realtime;
use crate::signin::{Session, Target};
use crate::ui;

/// How often the clock ticks (SLA countdowns, toasts).
const TICK: Duration = Duration::from_millis(500);
/// At most this often an upload reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Performs effects: holds the session once signed in, and the websocket worker's channel.
#[derive(Clone)]
pub struct Effects {
    target: Target,
    session: Arc<Mutex<Option<Session>>>,
    events: mpsc::UnboundedSender<Event>,
    live: Arc<Mutex<Option<LiveWorker>>>,
    /// Where OSC 52 sequences go (the terminal).
    clipboard: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Effects {
    pub fn new(target: Target, events: mpsc::UnboundedSender<Event>, clipboard: Box<dyn Write + Send>) -> Effects {
        Effects {
            target,
            session: Arc::new(Mutex::new(None)),
            events,
            live: Arc::new(Mutex::new(None)),
            clipboard: Arc::new(Mutex::new(clipboard)),
        }
    }

    pub fn perform(&self, effect: Effect) {
        match effect {
            Effect::Call { id, call } => {
                let this = self.clone();
                tokio::spawn(async move {
                    let answer = this.call(id, call).await;
                    let _ = this.events.send(Event::Answer { id, answer });
                });
            }
            Effect::StartLive => self.start_live(),
            Effect::Live(command) => {
                if let Some(live) = self.live.lock().expect("live lock").as_ref() {
                    live.send(realtime::to_worker(command));
                }
            }
            Effect::Copy(text) => {
                let mut out = self.clipboard.lock().expect("clipboard lock");
                let _ = crossterm::execute!(out, crossterm::clipboard::CopyToClipboard::to_clipboard_from(text));
            }
            // The run loop handles these: they need the terminal.
            Effect::Quit | Effect::RunEditor { .. } => {}
        }
    }

    /// Starts the websocket worker for the signed-in session (after a new login, the running
    /// worker connects again with the new credential).
    fn start_live(&self) {
        let mut live = self.live.lock().expect("live lock");
        if let Some(worker) = live.as_ref() {
            worker.send(crate::live::LiveCommand::Reconnect);
            return;
        }
        let Some(session) = self.session() else { return };
        // Each (re)connect authenticates with a fresh token; a refused one is refreshed through
        // the session (a call that meets `token_expired` refreshes and retries).
        let tokens = TokenFn(move |refresh: bool| {
            let session = session.clone();
            async move {
                if refresh {
                    session.me().await.ok()?;
                }
                session.fresh_token().await.ok()
            }
        });
        let client = self.session().expect("checked above").client().clone();
        let (worker, mut events) = LiveWorker::spawn(client, Arc::new(tokens), LiveConfig::default());
        *live = Some(worker);
        let sender = self.events.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Some(event) = realtime::from_worker(event)
                    && sender.send(Event::Live(event)).is_err()
                {
                    break;
                }
            }
        });
    }

    fn session(&self) -> Option<Session> {
        self.session.lock().expect("session lock").clone()
    }

    /// The client with a fresh token, opening the saved session on first use.
    async fn client(&self) -> Result<Client, Failure> {
        let session = match self.session() {
            Some(session) => session,
            None => {
                let session = Session::open(self.target.clone()).await?;
                *self.session.lock().expect("session lock") = Some(session.clone());
                session
            }
        };
        session.fresh_token().await?;
        Ok(session.client().clone())
    }

    async fn call(&self, id: RequestId, call: Call) -> Result<Answer, Failure> {
        match call {
            Call::CreateTicket { request, files } => {
                // Every file is read before the ticket is raised: a wrong path raises nothing.
                let mut contents = Vec::new();
                for path in &files {
                    contents.push(read_file(path).await?);
                }
                let client = self.client().await?;
                let ticket = client.create_ticket(&request).await?;
                for (name, content) in contents {
                    self.upload(&client, id, ticket.id, &name, &content).await?;
                }
                Ok(Answer::Ticket(Box::new(ticket)))
            }
            Call::Attach { ticket, path } => {
                let (name, content) = read_file(&path).await?;
                let client = self.client().await?;
                Ok(Answer::Attached(Box::new(self.upload(&client, id, ticket, &name, &content).await?)))
            }
            Call::Login { email, password } => {
                let anonymous = self.target.anonymous_client()?;
                match anonymous.login_start(&email, &password).await? {
                    LoginOutcome::LoggedIn(answer) => self.logged_in(&answer).await,
                    LoginOutcome::OtpRequired(challenge) => Ok(Answer::OtpRequired {
                        challenge: challenge.challenge,
                        phone_hint: challenge.phone_hint,
                        expires_in: challenge.expires_in,
                    }),
                }
            }
            Call::LoginOtp { challenge, code } => {
                let anonymous = self.target.anonymous_client()?;
                let answer = anonymous.login_otp(&challenge, &code).await?;
                self.logged_in(&answer).await
            }
            other => {
                let client = self.client().await?;
                perform(&client, other).await
            }
        }
    }

    /// Uploads a file, telling the state how far it got (a few times a second at most, so a big
    /// file never floods the event loop).
    async fn upload(&self, client: &Client, id: RequestId, ticket: uuid::Uuid, name: &str, content: &[u8]) -> Result<hdms_api_types::files::Attachment, Failure> {
        let events = self.events.clone();
        let label = name.to_owned();
        let last = Mutex::new(None::<std::time::Instant>);
        let progress = move |sent: u64, total: u64| {
            let mut last = last.lock().expect("progress lock");
            let due = last.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) || sent == total;
            if due {
                *last = Some(std::time::Instant::now());
                let _ = events.send(Event::Progress { id, label: label.clone(), sent, total });
            }
        };
        Ok(client.upload_attachment_with_progress(ticket, name, None, content, progress).await?)
    }

    async fn logged_in(&self, answer: &hdms_api_types::auth::LoginResponse) -> Result<Answer, Failure> {
        let (session, saved) = Session::from_login(self.target.clone(), answer).await?;
        *self.session.lock().expect("session lock") = Some(session);
        Ok(Answer::LoggedIn { user: answer.user.clone(), saved_in: crate::signin::saved_in(&self.target, &saved) })
    }
}

/// One call through the typed client.
pub async fn perform(client: &Client, call: Call) -> Result<Answer, Failure> {
    Ok(match call {
        Call::Login { .. } | Call::LoginOtp { .. } | Call::CreateTicket { .. } | Call::Attach { .. } => {
            unreachable!("logins and uploads go through Effects::call")
        }
        Call::Dashboard { teams, team, days } => Answer::Dashboard(Box::new(dashboard(client, teams, team, days).await?)),
        Call::Rate { ticket, score, comment } => {
            client.rate_ticket(ticket, &hdms_api_types::tickets::RateTicket { score, comment }).await?;
            Answer::Done
        }
        Call::Me => Answer::Me(client.me().await?),
        Call::Views => Answer::Views(client.list_views().await?),
        Call::Tickets(query) => Answer::Tickets(client.list_tickets(&query).await?),
        Call::CountTickets(query) => Answer::Count(client.count_tickets(&query).await?.count),
        Call::ViewTickets { view, limit, cursor } => {
            Answer::Tickets(client.view_tickets(view, &ViewPageQuery { limit: Some(limit), cursor }).await?)
        }
        Call::ApprovalQueue => {
            let approvals = client.pending_approvals().await?;
            let mut ids: Vec<_> = approvals.iter().map(|a| a.ticket_id).collect();
            ids.dedup();
            let tickets = futures::future::join_all(ids.into_iter().map(|id| client.get_ticket(id))).await;
            // A ticket gone or no longer visible since the approval was listed is left out.
            Answer::Tickets(Page { items: tickets.into_iter().filter_map(Result::ok).collect(), next_cursor: None })
        }
        Call::TicketDetail(id) => {
            // A rating exists only once the requester gave one: 404 is "none yet".
            let rating = async {
                match client.ticket_rating(id).await {
                    Ok(rating) => Ok(Some(rating)),
                    Err(err) if err.status().is_some_and(|s| s.as_u16() == 404) => Ok(None),
                    Err(err) => Err(err),
                }
            };
            let (ticket, comments, transitions, attachments, subtickets, links, watchers, approvals, rating) = tokio::try_join!(
                client.get_ticket(id),
                client.list_comments(id),
                client.list_transitions(id),
                client.list_attachments(id),
                client.list_subtickets(id),
                client.list_links(id),
                client.list_watchers(id),
                client.ticket_approvals(id),
                rating,
            )?;
            Answer::Detail(Box::new(TicketDetail { ticket, comments, transitions, attachments, subtickets, links, watchers, approvals, rating }))
        }
        Call::TicketByNumber(number) => Answer::Ticket(Box::new(client.get_ticket_by_number(&number).await?)),
        Call::History(id) => Answer::History(client.history(id).await?),
        Call::Comment { ticket, body, internal } => {
            let request = hdms_api_types::tickets::CreateComment { body, internal };
            Answer::Comment(Box::new(client.comment(ticket, &request).await?))
        }
        Call::Transition { ticket, to, version } => {
            let request = TransitionRequest { to, comment: None, version: Some(version) };
            Answer::Ticket(Box::new(client.transition(ticket, &request).await?))
        }
        Call::Assign { ticket, request } => Answer::Ticket(Box::new(client.assign(ticket, &request).await?)),
        Call::ClaimNext => Answer::Ticket(Box::new(client.claim_next().await?)),
        Call::Update { ticket, update } => Answer::Ticket(Box::new(client.update_ticket(ticket, &update).await?)),
        Call::Watch { ticket, user, watch } => {
            if watch {
                client.watch_ticket(ticket, user).await?;
            } else {
                client.unwatch_ticket(ticket, user).await?;
            }
            Answer::Done
        }
        Call::RequestApproval { ticket, request } => Answer::Approval(Box::new(client.request_approval(ticket, &request).await?)),
        Call::DecideApproval { approval, decision } => Answer::Approval(Box::new(client.decide_approval(approval, &decision).await?)),
        Call::CreateSubTicket { parent, request } => Answer::Ticket(Box::new(client.create_subticket(parent, &request).await?)),
        Call::Link { ticket, to, kind } => {
            let other = client.get_ticket_by_number(&to).await?;
            Answer::Linked(Box::new(client.create_link(ticket, &CreateLink { to: other.id, kind }).await?))
        }
        Call::Merge { ticket, into, version } => {
            let survivor = client.get_ticket_by_number(&into).await?;
            let request = MergeRequest { into: survivor.id, version: Some(version) };
            Answer::Merged(Box::new(client.merge_ticket(ticket, &request).await?))
        }
        Call::Bulk(update) => Answer::Bulk(client.bulk_update(&update).await?),
        Call::Notifications => {
            let query = NotificationListQuery { limit: Some(100), ..Default::default() };
            Answer::Notifications(client.notifications(&query).await?)
        }
        Call::MarkRead(id) => {
            client.mark_notification_read(id).await?;
            Answer::Unread(client.unread_notifications().await?.unread)
        }
        Call::MarkAllRead => Answer::Unread(client.mark_all_notifications_read().await?.unread),
        Call::UnreadCount => Answer::Unread(client.unread_notifications().await?.unread),
        Call::SaveAttachment { attachment, path } => {
            let download = client.download_attachment(attachment, None).await?;
            let bytes = download.content.len() as u64;
            if let Err(err) = write_new_file(&path, &download.content).await {
                return Err(Failure::new(format!("cannot write {}: {err}", path.display())));
            }
            Answer::Saved { path, bytes }
        }
        Call::FindPeople(text) => Answer::People(client.list_users(&crate::actions::people_query(&text)).await?.items),
        Call::User(id) => Answer::User(client.get_user(id).await?),
        Call::Teams => Answer::Teams(client.list_teams(&TeamListQuery::default()).await?),
        Call::CannedReplies => Answer::CannedReplies(client.list_canned_replies().await?),
        Call::Macros => Answer::Macros(client.list_macros().await?),
        Call::ApplyMacro { ticket, macro_id, version } => {
            let request = hdms_api_types::tickets::ApplyMacro { version: Some(version) };
            Answer::Ticket(Box::new(client.apply_macro(ticket, macro_id, &request).await?))
        }
    })
}

/// The dashboard's numbers in one go: each team's metrics; created vs resolved per local day
/// (per hour for today) and the first-response and resolution times over the whole window, for
/// the chosen team or else all of them (the server counts an admin's whole desk, a
/// supervisor's own teams). Days are this machine's, as `hdms reports` counts them.
async fn dashboard(
    client: &Client,
    teams: Vec<hdms_api_types::tickets::TeamSummary>,
    team: Option<uuid::Uuid>,
    days: u32,
) -> Result<crate::screens::dashboard::DashboardData, Failure> {
    use hdms_api_types::metrics::{ReportBucket, ReportQuery, TeamMetricsQuery};
    let shown: Vec<_> = teams.into_iter().filter(|t| team.is_none_or(|id| id == t.id)).collect();
    let query = TeamMetricsQuery { days: Some(days) };
    let metrics = futures::future::try_join_all(shown.iter().map(|t| client.team_metrics(t.id, &query))).await?;
    let zone = local_time_zone();
    let today = Utc::now().with_timezone(&zone).date_naive();
    let from = today - chrono::Days::new(u64::from(days.max(1)) - 1);
    let report = |bucket| ReportQuery { team, from: Some(from), to: Some(today), bucket: Some(bucket), tz: Some(zone.name().to_owned()) };
    let per_bucket = report(if days == 1 { ReportBucket::Hour } else { ReportBucket::Day });
    let whole = report(ReportBucket::Window);
    // A report refused (a supervisor in no team) leaves its part empty, not the whole dashboard.
    let (volume, times) = futures::join!(client.volume_report(&per_bucket), client.times_report(&whole));
    let times = times.ok().and_then(|report| report.buckets.into_iter().next()).map(|bucket| bucket.figures);
    Ok(crate::screens::dashboard::DashboardData { teams: shown.into_iter().zip(metrics).collect(), volume: volume.ok(), times })
}

/// This machine's IANA time zone, UTC when it cannot be told (as `hdms reports` does).
fn local_time_zone() -> chrono_tz::Tz {
    iana_time_zone::get_timezone().ok().and_then(|name| name.parse().ok()).unwrap_or(chrono_tz::Tz::UTC)
}

/// Leaves the alternate screen and raw mode, runs `$VISUAL`/`$EDITOR` on `text`, and comes back.
async fn edit_outside<B: Backend>(terminal: &mut Terminal<B>, text: &str) -> Result<String, String>
where
    B::Error: Send + Sync + 'static,
{
    use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(std::io::stdout(), LeaveAlternateScreen);
    let text = text.to_owned();
    let result = tokio::task::spawn_blocking(move || crate::composer::editor::run_editor(&text))
        .await
        .map_err(|err| err.to_string())
        .and_then(|result| result.map_err(|err| format!("the editor failed: {err}")));
    let _ = crossterm::execute!(std::io::stdout(), EnterAlternateScreen, crossterm::terminal::Clear(crossterm::terminal::ClearType::All));
    let _ = enable_raw_mode();
    // Forget the last frame so the next draw paints every cell. (`Terminal::clear` asks the
    // terminal where its cursor is first; right after the editor that query failed under tmux,
    // and the screen came back with only the edited lines: the e2e test caught it.)
    terminal.swap_buffers();
    result
}

/// A file to upload: its name and content (`~/` is the home directory, as people type it).
async fn read_file(path: &std::path::Path) -> Result<(String, Vec<u8>), Failure> {
    let path = match path.strip_prefix("~") {
        Ok(rest) => dirs::home_dir().map(|home| home.join(rest)).unwrap_or_else(|| path.to_owned()),
        Err(_) => path.to_owned(),
    };
    let content = tokio::fs::read(&path).await.map_err(|err| Failure::new(format!("cannot read {}: {err}", path.display())))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".to_owned());
    Ok((name, content))
}

/// Writes a downloaded file without replacing one already there.
async fn write_new_file(path: &std::path::Path, content: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(path).await?;
    file.write_all(content).await?;
    file.flush().await
}

/// Runs the client on `terminal` until the agent quits. `initial` events go through `update`
/// first (the terminal's size, a saved session to resume).
pub async fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    mut state: State,
    effects: Effects,
    mut events: mpsc::UnboundedReceiver<Event>,
    initial: Vec<Event>,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    for event in initial {
        for effect in update(&mut state, event) {
            effects.perform(effect);
        }
    }
    while !state.quit {
        terminal.draw(|frame| ui::draw(frame, &state))?;
        #[cfg(unix)]
        let terminated = terminate.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        let event = tokio::select! {
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) => Event::Key(key),
                Some(Ok(TermEvent::Paste(text))) => Event::Paste(text),
                Some(Ok(TermEvent::Resize(width, height))) => Event::Resize { width, height },
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(err.into()),
                None => break,
            },
            Some(event) = events.recv() => event,
            _ = tick.tick() => Event::Tick(Utc::now()),
            _ = terminated => break,
        };
        let mut pending = update(&mut state, event);
        // Whatever else is already waiting goes in before the next frame.
        while let Ok(event) = events.try_recv() {
            pending.extend(update(&mut state, event));
        }
        for effect in pending {
            if let Effect::RunEditor { ticket, text } = effect {
                // The editor owns the terminal meanwhile: no key reader, no alternate screen.
                drop(keys);
                let result = edit_outside(terminal, &text).await;
                keys = EventStream::new();
                let done = update(&mut state, Event::EditorDone { ticket, result });
                done.into_iter().for_each(|effect| effects.perform(effect));
            } else {
                effects.perform(effect);
            }
        }
    }
    // Whatever the agent typed last is on disk before the process ends.
    if let Some(drafts) = &state.shared.drafts {
        drafts.flush();
    }
    Ok(())
}
