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
//! `nft -j` lists every rule's handle, so the one listing serves both the rules and the
//! `nft delete rule ... handle N` a fix names.
use std::{collections::HashSet, io::ErrorKind, process::Command};

use super::{
    NetfilterError,
    iptables::{backend_of, parse_save},
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

struct Collected {
    ruleset: Ruleset,
    /// (family, table) listed by an iptables-nft command.
    iptables_nft: HashSet<(Family, String)>,
    /// Whether any iptables-nft listing was made (else the fallback rule applies).
    saw_iptables_nft: bool,
    ran: usize,
    failures: Vec<(String, String)>,
}

pub fn snapshot_with(runner: &dyn Runner) -> Result<Ruleset, NetfilterError> {
    let mut c = Collected {
        ruleset: Ruleset::default(),
        iptables_nft: HashSet::new(),
        saw_iptables_nft: false,
        ran: 0,
        failures: vec![],
    };
    collect_iptables(runner, &mut c, Family::Ip, "iptables");
    collect_iptables(runner, &mut c, Family::Ip6, "ip6tables");
    collect_nft(runner, &mut c);
    if c.ran == 0 {
        if let Some((command, reason)) = c.failures.into_iter().next() {
            return Err(NetfilterError::Command { command, reason });
        }
        c.ruleset.notes.push("neither iptables nor nft is installed".into());
        return Ok(c.ruleset);
    }
    for (command, reason) in c.failures {
        // The active backends' listings: without them rules the kernel runs are unknown.
        let gap = command.starts_with("nft ") || command.starts_with("iptables-save ");
        c.ruleset.notes.push(Note { text: format!("`{command}` failed: {reason}"), gap });
    }
    Ok(c.ruleset)
}

fn run(runner: &dyn Runner, c: &mut Collected, program: &str, args: &[&str]) -> Option<String> {
    match runner.run(program, args) {
        Outcome::NotFound => None,
        Outcome::Failed(reason) => {
            c.failures.push((format!("{program} {}", args.join(" ")), reason));
            None
        }
        Outcome::Output(text) => {
            c.ran += 1;
            Some(text)
        }
    }
}

/// Runs `<tool>-save`, `<tool>-legacy-save`, `<tool>-nft-save` and keeps one listing per
/// backend, the active backend's first.
fn collect_iptables(runner: &dyn Runner, c: &mut Collected, family: Family, tool: &str) {
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
        let Some(text) = run(runner, c, &program, &["-c"]) else { continue };
        let legacy = match (known, backend_of(&text)) {
            (Some(l), _) => l,
            (None, Some(Source::Iptables { legacy })) => legacy,
            _ => continue, // no header: no tables in the active backend
        };
        if !legacy {
            c.saw_iptables_nft = true;
        }
        if done.contains(&legacy) {
            continue;
        }
        done.push(legacy);
        match parse_save(&text, family.clone()) {
            Ok(tables) => {
                for mut t in tables {
                    t.source = Source::Iptables { legacy };
                    if !legacy {
                        c.iptables_nft.insert((t.family.clone(), t.name.clone()));
                    }
                    c.ruleset.tables.push(t);
                }
            }
            Err(e) => c.ruleset.notes.push(Note::gap(format!("{program}: {e}"))),
        }
    }
}

fn collect_nft(runner: &dyn Runner, c: &mut Collected) {
    if !c.saw_iptables_nft {
        // Nothing else lists any table: every one comes from nft.
        if let Some(json) = run(runner, c, "nft", &["-j", "list", "ruleset"]) {
            add_nft_listing(c, &json, None);
        }
        return;
    }
    // Only the tables iptables-nft did not list: with thousands of iptables rules, the whole
    // ruleset as JSON is megabytes that nft and we would read only to skip. `list chains` is
    // the cheap way to learn the tables (nft 1.0's `list tables` fetches every rule); a table
    // without chains has no rule to list.
    let Some(json) = run(runner, c, "nft", &["-j", "list", "chains"]) else { return };
    // The parser gathers the chains into their tables: one entry per table.
    let names: Vec<(Family, String)> = match parse_nft_listing(&json) {
        Ok(listing) => listing.tables.into_iter().map(|t| (t.family, t.name)).collect(),
        Err(e) => return c.ruleset.notes.push(Note::gap(format!("nft: {e}"))),
    };
    for (family, name) in names {
        if c.iptables_nft.contains(&(family.clone(), name.clone())) {
            c.ruleset.notes.push(Note::from(format!(
                "nft table {family} {name} is iptables-nft's; its rules are listed from iptables-nft-save"
            )));
            continue;
        }
        let family_word = family.to_string();
        if let Some(json) = run(runner, c, "nft", &["-j", "list", "table", &family_word, &name]) {
            add_nft_listing(c, &json, Some((&family, &name)));
        }
    }
}

/// Adds the tables of one nft listing (only the table `only`, when given).
fn add_nft_listing(c: &mut Collected, json: &str, only: Option<(&Family, &str)>) {
    let listing = match parse_nft_listing(json) {
        Ok(l) => l,
        Err(e) => return c.ruleset.notes.push(Note::gap(format!("nft: {e}"))),
    };
    c.ruleset.notes.extend(listing.gaps.into_iter().map(Note::gap));
    for mut t in listing.tables {
        if only.is_some_and(|(f, n)| *f != t.family || n != t.name) {
            continue;
        }
        if !c.saw_iptables_nft && looks_like_iptables_nft(&t) {
            let note = format!(
                "nft table {} {} looks made by iptables-nft, which is not installed here: \
                 its rules are shown as nft prints them",
                t.family, t.name
            );
            t.notes.push(note.clone());
            c.ruleset.notes.push(Note::from(note));
        }
        c.ruleset.tables.push(t);
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
