//! The key list of docs/tui.md is the key table: regenerate it with
//! `HDMS_UPDATE_DOCS=1 cargo test -p hdms-tui --test readme`.

use hdms_tui::composer::ComposerKeys;
use hdms_tui::composer_slot::composer_keys;
use hdms_tui::keys::{Keymap, markdown};

const START: &str = "<!-- hdms-tui keys: generated from crates/tui/src/keys.rs -->\n";
const END: &str = "<!-- end of hdms-tui keys -->";

#[test]
fn readme_lists_the_default_keys() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tui.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(START).expect("docs/tui.md has the hdms-tui keys marker") + START.len();
    let end = readme[start..].find(END).expect("docs/tui.md has the end marker") + start;
    let expected = markdown(&Keymap::default());
    if std::env::var_os("HDMS_UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == expected,
        "docs/tui.md's hdms-tui keys are stale: run HDMS_UPDATE_DOCS=1 cargo test -p hdms-tui --test readme"
    );
}

/// The composer's own defaults (used where it runs without the client's table) are the key
/// table's, so the docs' composer keys are the ones it answers to.
#[test]
fn the_composer_answers_to_the_documented_keys() {
    assert_eq!(composer_keys(&Keymap::default()), ComposerKeys::defaults());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tui.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    for action in hdms_tui::composer::ComposerAction::ALL {
        assert!(docs.contains(&format!("`{}`", action.name())), "docs/tui.md names the composer action {}", action.name());
    }
    assert!(docs.contains("drafts/<profile>/"), "docs/tui.md says where drafts are kept");
}
