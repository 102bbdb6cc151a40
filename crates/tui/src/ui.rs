//! Drawing: a pure function of the state. The screen's view takes the top, then a message line,
//! the footer (main keys, from the key table) and the status line (server, user, connection,
//! unread count); overlays and toasts go on top.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, LineGauge, Paragraph, Wrap};

use crate::app::{State, View};
use crate::realtime::Connection;

pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let [main, message, footer, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1), Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let shared = &state.shared;
    match state.view {
        View::Login => state.login.draw(frame, main, &shared.server),
        View::Queues => state.queues.draw(frame, main, shared),
        View::Ticket => match &state.ticket {
            Some(view) => view.draw(frame, main, shared),
            None => frame.render_widget(Paragraph::new("No ticket open."), main),
        },
        View::Dashboard => state.dashboard.draw(frame, main, shared),
        View::Notifications => {
            let [title, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(main);
            frame.render_widget(
                Paragraph::new(format!("Notifications · {} unread", shared.unread)).style(Style::default().add_modifier(Modifier::BOLD)),
                title,
            );
            state.notifications.draw(frame, list, shared);
        }
    }
    draw_message(frame, message, state);
    draw_footer(frame, footer, state);
    draw_status(frame, status, state);
    if let Some(toast) = &shared.toast {
        draw_toast(frame, main, &toast.title, &toast.body);
    }
    if let Some(overlay) = &state.overlay {
        overlay.draw(frame, main, &shared.keymap);
    }
}

fn draw_message(frame: &mut Frame, area: Rect, state: &State) {
    if let Some(progress) = &state.shared.progress {
        let ratio = if progress.total == 0 { 1.0 } else { progress.sent as f64 / progress.total as f64 };
        let label = format!(" Uploading {} {} of {} ", progress.label, crate::format::bytes(progress.sent), crate::format::bytes(progress.total));
        let gauge = LineGauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label)
            .filled_style(Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD));
        frame.render_widget(gauge, area);
        return;
    }
    let Some(message) = &state.shared.message else { return };
    let line = if message.error {
        Line::from(vec![
            Span::styled(" ERROR ", Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)),
            Span::styled(format!(" {}", message.text), Style::default().fg(Color::Red)),
        ])
    } else {
        Line::from(Span::raw(format!(" {}", message.text)))
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, state: &State) {
    let contexts = state.contexts();
    let mut spans = Vec::new();
    let mut used = 0;
    for (key, label) in state.shared.keymap.footer(&contexts) {
        let (key, label) = (format!(" {key} "), format!(" {label} "));
        used += key.chars().count() + label.chars().count();
        // Whole items only: a key without its label (or half a label) helps nobody.
        if used > usize::from(area.width) {
            break;
        }
        spans.push(Span::styled(key, Style::default().add_modifier(Modifier::REVERSED)));
        spans.push(Span::raw(label));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(frame: &mut Frame, area: Rect, state: &State) {
    let shared = &state.shared;
    let base = Style::default().bg(Color::DarkGray).fg(Color::White);
    let user = match &shared.me {
        Some(me) => format!("{} ({})", me.email, me.role),
        None => "not signed in".to_owned(),
    };
    let connection_style = match shared.connection {
        Connection::Online => base.fg(Color::LightGreen),
        Connection::Reconnecting { .. } | Connection::Connecting => base.fg(Color::Yellow),
        Connection::Off => base,
        Connection::Offline(_) => base.fg(Color::LightRed).add_modifier(Modifier::BOLD),
    };
    let unread_style = if shared.unread > 0 { base.add_modifier(Modifier::BOLD).fg(Color::LightYellow) } else { base };
    // Who, the connection and the unread count matter most: a narrow terminal loses the
    // server's address first, then the product name.
    let tail = vec![
        Span::styled(format!("{user} │ "), base),
        Span::styled(shared.connection.label(), connection_style),
        Span::styled(" │ ", base),
        Span::styled(format!("{} unread", shared.unread), unread_style),
        Span::styled(" ", base),
    ];
    let tail_width: usize = tail.iter().map(|span| span.content.chars().count()).sum();
    let server = format!("│ {} │ ", shared.server);
    let room = usize::from(area.width);
    let mut spans = Vec::new();
    if tail_width + 6 + server.chars().count() <= room {
        spans.push(Span::styled(" hdms ", base.add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(server, base));
    } else if tail_width + 8 <= room {
        spans.push(Span::styled(" hdms │ ", base.add_modifier(Modifier::BOLD)));
    } else {
        spans.push(Span::styled(" ", base));
    }
    spans.extend(tail);
    let line = Line::from(spans);
    frame.render_widget(Paragraph::new(line).style(base), area);
}

fn draw_toast(frame: &mut Frame, main: Rect, title: &str, body: &str) {
    // Bottom right, above the message line: the tab bar and headers stay readable.
    let width = main.width.min(48);
    let height = main.height.min(4);
    let area = Rect { x: main.right().saturating_sub(width), y: main.bottom().saturating_sub(height), width, height };
    frame.render_widget(Clear, area);
    let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {title} ")).border_style(Style::default().fg(Color::Yellow));
    frame.render_widget(Paragraph::new(body.to_owned()).block(block).wrap(Wrap { trim: true }), area);
}
