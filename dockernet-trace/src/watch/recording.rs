//! Reading a `watch --record` file line by line, never all at once: `report` keeps only its
//! totals, so a recording of any length is read in bounded memory. A last line that was cut
//! (a killed watch, a full disk: no newline, and JSON that stops mid-way) ends the reading
//! and is noted, so the whole lines before it are still reported.
use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::line::{ChangeLine, EventLine, Line, SummaryLine, parse_timestamp};
use crate::error::{Error, Result};

/// One whole line of a recording, with its time where it has one.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Event(SystemTime, Box<EventLine>),
    Change(SystemTime, ChangeLine),
    Summary(SummaryLine),
}

pub struct Recording<R> {
    path: PathBuf,
    reader: R,
    buf: Vec<u8>,
    /// Number of the line last read (1-based).
    line: usize,
    /// The number of the last line, when it was cut.
    pub cut_line: Option<usize>,
}

impl Recording<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
        Ok(Self::new(path, BufReader::with_capacity(64 * 1024, f)))
    }
}

impl<R: BufRead> Recording<R> {
    pub fn new(path: &Path, reader: R) -> Self {
        Self { path: path.to_path_buf(), reader, buf: Vec::new(), line: 0, cut_line: None }
    }

    fn bad(&self, why: String) -> Error {
        Error::Usage(format!(
            "{} is not a `watch --record` file: line {}: {why}",
            self.path.display(),
            self.line
        ))
    }

    /// The next whole, non-empty line; None at the end (or at a cut last line).
    fn next_text(&mut self) -> Result<Option<&str>> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", self.path.display())))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let whole = self.buf.ends_with(b"\n");
            if !whole && is_cut_json(&self.buf) {
                self.cut_line = Some(self.line);
                return Ok(None);
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return match std::str::from_utf8(&self.buf) {
                Ok(text) => Ok(Some(text.trim_end())),
                Err(_) => Err(self.bad("not UTF-8 text".into())),
            };
        }
    }

    fn next_item(&mut self) -> Result<Option<Item>> {
        let Some(text) = self.next_text()? else { return Ok(None) };
        let parsed = Line::parse(text);
        let time = |t: &str| parse_timestamp(t).ok_or_else(|| format!("bad time {t:?}"));
        let item = match parsed {
            Ok(Line::Event(e)) => time(&e.t).map(|t| Item::Event(t, e)),
            Ok(Line::Change(c)) => time(&c.t).map(|t| Item::Change(t, c)),
            Ok(Line::Summary(s)) => Ok(Item::Summary(s)),
            Err(e) => Err(e),
        };
        item.map(Some).map_err(|why| self.bad(why))
    }
}

/// JSON that stops before its end: what a write cut short leaves.
fn is_cut_json(bytes: &[u8]) -> bool {
    matches!(serde_json::from_slice::<serde::de::IgnoredAny>(bytes), Err(e) if e.is_eof())
}

impl<R: BufRead> Iterator for Recording<R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DROP: &str = r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"drop","src":{"ip":"172.17.0.2","port":null,"container":"nacos","network":"bridge"},"dst":{"ip":"172.18.0.2","port":null,"container":"mysql","network":"heima-net"},"proto":"icmp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"network_isolation","rule":null,"count":3}"#;

    fn read(text: &str) -> (Vec<Result<Item>>, Option<usize>) {
        let mut r = Recording::new(Path::new("rec.jsonl"), text.as_bytes());
        let items: Vec<Result<Item>> = r.by_ref().collect();
        (items, r.cut_line)
    }

    #[test]
    fn a_cut_last_line_ends_the_reading_without_error() {
        for cut in [20, 100, DROP.len() - 1] {
            let text = format!("{DROP}\n\n{DROP}\n{}", &DROP[..cut]);
            let (items, cut_line) = read(&text);
            assert_eq!(items.len(), 2, "cut at {cut}");
            assert!(items.iter().all(|i| matches!(i, Ok(Item::Event(_, e)) if e.count == 3)));
            assert_eq!(cut_line, Some(4));
        }
    }

    #[test]
    fn whole_lines_are_never_taken_for_cut_ones() {
        let (items, cut) = read(&format!("{DROP}\n{DROP}"));
        assert_eq!((items.len(), cut), (2, None), "a complete last line without newline is whole");
        let (items, cut) = read(&format!("{DROP}\n{}\n", &DROP[..50]));
        assert_eq!(cut, None);
        let e = items[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not JSON"), "a cut line in the middle is an error: {e}");
        let (items, _) = read(&format!("{DROP}\ngarbage"));
        assert!(items[1].as_ref().unwrap_err().to_string().contains("line 2"), "garbage is not a cut line");
    }
}
