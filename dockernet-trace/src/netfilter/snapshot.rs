//! Lists every table of the current network namespace, each rule once.
//!
//! Sources, in this order:
//! 1. `iptables-save -c` (whichever backend `iptables` points to: the active one), then
//!    whichever of `iptables-legacy-save -c` and `iptables-nft-save -c` is the other backend
//!    (the plain command is the same as one of the two); the same for ip6tables.
//! 2. nft, without the tables iptables-nft made: those appear in nft too, with their matches
//!    hidden in `xt` expressions nft cannot print, so they are taken from iptables-nft-save
//!    instead. The tables are learnt from `nft -j list chains` and each other one is listed
//!    with `nft -j list table`; without iptables-nft, `nft -j list ruleset` lists them all.
//!
//! Which nft tables are skipped: exactly those (family and name) that an iptables-nft listing
//! returned, so nothing is lost. When no iptables-nft listing could be made (binary missing),
//! nothing duplicates the nft view and every table is kept; one that looks like iptables-nft's
//! (an `ip`/`ip6` table named filter, nat, mangle, raw or security, with an `xt` expression or
//! every base chain named after its hook in capitals, `FORWARD` on hook forward, which native
//! nft rule sets do not do) gets a note saying its rules are shown as nft prints them.
//!
//! Missing binaries are not errors; commands run in the caller's network namespace. A
//! listing that cannot be read (or only in part) is a gap of the rule set
//! ([`Ruleset::gaps`]): the evaluator then never calls a rule exact.
//!
//! [`Listings`] runs the commands and keeps what they printed; parsing it is a step of its own
//! (a watch reads the counters as it starts, and parses them once its programs are loaded).
//!
//! `nft -j` lists every rule's handle, so the one listing serves both the rules and the
//! `nft delete rule ... handle N` a fix names.
use std::{collections::HashSet, io::ErrorKind, process::Command};

use super::{
    NetfilterError,
    iptables::{backend_of, parse_save, save_table_names},
    model::{Family, Note, Ruleset, Source, Table},
    nft::parse_nft_listing,
};

/// What running one command gave.
#[derive(Clone, Debug)]
pub enum Outcome {
    NotFound,
    Failed(String),
    Output(String),
}

/// Runs a program; replaced by canned outputs in tests.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str]) -> Outcome;
}

/// Runs programs from PATH (and /usr/sbin, /sbin, which root's PATH may lack under sudo).
pub struct System;

impl Runner for System {
    fn run(&self, program: &str, args: &[&str]) -> Outcome {
        let mut last = Outcome::NotFound;
        for dir in ["", "/usr/sbin/", "/sbin/"] {
            let out = Command::new(format!("{dir}{program}")).args(args).env("LC_ALL", "C").output();
            last = match out {
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => Outcome::Failed(e.to_string()),
                // Valid UTF-8 (the rule), kept without a copy: megabytes with thousands of rules.
                Ok(o) if o.status.success() => Outcome::Output(
                    String::from_utf8(o.stdout)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                ),
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
                    Outcome::Failed(if err.is_empty() { o.status.to_string() } else { err })
                }
            };
            break;
        }
        last
    }
}

/// Snapshot of the current network namespace's rules and counters.
pub fn snapshot() -> Result<Ruleset, NetfilterError> {
    snapshot_with(&System)
}

const XTABLES_NAMES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

pub fn snapshot_with(runner: &dyn Runner) -> Result<Ruleset, NetfilterError> {
    Listings::read(runner).parse()
}

/// The listings a snapshot is made of, as the commands printed them. Read when the rules
/// must be seen (a watch's counters as it starts), parsed when it suits: the parsed rules
/// take several times the text's memory, and the programs' loading must not hold both.
pub struct Listings {
    /// One per iptables backend and family listed.
    iptables: Vec<SaveListing>,
    /// nft's listings and notes, in the order they came.
    nft: Vec<NftPart>,
    /// Whether any iptables-nft listing was made (else the fallback rule applies).
    saw_iptables_nft: bool,
    ran: usize,
    failures: Vec<(String, String)>,
}

