//! The ruleset evaluator: given a packet as the kernel saw it at a hook, walk every base chain
//! registered there in priority order, across iptables tables (either backend) and native nft
//! tables of the packet's family, through jumps, gotos, returns, policies, sets and verdict
//! maps, and say what decided the packet's fate.
//!
//! Whatever the evaluator does not understand (an expression, a set element, a fact about the
//! packet the caller does not know) makes a rule "may match": the walk follows both ways, so
//! the answer is the rule that decided ([`Decision::Exact`]) or the rules that may have, ranked
//! ([`Decision::Candidates`]); never a silent miss, never a wrong "exact". Rules that could not
//! be read, and listings that could not (or only in part), are said
//! ([`Evaluation::unreadable`], [`Evaluation::gaps`]).
//!
//! ```ignore
//! let ev = Evaluator::new(&ruleset);
//! let p = Packet::tcp(ctr_ip, 40000, host_ip, 3306).iif("docker0").to_local(true);
//! match ev.evaluate(Hook::Input, &p).decision() {
//!     Decision::Exact(o) if o.fate.stops() => println!("{}: {}", o.by.unwrap(), ...),
//!     ...
//! }
//! ```
mod fit;
mod hooks;
mod lookup;
mod named;
mod outcome;
mod packet;
mod walk;

pub use named::{Action, NamedRule};
pub use outcome::{Assumption, Decision, Evaluation, Fate, Outcome, Step};
pub use packet::{CtState, Hook, Iface, L4, Layer, Packet};

use hooks::{base_chains, before_conntrack, is_nat};
use walk::{Branch, End, Ending, Loc, Walker};

use super::model::Ruleset;

/// Rule visits one evaluation may make before it stops and says the walk was too long.
const MAX_STEPS: usize = 200_000;

/// Evaluates packets against one rule set.
pub struct Evaluator<'a> {
    rs: &'a Ruleset,
}

impl<'a> Evaluator<'a> {
    pub fn new(rs: &'a Ruleset) -> Self {
        Evaluator { rs }
    }

    /// The IP layer's base chains at `hook` (iptables, nft `ip`/`ip6`/`inet`).
    pub fn evaluate(&self, hook: Hook, packet: &Packet) -> Evaluation {
        self.evaluate_layer(hook, Layer::Ip, packet)
    }

    /// Base chains of `layer` at `hook` (`Layer::Bridge`: nft `bridge` tables, for frames a
    /// bridge forwards; the devices are then the bridge's ports).
    pub fn evaluate_layer(&self, hook: Hook, layer: Layer, packet: &Packet) -> Evaluation {
        let packet = packet.at(hook);
        let mut walker = Walker { rs: self.rs, budget: MAX_STEPS, exhausted: false, unreadable: vec![] };
        let mut live =
            vec![Branch { packet: packet.clone(), assumed: vec![], path: vec![], accepted_by: vec![] }];
        let mut ended: Vec<Ending> = vec![];
        for base in base_chains(self.rs, hook, layer, &packet) {
            let (t, c) = (&self.rs.tables[base.table], &self.rs.tables[base.table].chains[base.chain]);
            let mut next = vec![];
            for mut b in live {
                // NAT chains see only the first packet of a connection.
                if is_nat(t, c) && b.packet.ct.is_some_and(|s| s != CtState::New) {
                    next.push(b);
                    continue;
                }
                // Before conntrack, `ct state` says "invalid" for every packet.
                let ct = b.packet.ct;
                if before_conntrack(hook, base.priority) {
                    b.packet.ct = Some(CtState::Invalid);
                }
                for mut e in walker.chain(base.table, base.chain, b, 0) {
                    e.branch.packet.ct = ct;
                    if e.end == End::Return {
                        // `return` in a base chain: its policy decides.
                        e = walker.fell_off(base.table, base.chain, c, e.branch);
                    }
                    match e.end {
                        End::Accept => {
                            let by = e.by.unwrap_or(Loc { table: base.table, chain: base.chain, rule: None });
                            let mut b = e.branch;
                            b.accepted_by.push(by);
                            next.push(b);
                        }
                        _ => ended.push(e),
                    }
                }
            }
            live = dedupe(next);
        }
        let mut outcomes: Vec<Outcome> =
            ended.into_iter().map(|e| self.outcome(Some(e.end), e.by, e.branch)).collect();
        outcomes.extend(live.into_iter().map(|b| self.outcome(None, None, b)));
        let mut gaps: Vec<String> = self.rs.gaps().map(str::to_string).collect();
        if walker.exhausted {
            gaps.push(format!("the walk took more than {MAX_STEPS} rule visits: not every way was followed"));
        }
        Evaluation {
            hook,
            layer,
            packet,
            outcomes,
            unreadable: walker.unreadable.iter().map(|l| self.name(*l)).collect(),
            complete: !walker.exhausted,
            gaps,
        }
    }

    /// How to name the rule or policy at `loc`.
    fn name(&self, loc: Loc) -> NamedRule {
        let t = &self.rs.tables[loc.table];
        let c = &t.chains[loc.chain];
        match loc.rule {
            Some(i) => NamedRule::rule(t, c, i, &c.rules[i]),
            None => NamedRule::policy(t, c),
        }
    }

    /// `end` None: the packet passed the hook.
    fn outcome(&self, end: Option<End>, by: Option<Loc>, b: Branch) -> Outcome {
        let fate = match end {
            None | Some(End::Accept) | Some(End::Return) => Fate::Passed,
            Some(End::Drop) => Fate::Dropped,
            Some(End::Reject(w)) => Fate::Rejected(w),
            Some(End::Unknown(what)) => Fate::Unknown(what),
        };
        Outcome {
            fate,
            by: by.map(|l| self.name(l)),
            accepted_by: b.accepted_by.iter().map(|l| self.name(*l)).collect(),
            assumed: b
                .assumed
                .into_iter()
                .map(|(l, matched, why)| Assumption { rule: self.name(l), matched, why })
                .collect(),
            path: b
                .path
                .iter()
                .map(|(t, c)| {
                    let t = &self.rs.tables[*t];
                    Step { table: t.name.clone(), chain: t.chains[*c].name.clone() }
                })
                .collect(),
            packet: b.packet,
        }
    }
}

/// Branches that reached the same packet state go on alike: keep the one that assumed least.
fn dedupe(mut branches: Vec<Branch>) -> Vec<Branch> {
    branches.sort_by_key(|b| b.assumed.iter().filter(|a| a.1).count());
    let mut out: Vec<Branch> = vec![];
    for b in branches {
        if !out.iter().any(|o| o.packet == b.packet) {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests;
