//! Editing a draft in the user's own editor (`$VISUAL`, else `$EDITOR`, else a platform
//! default), through the `edit` crate: the text goes to a temporary file, the editor runs on
//! the terminal, and the file's content comes back.
//!
//! The runtime must leave the alternate screen and raw mode before [`run_editor`] and restore
//! them after: the editor owns the terminal meanwhile. It blocks until the editor exits, so call
//! it where blocking is allowed (e.g. `tokio::task::spawn_blocking`, or the UI thread while it
//! draws nothing).

/// Opens the editor on `text` and returns what the user saved. Editors end files with a newline
/// that a chat message does not want: one trailing newline is dropped.
pub fn run_editor(text: &str) -> std::io::Result<String> {
    let edited = edit::edit_with_builder(text, edit::Builder::new().prefix("hdms-draft-").suffix(".md"))?;
    Ok(strip_final_newline(edited))
}

fn strip_final_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_final_newline_goes() {
        assert_eq!(super::strip_final_newline("a\n\n".into()), "a\n");
        assert_eq!(super::strip_final_newline("a\r\n".into()), "a");
        assert_eq!(super::strip_final_newline("a".into()), "a");
    }
}
