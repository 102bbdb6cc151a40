//! Signing in: email, password (never echoed), then the SMS code when the account has login
//! codes. The runtime saves the session exactly as `hdms login` does.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use crate::call::{Call, Failure, RequestId};
use crate::input::Field;
use crate::keys::{Action, Context, Keymap};
use crate::overlay::centered;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Credentials,
    /// The server texted a code; the login completes with it.
    Code { challenge: String, phone_hint: String, expires_in: u64 },
}

#[derive(Debug, Clone)]
pub struct Login {
    pub email: Field,
    pub password: Field,
    pub code: Field,
    pub step: Step,
    /// 0: email, 1: password (on the code step there is one field).
    pub focus: usize,
    pub pending: Option<RequestId>,
    pub error: Option<String>,
    /// Checking a saved session before showing the form.
    pub resuming: bool,
}

pub enum Outcome {
    Quit,
    Call(Call),
}

impl Login {
    pub fn new(email: Option<&str>) -> Login {
        let email = Field::with_text("Email", email.unwrap_or(""));
        let focus = usize::from(!email.text().is_empty());
        Login {
            email,
            password: Field::secret("Password"),
            code: Field::new("Code"),
            step: Step::Credentials,
            focus,
            pending: None,
            error: None,
            resuming: false,
        }
    }

    fn focused(&mut self) -> &mut Field {
        match (&self.step, self.focus) {
            (Step::Code { .. }, _) => &mut self.code,
            (Step::Credentials, 0) => &mut self.email,
            _ => &mut self.password,
        }
    }

    pub fn paste(&mut self, text: &str) {
        self.focused().paste(text);
    }

    pub fn key(&mut self, key: KeyEvent, keymap: &Keymap) -> Option<Outcome> {
        let action = keymap.action(&[Context::Login], key);
        if action == Some(Action::Quit) {
            return Some(Outcome::Quit);
        }
        if self.pending.is_some() {
            return None;
        }
        match action {
            Some(Action::NextField | Action::PrevField) => {
                if self.step == Step::Credentials {
                    self.focus = 1 - self.focus;
                }
                None
            }
            Some(Action::Submit) => self.submit(),
            _ => {
                self.focused().key(key);
                None
            }
        }
    }

    fn submit(&mut self) -> Option<Outcome> {
        match &self.step {
            Step::Credentials => {
                let email = self.email.text().trim().to_owned();
                if email.is_empty() {
                    self.focus = 0;
                    self.error = Some("Type your email".to_owned());
                    return None;
                }
                if self.password.text().is_empty() {
                    self.focus = 1;
                    return None;
                }
                self.error = None;
                Some(Outcome::Call(Call::Login { email, password: self.password.text().to_owned() }))
            }
            Step::Code { challenge, .. } => {
                let code = self.code.text().trim().to_owned();
                if code.is_empty() {
                    self.error = Some("Type the code from the SMS".to_owned());
                    return None;
                }
                self.error = None;
                Some(Outcome::Call(Call::LoginOtp { challenge: challenge.clone(), code }))
            }
        }
    }

    pub fn ask_code(&mut self, challenge: String, phone_hint: String, expires_in: u64) {
        self.pending = None;
        self.error = None;
        self.step = Step::Code { challenge, phone_hint, expires_in };
    }

    pub fn failed(&mut self, failure: &Failure) {
        self.pending = None;
        self.resuming = false;
        self.error = Some(failure.to_string());
        // An expired or used-up code needs a new login; a wrong one may be typed again.
        if matches!(self.step, Step::Code { .. }) && failure.code.as_deref() != Some("invalid_code") {
            if failure.code.as_deref().is_some_and(|c| c.contains("expired") || c.contains("challenge")) {
                self.step = Step::Credentials;
                self.focus = 1;
            }
        } else if self.step == Step::Credentials {
            self.focus = 1;
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, server: &str) {
        let popup = centered(area, 60, 14);
        let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" hdms-tui · sign in to {server} "));
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let rows = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .split(inner.inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 }));
        let label = |text: &'static str, focused: bool| {
            let style = if focused { Style::default().add_modifier(Modifier::BOLD) } else { Style::default() };
            Paragraph::new(Line::styled(text, style))
        };
        if self.resuming {
            frame.render_widget(Paragraph::new("Signing in with the saved session…"), rows[0]);
            return;
        }
        match &self.step {
            Step::Credentials => {
                frame.render_widget(label("Email", self.focus == 0), rows[0]);
                frame.render_widget(self.email.widget(self.focus == 0), rows[1]);
                frame.render_widget(label("Password", self.focus == 1), rows[3]);
                frame.render_widget(self.password.widget(self.focus == 1), rows[4]);
            }
            Step::Code { phone_hint, expires_in, .. } => {
                let text = format!("Code sent by SMS to {phone_hint} (valid {expires_in} s)");
                frame.render_widget(label("SMS login code", true), rows[0]);
                frame.render_widget(Paragraph::new(text), rows[1]);
                frame.render_widget(self.code.widget(true), rows[3]);
            }
        }
        let note = match (&self.error, self.pending) {
            (Some(error), _) => Paragraph::new(error.as_str()).style(Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)),
            (None, Some(_)) => Paragraph::new("Signing in…"),
            (None, None) => Paragraph::new("Enter signs in · Tab next field · Esc quits").style(Style::default().add_modifier(Modifier::DIM)),
        };
        frame.render_widget(note.wrap(Wrap { trim: true }), rows[6]);
    }
}
