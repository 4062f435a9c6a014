//! Kernel text addresses to `function+0xoff` through /proc/kallsyms.
//!
//! The file has ~200k lines; keeping it in memory would cost ~10 MB for the handful of
//! addresses a trace resolves. So addresses are resolved in one streaming pass per batch and
//! remembered.
use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader},
    path::PathBuf,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub offset: u64,
    /// Module in brackets in kallsyms (`bridge`), None for vmlinux.
    pub module: Option<String>,
}

impl std::fmt::Display for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+0x{:x}", self.name, self.offset)?;
        if let Some(m) = &self.module {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

pub struct Kallsyms {
    path: PathBuf,
    cache: HashMap<u64, Option<Symbol>>,
}

impl Default for Kallsyms {
    fn default() -> Self {
        Self::new("/proc/kallsyms")
    }
}

impl Kallsyms {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), cache: HashMap::new() }
    }

    /// Resolves `addr`; None when kallsyms hides addresses (kptr_restrict) or has no symbol.
    pub fn resolve(&mut self, addr: u64) -> Option<Symbol> {
        self.resolve_many(&[addr]);
        self.cache.get(&addr).cloned().flatten()
    }

    /// Resolves every address not yet known in a single pass over the file.
    pub fn resolve_many(&mut self, addrs: &[u64]) {
        let mut todo: Vec<u64> =
            addrs.iter().copied().filter(|a| *a != 0 && !self.cache.contains_key(a)).collect();
        if todo.is_empty() {
            return;
        }
        todo.sort_unstable();
        todo.dedup();
        // Best candidate so far for each address: the highest text symbol at or below it.
        let mut best: Vec<Option<(u64, Symbol)>> = vec![None; todo.len()];
        if let Ok(f) = File::open(&self.path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                let Some((start, sym)) = parse_line(&line) else { continue };
                for (i, a) in todo.iter().enumerate() {
                    if start <= *a && best[i].as_ref().is_none_or(|(s, _)| start > *s) {
                        best[i] = Some((start, sym.clone()));
                    }
                }
            }
        }
        for (a, b) in todo.into_iter().zip(best) {
            let sym = b.map(|(start, mut s)| {
                s.offset = a - start;
                s
            });
            self.cache.insert(a, sym);
        }
    }
}

/// `ffffffff81000000 T _stext [module]` → (address, symbol) for text symbols.
fn parse_line(line: &str) -> Option<(u64, Symbol)> {
    let mut it = line.split_whitespace();
    let addr = u64::from_str_radix(it.next()?, 16).ok()?;
    let kind = it.next()?;
    if addr == 0 || !matches!(kind, "T" | "t" | "W" | "w") {
        return None;
    }
    let name = it.next()?.to_string();
    let module = it.next().map(|m| m.trim_matches(|c| c == '[' || c == ']').to_string());
    Some((addr, Symbol { name, offset: 0, module }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn resolves_to_nearest_text_symbol_below() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "ffffffff81000000 T _stext").unwrap();
        writeln!(f, "ffffffff81001000 t nft_do_chain").unwrap();
        writeln!(f, "ffffffff81001800 D some_data").unwrap();
        writeln!(f, "ffffffff81002000 T br_forward\t[bridge]").unwrap();
        let mut k = Kallsyms::new(f.path());
        let s = k.resolve(0xffffffff81001a3c).unwrap();
        assert_eq!(s.name, "nft_do_chain");
        assert_eq!(s.offset, 0xa3c);
        assert_eq!(s.to_string(), "nft_do_chain+0xa3c");
        let s = k.resolve(0xffffffff81002004).unwrap();
        assert_eq!(s.module.as_deref(), Some("bridge"));
        assert_eq!(k.resolve(0x10), None);
    }
}
