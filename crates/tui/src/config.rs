//! `tui.toml` in the config directory the CLI uses (`$HDMS_CONFIG_DIR`, else `~/.config/hdms`).
//!
//! ```toml
//! [keys.composer]
//! send = ["ctrl-o", "alt-enter"]   # keys replace the defaults of that action
//! [keys.queues]
//! claim_next = "c"                 # one key may be written alone
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::keys::{Action, Context, Key, Keymap};

pub const FILE_NAME: &str = "tui.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The client's settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub keymap: Keymap,
}

impl Settings {
    /// Reads `tui.toml` from `dir`; a missing file means the defaults. Errors name the file,
    /// the section and the key.
    pub fn load(dir: Option<&Path>) -> Result<Settings, String> {
        let Some(path) = dir.map(|dir| dir.join(FILE_NAME)) else {
            return Ok(Settings::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Settings::parse(&text).map_err(|err| format!("{}: {err}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Settings, String> {
        let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
        let mut keymap = Keymap::default();
        for (section, actions) in file.keys {
            let context = Context::from_name(&section).ok_or_else(|| {
                let known: Vec<_> = Context::ALL.iter().map(|c| c.name()).collect();
                format!("unknown section [keys.{section}] (known: {})", known.join(", "))
            })?;
            for (name, keys) in actions {
                let action =
                    Action::from_name(&name).ok_or_else(|| format!("[keys.{section}]: unknown action '{name}'"))?;
                let texts = match keys {
                    OneOrMany::One(key) => vec![key],
                    OneOrMany::Many(keys) => keys,
                };
                let keys = texts
                    .iter()
                    .map(|text| Key::parse(text).map_err(|err| format!("[keys.{section}] {name}: {err}")))
                    .collect::<Result<Vec<_>, _>>()?;
                keymap.remap(context, action, keys).map_err(|err| format!("[keys.{section}]: {err}"))?;
            }
        }
        Ok(Settings { keymap })
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;

    #[test]
    fn remaps_composer_keys_from_toml() {
        let settings = Settings::parse("[keys.composer]\nsend = [\"ctrl-o\"]\n[keys.queues]\nclaim_next = \"c\"\n").unwrap();
        let keymap = settings.keymap;
        let ctrl_o = KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL);
        assert_eq!(keymap.action(&[Context::Composer], ctrl_o), Some(Action::ComposerSend));
        let c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(keymap.action(&[Context::Queues], c), Some(Action::ClaimNext));
    }

    #[test]
    fn mistakes_are_named() {
        let err = Settings::parse("[keys.nowhere]\nsend = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown section [keys.nowhere]"), "{err}");
        let err = Settings::parse("[keys.composer]\nfly = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown action 'fly'"), "{err}");
        let err = Settings::parse("[keys.composer]\nsend = \"ctrl-nokey\"\n").unwrap_err();
        assert!(err.contains("send"), "{err}");
        assert!(Settings::parse("colour = 3").is_err());
    }

    #[test]
    fn a_missing_file_means_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(Some(dir.path())).unwrap();
        assert!(settings.keymap.key_for(Context::Composer, Action::ComposerSend).is_some());
    }
}
