//! Terminal output of the API verbs: aligned tables for `ls`, pretty JSON for `inspect`, and short
//! renderings of timestamps, states and JSON values.
//!
//! Writes ignore a closed stdout (`weir work-pool ls | head -1`): the verb then ends quietly instead
//! of panicking the way `println!` would.

use serde::Serialize;
use std::io::Write;
use weir_core::{State, Timestamp};

/// Writes one line to stdout.
pub fn line(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_ref().as_bytes());
    let _ = out.write_all(b"\n");
}

/// Writes one line to stderr: a note for the person at the terminal, kept out of what scripts
/// capture from stdout.
pub fn note(text: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_ref().as_bytes());
    let _ = err.write_all(b"\n");
}

/// Writes `value` as indented JSON.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    line(serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table printed with its columns aligned, two spaces apart.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, without trailing spaces.
    pub fn render(&self) -> String {
        let width = |cell: &str| cell.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut text = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut out = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
            text.push_str(out.trim_end());
            text.push('\n');
        }
        text
    }

    pub fn print(&self) {
        let text = self.render();
        line(text.trim_end_matches('\n'));
    }
}

/// Indented `key: value` lines with the values aligned.
pub fn details(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        line(format!(
            "  {:<width$}  {value}",
            format!("{key}:"),
            width = width + 1
        ));
    }
}

/// `2026-11-27 15:36:50` (UTC).
pub fn when(timestamp: Timestamp) -> String {
    let text = timestamp.to_canonical();
    text.get(..19).unwrap_or(&text).replacen('T', " ", 1)
}

/// A state's name ("Late", "Completed"...), or `-`.
pub fn state_name(state: Option<&State>) -> String {
    state.map_or_else(|| "-".to_owned(), |s| s.display_name().to_owned())
}

/// An optional number, or `-`.
pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Compact JSON cut to `max` characters (with `…` when cut).
pub fn short_json(value: &serde_json::Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new(&["NAME", "TYPE"]);
        table.row(vec!["a-long-name".into(), "process".into()]);
        table.row(vec!["b".into(), "kubernetes".into()]);
        assert_eq!(
            table.render(),
            "NAME         TYPE\na-long-name  process\nb            kubernetes\n"
        );
    }

    #[test]
    fn long_json_is_cut() {
        let value = serde_json::json!({"a": "0123456789"});
        assert_eq!(short_json(&value, 100), r#"{"a":"0123456789"}"#);
        assert_eq!(short_json(&value, 8), r#"{"a":"0…"#);
    }
}
