//! Terminal styling for human output: colour only on a terminal, never with NO_COLOR (anstream
//! strips the escape codes otherwise).
use anstyle::{AnsiColor, Effects, Style};

pub const BOLD: Style = Style::new().effects(Effects::BOLD);
pub const DIM: Style = Style::new().effects(Effects::DIMMED);
pub const OK: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
pub const BAD: Style =
    Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red))).effects(Effects::BOLD);
pub const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
pub const FIX: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));

/// `text` wrapped in `style`'s escape codes.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// Writes to stdout through anstream, which drops colours when stdout is not a terminal or
/// NO_COLOR is set.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = anstream::stdout();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
