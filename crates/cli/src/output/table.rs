//! Tables for people: fitted to the terminal's width (long text cut with `…`, never wrapped;
//! columns dropped right to left when even the cut ones do not fit), coloured only when asked.
//!
//! Everything here is a pure function of the data and a [`Layout`], so the tests render tables
//! at fixed widths, times and colour settings without a terminal or a server.

use chrono::{DateTime, Utc};
use comfy_table::{Attribute, Cell as TableCell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Row, Table, Width, presets};
use unicode_truncate::UnicodeTruncateStr;
use unicode_width::UnicodeWidthStr;

/// Spaces between two columns.
const GAP: u16 = 2;

/// How a value should look, where colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    /// Less important: closed tickets, low priority, "never".
    Muted,
    Strong,
    /// Needs a look: new tickets.
    Accent,
    Good,
    /// Getting close: an SLA warning, high priority, an internal note.
    Warn,
    /// Gone wrong: an overdue SLA, urgent priority, an infected file.
    Bad,
}

/// One value of a table, with its tone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell { text: text.into(), tone }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, tone: Tone::Plain }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell { text: text.to_owned(), tone: Tone::Plain }
    }
}

/// How a column gives way when the table is wider than the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Shown whole (a number, a status), or dropped.
    Whole,
    /// Cut with `…` down to this many characters before columns are dropped (subjects, names).
    Shrink(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    pub fit: Fit,
    /// Only with `--wide` (ids, details scripts rather than people want).
    pub wide_only: bool,
    /// Numbers line up on the right.
    pub right: bool,
}

impl Column {
    pub const fn whole(header: &'static str) -> Column {
        Column { header, fit: Fit::Whole, wide_only: false, right: false }
    }

    pub const fn shrink(header: &'static str, min: u16) -> Column {
        Column { header, fit: Fit::Shrink(min), wide_only: false, right: false }
    }

    pub const fn number(header: &'static str) -> Column {
        Column { header, fit: Fit::Whole, wide_only: false, right: true }
    }

    /// A column shown only with `--wide`.
    pub const fn wide(self) -> Column {
        Column { wide_only: true, ..self }
    }
}

/// Where times are shown in: the machine's own zone for people, UTC in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Local,
    #[cfg_attr(not(test), expect(dead_code, reason = "tests render in UTC so their snapshots hold anywhere"))]
    Utc,
}

/// Everything a rendering depends on besides the data.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The terminal's width; `None` (a pipe without `COLUMNS`) leaves lines as long as they are.
    pub width: Option<u16>,
    pub colour: bool,
    /// Every column, nothing cut or dropped.
    pub wide: bool,
    /// What "5m ago" counts from.
    pub now: DateTime<Utc>,
    pub zone: Zone,
}

impl Layout {
    /// The width tables must fit in, unless `--wide` asked for everything.
    fn fit_width(&self) -> Option<u16> {
        if self.wide { None } else { self.width }
    }
}

/// Renders rows under their column headers, fitted to the layout. Rows shorter than the
/// columns get empty cells.
pub fn render_table(columns: &[Column], rows: &[Vec<Cell>], layout: &Layout) -> String {
    let mut shown: Vec<usize> = (0..columns.len()).filter(|&i| layout.wide || !columns[i].wide_only).collect();
    let natural: Vec<u16> = (0..columns.len())
        .map(|i| {
            let cells = rows.iter().filter_map(|row| row.get(i)).map(|cell| shown_width(&cell.text));
            cells.chain([columns[i].header.width()]).max().unwrap_or(0).min(u16::MAX as usize) as u16
        })
        .collect();
    let fit = layout.fit_width();
    // With a width to fit: every shown column's width, chosen here (comfy-table then cuts each
    // cell to it). Without one: every cell whole.
    let widths: Option<Vec<u16>> = fit.map(|width| {
        let narrowest = |i: usize| match columns[i].fit {
            Fit::Whole => natural[i],
            Fit::Shrink(min) => natural[i].min(min),
        };
        let needed = |shown: &[usize]| -> u32 {
            shown.iter().map(|&i| u32::from(narrowest(i))).sum::<u32>() + u32::from(GAP) * (shown.len().saturating_sub(1) as u32)
        };
        // Drop the rightmost column until the narrowest table fits.
        while shown.len() > 1 && needed(&shown) > u32::from(width) {
            shown.pop();
        }
        let mut widths: Vec<u16> = (0..columns.len()).map(narrowest).collect();
        if let [only] = shown[..] {
            // A lone column wider than the terminal is cut like any other.
            widths[only] = widths[only].min(width);
        }
        share_out(&mut widths, &natural, &shown, columns, u32::from(width).saturating_sub(needed(&shown)));
        widths
    });
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    if layout.colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    match fit {
        Some(width) => {
            table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    let mut header = Row::from(columns.iter().map(|column| {
        let header = TableCell::new(column.header.to_uppercase());
        if layout.colour { header.add_attribute(Attribute::Bold) } else { header }
    }));
    header.max_height(1);
    table.set_header(header);
    for row in rows {
        let mut cells: Vec<TableCell> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| match &widths {
                Some(widths) => styled(&Cell { text: cut(&cell.text, widths[i]), tone: cell.tone }, layout.colour),
                None => styled(cell, layout.colour),
            })
            .collect();
        cells.resize_with(columns.len(), || TableCell::new(""));
        let mut row = Row::from(cells);
        // Never wrap: a cell too long for its column ends in `…` on its first line.
        row.max_height(1);
        table.add_row(row);
    }
    let last = shown.last().copied();
    for (i, column) in columns.iter().enumerate() {
        let target = table.column_mut(i).expect("one column per header");
        if !shown.contains(&i) {
            target.set_constraint(ColumnConstraint::Hidden);
            continue;
        }
        let gap = if Some(i) == last { 0 } else { GAP };
        target.set_padding((0, gap));
        if column.right {
            target.set_cell_alignment(CellAlignment::Right);
        }
        if let Some(widths) = &widths {
            // comfy-table's widths include the padding.
            target.set_constraint(ColumnConstraint::Absolute(Width::Fixed(widths[i] + gap)));
        }
    }
    table.trim_fmt()
}

/// One record as `Label  value` lines (the columns become the labels), for `show` and for what
/// a command just created or changed.
pub fn render_record(columns: &[Column], row: &[Cell], layout: &Layout) -> String {
    render_record_with(columns, row, &[], layout)
}

/// [`render_record`] with more labelled values after the columns (a team's members).
pub fn render_record_with(columns: &[Column], row: &[Cell], more: &[(&str, Cell)], layout: &Layout) -> String {
    let shown: Vec<(&Column, &Cell)> = columns.iter().zip(row).filter(|(column, _)| layout.wide || !column.wide_only).collect();
    let labels: Vec<String> = shown.iter().map(|(column, _)| capitalise(column.header)).collect();
    let pairs = labels.iter().map(String::as_str).zip(shown.iter().map(|(_, cell)| *cell));
    fields(pairs.chain(more.iter().map(|(label, cell)| (*label, cell))), layout)
}

/// `Label  value` lines with the labels in one column; empty values are left out.
pub fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a Cell)>, layout: &Layout) -> String {
    let pairs: Vec<(&str, &Cell)> = pairs.into_iter().filter(|(_, cell)| !cell.text.is_empty()).collect();
    let label_width = pairs.iter().map(|(label, _)| label.width()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, cell) in pairs {
        let padding = " ".repeat(label_width - label.width() + GAP as usize);
        out.push_str(&paint(label, Tone::Muted, layout.colour));
        out.push_str(&padding);
        // Each line of the value fits beside the labels; continuation lines line up under the
        // first.
        let room = layout.fit_width().map(|width| width.saturating_sub((label_width + GAP as usize) as u16).max(8));
        let indent = format!("\n{}", " ".repeat(label_width + GAP as usize));
        let lines: Vec<String> = cell.text.lines().map(|line| room.map_or_else(|| line.to_owned(), |room| cut(line, room))).collect();
        out.push_str(&paint(&lines.join(&indent), cell.tone, layout.colour));
        out.push('\n');
    }
    out
}

