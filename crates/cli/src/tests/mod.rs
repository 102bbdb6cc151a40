//! Tests of what people and programs read, with fixed data and no server: tables at 80 and 120
//! columns (insta snapshots), the width promise at every width, colour only when asked,
//! `--fields` for JSON and CSV, help for every command and option, and the reference pages
//! in `docs/` that are generated from the code.

mod docs;
mod fixtures;
mod help;
mod output;