/// What one `<tool>-save -c` printed.
struct SaveListing {
    family: Family,
    command: String,
    legacy: bool,
    text: String,
}

enum NftPart {
    /// A listing, of the one table given (else of every table).
    Listing(String, Option<(Family, String)>),
    Note(Note),
}

impl Listings {
    /// Runs the listing commands (see the module documentation).
    pub fn read(runner: &dyn Runner) -> Self {
        let mut l =
            Listings { iptables: vec![], nft: vec![], saw_iptables_nft: false, ran: 0, failures: vec![] };
        let mut iptables_nft = HashSet::new();
        l.read_iptables(runner, Family::Ip, "iptables", &mut iptables_nft);
        l.read_iptables(runner, Family::Ip6, "ip6tables", &mut iptables_nft);
        l.read_nft(runner, &iptables_nft);
        l
    }

    /// The rule set the listings hold.
    pub fn parse(self) -> Result<Ruleset, NetfilterError> {
        let mut ruleset = Ruleset::default();
        if self.ran == 0 {
            if let Some((command, reason)) = self.failures.into_iter().next() {
                return Err(NetfilterError::Command { command, reason });
            }
            ruleset.notes.push("neither iptables nor nft is installed".into());
            return Ok(ruleset);
        }
        for l in &self.iptables {
            match parse_save(&l.text, l.family.clone()) {
                Ok(tables) => ruleset.tables.extend(tables.into_iter().map(|mut t| {
                    t.source = Source::Iptables { legacy: l.legacy };
                    t
                })),
                Err(e) => ruleset.notes.push(Note::gap(format!("{}: {e}", l.command))),
            }
        }
        for part in self.nft {
            match part {
                NftPart::Listing(json, only) => {
                    add_nft_listing(&mut ruleset, &json, only.as_ref(), self.saw_iptables_nft)
                }
                NftPart::Note(n) => ruleset.notes.push(n),
            }
        }
        for (command, reason) in self.failures {
            // The active backends' listings: without them rules the kernel runs are unknown.
            let gap = command.starts_with("nft ") || command.starts_with("iptables-save ");
            ruleset.notes.push(Note { text: format!("`{command}` failed: {reason}"), gap });
        }
        Ok(ruleset)
    }

    fn run(&mut self, runner: &dyn Runner, program: &str, args: &[&str]) -> Option<String> {
        match runner.run(program, args) {
            Outcome::NotFound => None,
            Outcome::Failed(reason) => {
                self.failures.push((format!("{program} {}", args.join(" ")), reason));
                None
            }
            Outcome::Output(text) => {
                self.ran += 1;
                Some(text)
            }
        }
    }

    /// Runs `<tool>-save`, `<tool>-legacy-save`, `<tool>-nft-save` and keeps one listing per
    /// backend, the active backend's first; the tables iptables-nft listed go to
    /// `iptables_nft`.
    fn read_iptables(
        &mut self,
        runner: &dyn Runner,
        family: Family,
        tool: &str,
        iptables_nft: &mut HashSet<(Family, String)>,
    ) {
        let mut done: Vec<bool> = vec![]; // `legacy` values already listed
        let commands = [
            (format!("{tool}-save"), None),
            (format!("{tool}-legacy-save"), Some(true)),
            (format!("{tool}-nft-save"), Some(false)),
        ];
        for (program, known) in commands {
            if known.is_some_and(|l| done.contains(&l)) {
                // The plain command was this backend: the same listing again (megabytes with
                // thousands of rules) would only be skipped.
                continue;
            }
            let Some(text) = self.run(runner, &program, &["-c"]) else { continue };
            let legacy = match (known, backend_of(&text)) {
                (Some(l), _) => l,
                (None, Some(Source::Iptables { legacy })) => legacy,
                _ => continue, // no header: no tables in the active backend
            };
            if done.contains(&legacy) {
                continue;
            }
            if !legacy {
                self.saw_iptables_nft = true;
                let names = save_table_names(&text);
                iptables_nft.extend(names.into_iter().map(|t| (family.clone(), t.to_string())));
            }
            done.push(legacy);
            self.iptables.push(SaveListing { family: family.clone(), command: program, legacy, text });
        }
    }

