//! How results are printed: a table for people, JSON or CSV for programs, bare ids for pipes.

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::exit::{CliError, CliResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    /// Table on a terminal; JSON when stdout is a pipe or a file, so scripts get a stable shape.
    pub fn default_for_stdout() -> Format {
        if std::io::stdout().is_terminal() { Format::Table } else { Format::Json }
    }
}

/// Something shown as a row of a list, or as a record on its own.
pub trait Record: Serialize {
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
    fn id(&self) -> String;
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    /// Print bare ids, one per line, instead of records.
    pub ids: bool,
}

impl Output {
    pub fn list<T: Record>(&self, records: &[T]) -> CliResult {
        let mut out = std::io::stdout().lock();
        if self.ids {
            for record in records {
                writeln!(out, "{}", record.id())?;
            }
            return Ok(());
        }
        match self.format {
            Format::Json => writeln!(out, "{}", to_json(&records)?)?,
            Format::Csv => write_csv(&mut out, T::COLUMNS, records.iter().map(Record::cells))?,
            Format::Table => {
                let mut table = new_table();
                table.set_header(T::COLUMNS.iter().copied());
                for record in records {
                    table.add_row(record.cells());
                }
                writeln!(out, "{table}")?;
            }
        }
        Ok(())
    }

    pub fn one<T: Record>(&self, record: &T) -> CliResult {
        let mut out = std::io::stdout().lock();
        if self.ids {
            writeln!(out, "{}", record.id())?;
            return Ok(());
        }
        match self.format {
            Format::Json => writeln!(out, "{}", to_json(record)?)?,
            Format::Csv => write_csv(&mut out, T::COLUMNS, std::iter::once(record.cells()))?,
            Format::Table => {
                let mut table = new_table();
                for (column, cell) in T::COLUMNS.iter().zip(record.cells()) {
                    table.add_row(vec![column.to_string(), cell]);
                }
                writeln!(out, "{table}")?;
            }
        }
        Ok(())
    }
}

pub fn to_json<T: Serialize + ?Sized>(value: &T) -> CliResult<String> {
    serde_json::to_string_pretty(value).map_err(|err| CliError::failure(format!("cannot encode JSON: {err}")))
}

pub fn new_table() -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table
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

pub fn optional(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::neutralise_formula;

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
}
