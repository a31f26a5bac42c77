//! How answers are shown: aligned tables for people, the API's JSON for
//! scripts (`--json`), colour only on a terminal (anstream strips it elsewhere).

use anstyle::{AnsiColor, Style};
use clap::Args;
use comfy_table::{Table, presets};
use serde_json::Value;

use super::client::{CliResult, Client};

pub const BOLD: Style = Style::new().bold();
pub const GREEN: Style = AnsiColor::Green.on_default();
pub const RED: Style = AnsiColor::Red.on_default();
pub const DIM: Style = Style::new().dimmed();

/// Paging of list commands.
#[derive(Args, Debug, Clone, Default)]
pub struct Paging {
    /// How many to show.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Where to start: the iterator a previous page ended with.
    #[arg(long)]
    pub iterator: Option<String>,
    /// Every page, one after the other.
    #[arg(long, conflicts_with = "iterator")]
    pub all: bool,
}

/// A column: its title and how to read it from a row.
pub type Column = (&'static str, fn(&Value) -> String);

/// Lists a resource page by page and prints it: a table of `columns`, or the
/// API's list document (with `--all`, one document holding every page).
pub async fn list(
    client: &Client,
    segments: &[&str],
    mut query: Vec<(&str, String)>,
    paging: &Paging,
    json: bool,
    columns: &[Column],
) -> CliResult<()> {
    if let Some(limit) = paging.limit {
        query.push(("limit", limit.to_string()));
    }
    let mut iterator = paging.iterator.clone();
    let mut rows = Vec::new();
    let last = loop {
        let mut q = query.clone();
        if let Some(it) = &iterator {
            q.push(("iterator", it.clone()));
        }
        let page = client.get(segments, &q).await?;
        rows.extend(page["data"].as_array().cloned().unwrap_or_default());
        let done = page["done"].as_bool().unwrap_or(true);
        iterator = page["iterator"].as_str().map(str::to_owned);
        if !paging.all || done || iterator.is_none() {
            break page;
        }
    };
    if json {
        let mut doc = last;
        doc["data"] = Value::Array(rows);
        return print_json(&doc);
    }
    print_rows(columns, &rows);
    if !last["done"].as_bool().unwrap_or(true)
        && let Some(it) = last["iterator"].as_str()
    {
        anstream::println!("{DIM}more: --iterator {it} (or --all){DIM:#}");
    }
    Ok(())
}

/// Prints rows as a table of `columns`.
pub fn print_rows(columns: &[Column], rows: &[Value]) {
    if rows.is_empty() {
        anstream::println!("{DIM}(none){DIM:#}");
        return;
    }
    let mut t = table(columns.iter().map(|(title, _)| *title));
    for row in rows {
        t.add_row(columns.iter().map(|(_, cell)| cell(row)));
    }
    anstream::println!("{t}");
}

/// Prints one object: its JSON, or a two-column table of its fields.
pub fn show(value: &Value, json: bool) -> CliResult<()> {
    if json {
        return print_json(value);
    }
    let Some(fields) = value.as_object() else {
        return print_json(value);
    };
    let mut t = table(["FIELD", "VALUE"]);
    for (k, v) in fields {
        t.add_row([k.clone(), text(v)]);
    }
    anstream::println!("{t}");
    Ok(())
}

pub fn print_json(value: &Value) -> CliResult<()> {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON serialises"));
    Ok(())
}

/// A table without borders, its columns aligned and titled.
fn table<'a>(titles: impl IntoIterator<Item = &'a str>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(titles);
    t
}

/// A field as a table cell: strings bare, absent ones empty, the rest as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// A cell reading one field.
pub fn field(row: &Value, name: &str) -> String {
    text(&row[name])
}