    fn read_nft(&mut self, runner: &dyn Runner, iptables_nft: &HashSet<(Family, String)>) {
        if !self.saw_iptables_nft {
            // Nothing else lists any table: every one comes from nft.
            if let Some(json) = self.run(runner, "nft", &["-j", "list", "ruleset"]) {
                self.nft.push(NftPart::Listing(json, None));
            }
            return;
        }
        // Only the tables iptables-nft did not list: with thousands of iptables rules, the
        // whole ruleset as JSON is megabytes that nft and we would read only to skip. `list
        // chains` is the cheap way to learn the tables (nft 1.0's `list tables` fetches every
        // rule); a table without chains has no rule to list.
        let Some(json) = self.run(runner, "nft", &["-j", "list", "chains"]) else { return };
        // The parser gathers the chains into their tables: one entry per table.
        let names: Vec<(Family, String)> = match parse_nft_listing(&json) {
            Ok(listing) => listing.tables.into_iter().map(|t| (t.family, t.name)).collect(),
            Err(e) => return self.nft.push(NftPart::Note(Note::gap(format!("nft: {e}")))),
        };
        for (family, name) in names {
            if iptables_nft.contains(&(family.clone(), name.clone())) {
                self.nft.push(NftPart::Note(Note::from(format!(
                    "nft table {family} {name} is iptables-nft's; its rules are listed from iptables-nft-save"
                ))));
                continue;
            }
            let family_word = family.to_string();
            if let Some(json) = self.run(runner, "nft", &["-j", "list", "table", &family_word, &name]) {
                self.nft.push(NftPart::Listing(json, Some((family, name))));
            }
        }
    }
}

/// Adds the tables of one nft listing (only the table `only`, when given).
fn add_nft_listing(
    ruleset: &mut Ruleset,
    json: &str,
    only: Option<&(Family, String)>,
    saw_iptables_nft: bool,
) {
    let listing = match parse_nft_listing(json) {
        Ok(l) => l,
        Err(e) => return ruleset.notes.push(Note::gap(format!("nft: {e}"))),
    };
    ruleset.notes.extend(listing.gaps.into_iter().map(Note::gap));
    for mut t in listing.tables {
        if only.is_some_and(|(f, n)| *f != t.family || *n != t.name) {
            continue;
        }
        if !saw_iptables_nft && looks_like_iptables_nft(&t) {
            let note = format!(
                "nft table {} {} looks made by iptables-nft, which is not installed here: \
                 its rules are shown as nft prints them",
                t.family, t.name
            );
            t.notes.push(note.clone());
            ruleset.notes.push(Note::from(note));
        }
        ruleset.tables.push(t);
    }
}

/// The shape of an iptables-nft table (see the module documentation).
pub fn looks_like_iptables_nft(t: &Table) -> bool {
    if !matches!(t.family, Family::Ip | Family::Ip6) || !XTABLES_NAMES.contains(&t.name.as_str()) {
        return false;
    }
    let has_xt = t
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .any(|r| r.matches.other.iter().any(|o| o.text.starts_with("xt ")));
    let base: Vec<_> = t.chains.iter().filter(|c| c.is_base()).collect();
    let iptables_names = !base.is_empty()
        && base.iter().all(|c| c.hook.as_deref().map(str::to_ascii_uppercase) == Some(c.name.clone()));
    has_xt || iptables_names
}