/// The text in its tone's colour, or as it is when colour is off.
pub fn paint(text: &str, tone: Tone, colour: bool) -> String {
    if !colour || tone == Tone::Plain {
        return text.to_owned();
    }
    let style = match tone {
        Tone::Plain => anstyle::Style::new(),
        Tone::Muted => anstyle::Style::new().dimmed(),
        Tone::Strong => anstyle::Style::new().bold(),
        Tone::Accent => anstyle::AnsiColor::Cyan.on_default(),
        Tone::Good => anstyle::AnsiColor::Green.on_default(),
        Tone::Warn => anstyle::AnsiColor::Yellow.on_default(),
        Tone::Bad => anstyle::AnsiColor::Red.on_default().bold(),
    };
    format!("{style}{text}{style:#}")
}

/// Gives the room left over to the columns that were cut, until each is whole or the room is
/// used up: in equal shares, the first (the subject of a ticket, the name of a user) a double
/// one.
fn share_out(widths: &mut [u16], natural: &[u16], shown: &[usize], columns: &[Column], mut room: u32) {
    let cut = |widths: &[u16]| -> Vec<usize> {
        shown.iter().copied().filter(|&i| matches!(columns[i].fit, Fit::Shrink(_)) && widths[i] < natural[i]).collect()
    };
    loop {
        let wanting = cut(widths);
        if wanting.is_empty() || room == 0 {
            return;
        }
        let weight = |position: usize| if position == 0 { 2 } else { 1 };
        let total: u32 = (0..wanting.len()).map(weight).sum();
        let unit = (room / total).max(1);
        for (position, &i) in wanting.iter().enumerate() {
            let grant = (unit * weight(position)).min(u32::from(natural[i] - widths[i])).min(room);
            widths[i] += grant as u16;
            room -= grant;
        }
    }
}

fn styled(cell: &Cell, colour: bool) -> TableCell {
    let plain = TableCell::new(&cell.text);
    if !colour {
        return plain;
    }
    match cell.tone {
        Tone::Plain => plain,
        Tone::Muted => plain.add_attribute(Attribute::Dim),
        Tone::Strong => plain.add_attribute(Attribute::Bold),
        Tone::Accent => plain.fg(Color::Cyan),
        Tone::Good => plain.fg(Color::Green),
        Tone::Warn => plain.fg(Color::Yellow),
        Tone::Bad => plain.fg(Color::Red).add_attribute(Attribute::Bold),
    }
}

/// The text's first line, cut to `width` columns with `…` when it is longer (or has more
/// lines): by characters, not words, so a cut name still shows as much as fits.
pub fn cut(text: &str, width: u16) -> String {
    let width = usize::from(width);
    let first = text.lines().next().unwrap_or_default();
    if first.width() <= width && !text.trim_end().contains('\n') {
        return first.to_owned();
    }
    let (kept, _) = first.unicode_truncate(width.saturating_sub(1));
    format!("{}…", kept.trim_end())
}

/// A table shows a cell's first line, with `…` when more follow.
fn shown_width(text: &str) -> usize {
    let first = text.lines().next().unwrap_or_default().width();
    if text.trim_end().contains('\n') { first + 1 } else { first }
}

fn capitalise(header: &str) -> String {
    let mut chars = header.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
