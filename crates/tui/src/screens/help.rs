//! The `?` help: every key of the screen below, straight from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use crate::keys::{Context, Keymap};
use crate::overlay::centered;

pub fn draw(frame: &mut Frame, area: Rect, keymap: &Keymap, contexts: &[Context], scroll: u16) {
    let popup = centered(area, 90, area.height.saturating_sub(2));
    // Descriptions wrap beside their keys (indented under the description, not the key), so a
    // narrow terminal shows every word.
    const KEYS_WIDTH: usize = 24;
    let text_width = usize::from(popup.width.saturating_sub(2)).saturating_sub(KEYS_WIDTH).max(16);
    let mut lines = Vec::new();
    for context in contexts {
        let rows = keymap.help_rows(*context);
        if rows.is_empty() {
            continue;
        }
        lines.push(Line::styled(context.title(), Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)));
        for row in rows {
            for (i, part) in textwrap::wrap(&row.help, text_width).into_iter().enumerate() {
                let keys = if i == 0 { format!("  {:<22}", row.keys) } else { " ".repeat(KEYS_WIDTH) };
                lines.push(Line::from(vec![Span::styled(keys, Style::default().fg(Color::Cyan)), Span::raw(part.into_owned())]));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw("  Ctrl-c                  Quit from anywhere"));
    frame.render_widget(Clear, popup);
    let block = Block::bordered().border_type(BorderType::Rounded).title(" Keys ").title_bottom(" j/k scroll · any other key closes ");
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), popup);
}
