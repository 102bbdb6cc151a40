//! The new text of a reply, without the history it quotes: everything from hdms's own
//! reply-above marker, a Gmail or Apple Mail "On … wrote:" line, an Outlook original-message
//! block, or a `-- ` signature separator on is cut; `>` quoted lines are dropped (what is left
//! between them is the answer, for replies written inline). The full text is kept beside it.

/// The line hdms puts above the quoted history of the mail it sends; everything from a line
/// containing it down is history.
pub const REPLY_ABOVE: &str = "Reply above this line";

/// Lines after an Outlook `From:` line in which its `Sent:`/`Date:` line must appear.
const OUTLOOK_HEADER_SPAN: usize = 4;

/// The reply without quoted history and signature; the whole text when nothing would be left
/// (a forward, say).
pub fn strip(full: &str) -> String {
    let full = full.replace("\r\n", "\n");
    let lines: Vec<&str> = full.lines().collect();
    let cut = (0..lines.len()).find(|&i| starts_history(&lines, i)).unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..cut].iter().copied().filter(|line| !line.trim_start().starts_with('>')).collect();
    // The rule Outlook draws above its original-message block.
    while kept.last().is_some_and(|line| line.trim().chars().all(|c| c == '_' || c == '-')) {
        kept.pop();
    }
    let reply = kept.join("\n").trim().to_owned();
    if reply.is_empty() { full.trim().to_owned() } else { reply }
}

/// A line as written, without quoting, emphasis marks (HTML rendered as text) and blanks.
fn bare(line: &str) -> String {
    line.trim_start_matches(['>', ' ', '\t']).replace(['*', '\u{a0}'], " ").trim().to_owned()
}

fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    if line == "-- " || line == "--" {
        return true;
    }
    let bare = bare(line);
    let lower = bare.to_lowercase();
    if lower.contains(&REPLY_ABOVE.to_lowercase()) {
        return true;
    }
    if lower.starts_with("-----original message-----") || lower.starts_with("----- original message -----") {
        return true;
    }
    // Gmail, Apple Mail, Thunderbird: "On Mon, 1 Dec 2025 at 10:00, Ana <ana@x> wrote:", which
    // long names wrap onto a second line; and the same in a few other languages.
    if is_attribution(&lower) {
        return true;
    }
    if (lower.starts_with("on ") || lower.starts_with("am ") || lower.starts_with("le ") || lower.starts_with("el "))
        && let Some(next) = lines.get(i + 1)
    {
        let joined = format!("{lower} {}", self::bare(next).to_lowercase());
        if is_attribution(&joined) {
            return true;
        }
    }
    // Outlook: a "From:" line followed within a few lines by "Sent:" or "Date:".
    if lower.starts_with("from:") || lower.starts_with("von:") || lower.starts_with("de :") || lower.starts_with("de:") {
        return lines.iter().skip(i + 1).take(OUTLOOK_HEADER_SPAN).any(|next| {
            let next = self::bare(next).to_lowercase();
            next.starts_with("sent:") || next.starts_with("date:") || next.starts_with("gesendet:") || next.starts_with("envoyé :")
        });
    }
    false
}

fn is_attribution(lower: &str) -> bool {
    (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
        || (lower.starts_with("le ") && (lower.ends_with("a écrit :") || lower.ends_with("a écrit:")))
        || (lower.starts_with("el ") && lower.ends_with("escribió:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_and_quotes() {
        let text = "Thanks, that worked.\n\nOn Mon, 1 Dec 2025 at 10:00, Support <support@desk.example.org> wrote:\n> Try restarting.\n> Bye";
        assert_eq!(strip(text), "Thanks, that worked.");
    }

    #[test]
    fn wrapped_attribution() {
        let text = "Yes please.\n\nOn Mon, 1 Dec 2025 at 10:00, A Very Long Name Support Team <support@desk.example.org>\nwrote:\n\n> old";
        assert_eq!(strip(text), "Yes please.");
    }

    #[test]
    fn outlook_block() {
        let text = "It is fixed now.\r\n\r\n________________________________\r\nFrom: Support <support@desk.example.org>\r\nSent: Monday, December 1, 2025 10:00 AM\r\nTo: Ana\r\nSubject: RE: [HD-1001] VPN\r\n\r\nold text";
        assert_eq!(strip(text), "It is fixed now.");
    }

    #[test]
    fn our_marker_signature_and_inline_answers() {
        assert_eq!(strip("New text\n\n-- Reply above this line --\nold"), "New text");
        assert_eq!(strip("Answer\n-- \nAna\nACME"), "Answer");
        assert_eq!(strip("> question one\nanswer one\n> question two\nanswer two"), "answer one\nanswer two");
    }

    #[test]
    fn nothing_left_keeps_everything() {
        assert_eq!(strip("> only a quote"), "> only a quote");
    }
}
