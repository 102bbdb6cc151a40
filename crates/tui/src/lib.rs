//! `hdms-tui` as a library: the pieces of the agent's terminal client, wired by `main.rs`.

pub mod composer;
pub mod live;
