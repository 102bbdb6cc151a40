//! Uploaded file names, made safe to store, show and offer back as a download name.

/// Longest name kept, in characters (common file systems allow 255 bytes).
const MAX_CHARS: usize = 200;
/// Longest name kept, in bytes (UTF-8).
const MAX_BYTES: usize = 255;

/// The last path component of `raw`, without control or bidirectional-override characters,
/// reserved characters or names, leading dots and surrounding blanks; `None` if nothing usable
/// remains.
pub fn sanitize(raw: &str) -> Option<String> {
    // Browsers may send a full client path ("C:\Users\me\report.pdf"): keep the last component,
    // whichever separator it uses.
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let visible: String = last.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
    // A leading dot would make a hidden file on the downloader's machine.
    let visible = visible.trim().trim_start_matches('.').trim_start();
    // Cut here, within the 255 bytes file systems allow too: sanitize_filename's own cut to 255
    // bytes came after its check for a trailing dot or blank, so a long multi-byte name could be
    // cut into "….", which Windows cannot store (and sanitising again changed it).
    let mut shortened = String::new();
    for c in visible.chars().take(MAX_CHARS) {
        if shortened.len() + c.len_utf8() > MAX_BYTES {
            break;
        }
        shortened.push(c);
    }
    let options = sanitize_filename::Options { truncate: true, windows: true, replacement: "_" };
    let clean = sanitize_filename::sanitize_with_options(shortened.trim_end(), options);
    if clean.is_empty() || clean.chars().all(|c| c == '_') { None } else { Some(clean) }
}

/// Characters that reorder how text displays: "invoice\u{202E}fdp.exe" shows as
/// "invoiceexe.pdf".
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The name's extension, lower case, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_names() {
        assert_eq!(sanitize("report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(sanitize("Q3 results (final) v2.xlsx").as_deref(), Some("Q3 results (final) v2.xlsx"));
        assert_eq!(sanitize("résumé ünïcode 日本.txt").as_deref(), Some("résumé ünïcode 日本.txt"));
    }

    #[test]
    fn drops_directories() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitize("C:\\Users\\me\\report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(sanitize("/abs/path/to/x.png").as_deref(), Some("x.png"));
        assert_eq!(sanitize("dir/").as_deref(), None);
        assert_eq!(sanitize("..").as_deref(), None);
    }

    #[test]
    fn drops_control_and_reordering_characters() {
        assert_eq!(sanitize("a\u{0}b\nc\td.txt").as_deref(), Some("abcd.txt"));
        assert_eq!(sanitize("invoice\u{202E}fdp.exe").as_deref(), Some("invoicefdp.exe"));
        assert_eq!(sanitize("\u{7f}bell\u{7}.txt").as_deref(), Some("bell.txt"));
    }

    #[test]
    fn neutralises_reserved_names_and_characters() {
        assert_eq!(sanitize("a<b>c:d\"e|f?g*.txt").as_deref(), Some("a_b_c_d_e_f_g_.txt"));
        assert_eq!(sanitize(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(sanitize("  spaced.txt  ").as_deref(), Some("spaced.txt"));
        assert_eq!(sanitize("CON").as_deref(), None);
        assert_eq!(sanitize("").as_deref(), None);
        assert_eq!(sanitize("\u{0}\u{1}").as_deref(), None);
    }

    #[test]
    fn bounds_length() {
        let long = format!("{}.txt", "x".repeat(1000));
        let clean = sanitize(&long).unwrap();
        assert!(clean.chars().count() <= MAX_CHARS);
    }

    /// Found by the `upload` fuzz target: a long name of multi-byte characters was cut after
    /// the trailing-dot check, ending in "." (which sanitising again turned into "_").
    #[test]
    fn long_multibyte_names_are_cut_before_the_checks() {
        for name in [format!("{}ab.pdf", "\u{fffd}".repeat(84)), format!("{}ab x", "é".repeat(126)), "日".repeat(300)] {
            let clean = sanitize(&name).unwrap();
            assert!(clean.len() <= MAX_BYTES && !clean.ends_with(['.', ' ']), "{name:?} became {clean:?}");
            assert_eq!(sanitize(&clean).as_deref(), Some(clean.as_str()), "{name:?} sanitised twice differs");
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("a.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("README"), None);
        assert_eq!(extension("bashrc."), None);
    }
}
