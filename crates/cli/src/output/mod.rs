//! How results are printed: a table for people, JSON or CSV for programs, bare ids for pipes.
//!
//! JSON is the wire type as the server sent it, every field included; `--fields` picks some of
//! them, for JSON and for CSV alike (CSV columns are the JSON fields). Tables are for people:
//! names instead of ids, times as `5m ago`, fitted to the terminal (see [`table`]).

pub mod human;
pub mod table;

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::exit::{CliError, CliResult};
pub use table::{Cell, Column, Layout, Tone, Zone, render_record, render_record_with, render_table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people, fitted to the terminal.
    Table,
    /// Every field, as the API sends it.
    Json,
    /// One row per record, the JSON fields as columns.
    Csv,
}

impl Format {
    /// Table on a terminal; JSON when stdout is a pipe or a file, so scripts get a stable shape.
    pub fn default_for_stdout() -> Format {
        if std::io::stdout().is_terminal() { Format::Table } else { Format::Json }
    }
}

/// Something printed for programs: its JSON object and the names of all its fields.
pub trait Record: Serialize {
    /// Every field the JSON object can have, in the order it has them (a test checks this
    /// against a record with every field set). `--fields` chooses among these; CSV prints
    /// them all by default.
    const FIELDS: &'static [&'static str];
    fn id(&self) -> String;
}

/// Something printed for people, as a row of a table (or, alone, as labelled lines).
pub trait Tabular {
    const COLUMNS: &'static [Column];
    fn row(&self, layout: &Layout) -> Vec<Cell>;
}

impl<T: Tabular> Tabular for &T {
    const COLUMNS: &'static [Column] = T::COLUMNS;

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        (*self).row(layout)
    }
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    /// Print bare ids, one per line, instead of records.
    pub ids: bool,
    /// The JSON fields `--fields` asked for.
    pub fields: Option<Vec<String>>,
    pub layout: Layout,
}

impl Output {
    /// What the command line asked for, fitted to where stdout goes.
    pub fn new(format: Option<Format>, ids: bool, fields: Option<Vec<String>>, wide: bool) -> CliResult<Output> {
        let format = match (format, &fields) {
            (Some(Format::Table), Some(_)) => {
                return Err(CliError::usage("--fields chooses JSON or CSV fields: add -o json or -o csv, or leave -o out"));
            }
            (None, Some(_)) => Format::Json,
            (Some(format), _) => format,
            (None, None) => Format::default_for_stdout(),
        };
        let stdout = std::io::stdout();
        let colour = anstream::AutoStream::choice(&stdout) != anstream::ColorChoice::Never;
        let layout = Layout { width: terminal_width(), colour, wide, now: chrono::Utc::now(), zone: Zone::Local };
        Ok(Output { format, ids, fields, layout })
    }

    pub fn for_people(&self) -> bool {
        self.format == Format::Table && !self.ids
    }

    pub fn list<T: Record + Tabular>(&self, records: &[T]) -> CliResult {
        self.list_as(records, |record| record)
    }

    /// A list whose table rows are `view` of each record (which may bring names along), while
    /// JSON and CSV print the records themselves.
    pub fn list_as<'a, T: Record, V: Tabular>(&self, records: &'a [T], view: impl Fn(&'a T) -> V) -> CliResult {
        let text = match self.machine(records, false)? {
            Some(text) => text,
            None => {
                let rows: Vec<Vec<Cell>> = records.iter().map(|record| view(record).row(&self.layout)).collect();
                render_table(V::COLUMNS, &rows, &self.layout)
            }
        };
        print(&text)
    }

    pub fn one<T: Record + Tabular>(&self, record: &T) -> CliResult {
        self.one_as(record, record)
    }

    pub fn one_as<T: Record, V: Tabular>(&self, record: &T, view: V) -> CliResult {
        let text = match self.machine(std::slice::from_ref(record), true)? {
            Some(text) => text,
            None => render_record(V::COLUMNS, &view.row(&self.layout), &self.layout),
        };
        print(&text)
    }

    /// The records as ids, JSON or CSV; `None` when people get a table. `one` prints a JSON
    /// object rather than an array.
    pub fn machine<T: Record>(&self, records: &[T], one: bool) -> CliResult<Option<String>> {
        if self.ids {
            return Ok(Some(records.iter().map(|record| record.id() + "\n").collect()));
        }
        let fields = self.chosen_fields::<T>()?;
        match self.format {
            Format::Table => Ok(None),
            Format::Json => {
                let text = match (&fields, one) {
                    (None, true) => to_json(&records[0])?,
                    (None, false) => to_json(records)?,
                    (Some(fields), true) => to_json(&select(&records[0], fields)?)?,
                    (Some(fields), false) => {
                        to_json(&records.iter().map(|record| select(record, fields)).collect::<CliResult<Vec<_>>>()?)?
                    }
                };
                Ok(Some(text + "\n"))
            }
            Format::Csv => {
                let columns: Vec<&str> = match &fields {
                    Some(fields) => fields.clone(),
                    None => T::FIELDS.to_vec(),
                };
                let rows = records
                    .iter()
                    .map(|record| Ok(select(record, &columns)?.0.into_iter().map(|(_, value)| csv_cell(&value)).collect()))
                    .collect::<CliResult<Vec<Vec<String>>>>()?;
                let mut out = Vec::new();
                write_csv(&mut out, &columns, rows.into_iter())?;
                Ok(Some(String::from_utf8(out).expect("CSV of UTF-8 cells is UTF-8")))
            }
        }
    }

    /// `--fields`, checked against the record's fields (a misspelt one names the nearest).
    fn chosen_fields<T: Record>(&self) -> CliResult<Option<Vec<&str>>> {
        let Some(fields) = &self.fields else { return Ok(None) };
        let mut chosen = Vec::new();
        for field in fields.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
            if !T::FIELDS.contains(&field) {
                let nearest = T::FIELDS
                    .iter()
                    .map(|known| (strsim::jaro(field, known), known))
                    .filter(|(score, _)| *score > 0.7)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, known)| format!(" (did you mean '{known}'?)"))
                    .unwrap_or_default();
                return Err(CliError::usage(format!(
                    "--fields: unknown field '{field}'{nearest}; the fields are {}",
                    T::FIELDS.join(", ")
                )));
            }
            chosen.push(field);
        }
        if chosen.is_empty() {
            return Err(CliError::usage(format!("--fields: name at least one of {}", T::FIELDS.join(", "))));
        }
        Ok(Some(chosen))
    }
}

/// The chosen fields of a record, in the order asked; a field the record lacks is `null`.
pub struct Selected(Vec<(String, Value)>);

impl Serialize for Selected {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn select<T: Serialize, F: AsRef<str>>(record: &T, fields: &[F]) -> CliResult<Selected> {
    let value = serde_json::to_value(record).map_err(|err| CliError::failure(format!("cannot encode JSON: {err}")))?;
    let mut object = match value {
        Value::Object(object) => object,
        _ => Default::default(),
    };
    Ok(Selected(fields.iter().map(|field| (field.as_ref().to_owned(), object.remove(field.as_ref()).unwrap_or(Value::Null))).collect()))
}

/// A JSON value as one CSV cell: text as it is, nothing as an empty cell, a list of plain
/// values comma separated, anything nested as compact JSON.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(items) if items.iter().all(|item| !item.is_array() && !item.is_object()) => {
            items.iter().map(csv_cell).collect::<Vec<_>>().join(",")
        }
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn print(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The terminal's width; else `COLUMNS` (set by shells, and by scripts that want a width);
/// else none: a table in a pipe keeps its lines whole.
fn terminal_width() -> Option<u16> {
    if std::io::stdout().is_terminal()
        && let Ok((width, _)) = crossterm::terminal::size()
        && width > 0
    {
        return Some(width);
    }
    std::env::var("COLUMNS").ok().and_then(|columns| columns.trim().parse().ok()).filter(|&width| width > 0)
}

pub fn to_json<T: Serialize + ?Sized>(value: &T) -> CliResult<String> {
    serde_json::to_string_pretty(value).map_err(|err| CliError::failure(format!("cannot encode JSON: {err}")))
}

pub fn write_csv(out: &mut impl Write, columns: &[&str], rows: impl Iterator<Item = Vec<String>>) -> CliResult {
    let mut writer = csv::Writer::from_writer(out);
    let fail = |err: csv::Error| CliError::failure(format!("cannot write CSV: {err}"));
    writer.write_record(columns).map_err(fail)?;
    for row in rows {
        writer.write_record(row.iter().map(|cell| neutralise_formula(cell).into_owned())).map_err(fail)?;
    }
    writer.flush()?;
    Ok(())
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a leading tab or CR
/// before one) gets a leading apostrophe, which spreadsheets show as text and do not evaluate
/// (the OWASP advice for CSV injection).
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, neutralise_formula};

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_not() {
        assert_eq!(neutralise_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise_formula("+1+1"), "'+1+1");
        assert_eq!(neutralise_formula("-2"), "'-2");
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_formula("\t=1"), "'\t=1");
        assert_eq!(neutralise_formula("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(neutralise_formula(""), "");
    }

    #[test]
    fn csv_cells_flatten_json() {
        use serde_json::json;
        assert_eq!(csv_cell(&json!(null)), "");
        assert_eq!(csv_cell(&json!("text")), "text");
        assert_eq!(csv_cell(&json!(3)), "3");
        assert_eq!(csv_cell(&json!(["a", "b"])), "a,b");
        assert_eq!(csv_cell(&json!({"name": "Ada"})), r#"{"name":"Ada"}"#);
    }
}
