//! Walking one chain as the kernel does: rule by rule, into jumps and gotos, back on returns,
//! to the policy at the end. Where a rule "may match", the walk splits in two (it matched /
//! it did not) and both are followed, so no way the packet may have gone is lost.
use super::{
    fit::{Fit, fit},
    lookup,
    packet::Packet,
};
use crate::netfilter::{
    conds::Meaning,
    model::{Chain, Rule, Ruleset, Table, Verdict},
    target::{Effect, MapRef, Target, VerdictMap},
};

/// Jumps deeper than this are not followed (the kernel allows 16 for nft; a loop in bad
/// input must not hang us).
const MAX_DEPTH: usize = 64;

/// Where a rule or policy sits: table, chain, and rule position (None for the policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub table: usize,
    pub chain: usize,
    pub rule: Option<usize>,
}

/// One way through, so far.
#[derive(Clone, Debug)]
pub struct Branch {
    pub packet: Packet,
    /// (rule, matched, why) for each "may match" rule decided one way on this branch.
    pub assumed: Vec<(Loc, bool, Vec<String>)>,
    /// (table, chain) walked.
    pub path: Vec<(usize, usize)>,
    /// What let the packet through each base chain so far.
    pub accepted_by: Vec<Loc>,
}

/// How a chain's walk ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Accept,
    Drop,
    Reject(crate::netfilter::RejectWith),
    Unknown(String),
    /// Back to the calling chain (a user chain's end, or `return`).
    Return,
}

#[derive(Debug)]
pub struct Ending {
    pub end: End,
    pub by: Option<Loc>,
    pub branch: Branch,
}

/// The walker's state across one hook's evaluation.
pub struct Walker<'a> {
    pub rs: &'a Ruleset,
    /// Rule visits left before the walk gives up (and says so).
    pub budget: usize,
    pub exhausted: bool,
    /// Rules met that could not be read.
    pub unreadable: Vec<Loc>,
}

impl<'a> Walker<'a> {
    fn table(&self, t: usize) -> &'a Table {
        &self.rs.tables[t]
    }

    /// Walks chain `c` of table `t` with `branch`, every way it may go.
    pub fn chain(&mut self, t: usize, c: usize, mut branch: Branch, depth: usize) -> Vec<Ending> {
        branch.path.push((t, c));
        let chain = &self.table(t).chains[c];
        let mut todo = vec![(0usize, branch)];
        let mut endings = vec![];
        while let Some((mut i, b)) = todo.pop() {
            // Rules that surely do not match are passed here, the branch staying where it is:
            // a chain may hold thousands of them.
            let (rule, f) = loop {
                if self.budget == 0 {
                    self.exhausted = true;
                    return endings;
                }
                self.budget -= 1;
                let Some(rule) = chain.rules.get(i) else { break (None, Fit::No) };
                match fit(&rule.matches, &b.packet, self.table(t)) {
                    Fit::No => i += 1,
                    f => break (Some(rule), f),
                }
            };
            let Some(rule) = rule else {
                endings.push(self.fell_off(t, c, chain, b));
                continue;
            };
            let loc = Loc { table: t, chain: c, rule: Some(i) };
            // A rule that could not be read matters unless it surely does not match.
            if f != Fit::No
                && rule.matches.other.iter().any(|o| o.is_unknown())
                && !self.unreadable.contains(&loc)
            {
                self.unreadable.push(loc);
            }
            match f {
                Fit::No => todo.push((i + 1, b)),
                Fit::Yes => self.apply(loc, rule, b, depth, &mut todo, &mut endings),
                Fit::Maybe(_) if passes_through(rule) => todo.push((i + 1, b)),
                Fit::Maybe(why) => {
                    let mut no = b.clone();
                    no.assumed.push((loc, false, why.clone()));
                    todo.push((i + 1, no));
                    let mut yes = b;
                    yes.assumed.push((loc, true, why));
                    self.apply(loc, rule, yes, depth, &mut todo, &mut endings);
                }
            }
        }
        endings
    }

    /// The end of the chain: a base chain's policy, or back to the caller.
    pub fn fell_off(&self, t: usize, c: usize, chain: &Chain, b: Branch) -> Ending {
        if !chain.is_base() {
            return Ending { end: End::Return, by: None, branch: b };
        }
        let end = match chain.policy.clone().unwrap_or(Verdict::Accept) {
            Verdict::Accept => End::Accept,
            Verdict::Drop => End::Drop,
            Verdict::Other(o) => End::Unknown(format!("policy {o}")),
        };
        Ending { end, by: Some(Loc { table: t, chain: c, rule: None }), branch: b }
    }

    /// A rule that matched (or is taken as matching): its effects, then its target.
    fn apply(
        &mut self,
        loc: Loc,
        rule: &Rule,
        mut b: Branch,
        depth: usize,
        todo: &mut Vec<(usize, Branch)>,
        endings: &mut Vec<Ending>,
    ) {
        for e in &rule.effects {
            b.packet.mark = match (e, b.packet.mark) {
                (Effect::SetMark { clear, xor }, Some(m)) => Some((m & !clear) ^ xor),
                (Effect::SetMark { clear: u32::MAX, xor }, None) => Some(*xor),
                _ => None,
            };
        }
        // A statement not understood may itself decide: one way it does, one way it does not.
        if let Some(o) = rule.matches.other.iter().find(|o| o.meaning == Meaning::UnknownAction) {
            let mut stopped = b.clone();
            stopped.assumed.push((loc, true, vec![format!("`{}` is not understood", o.text)]));
            endings.push(Ending { end: End::Unknown(o.text.clone()), by: Some(loc), branch: stopped });
        }
        self.target(loc, &rule.target, b, depth, todo, endings);
    }

    fn target(
        &mut self,
        loc: Loc,
        target: &Target,
        mut b: Branch,
        depth: usize,
        todo: &mut Vec<(usize, Branch)>,
        endings: &mut Vec<Ending>,
    ) {
        let next = loc.rule.map_or(0, |r| r + 1);
        let end = match target {
            Target::Accept => End::Accept,
            Target::Drop => End::Drop,
            Target::Reject(w) => End::Reject(w.clone()),
            Target::Return => End::Return,
            Target::Dnat { .. } | Target::Redirect => {
                nat_destination(target, &mut b.packet);
                End::Accept
            }
            Target::Snat { .. } | Target::Masquerade => End::Accept,
            Target::Jump(name) | Target::Goto(name) => {
                let goto = matches!(target, Target::Goto(_));
                return self.call(loc, name, goto, b, depth, todo, endings);
            }
            Target::Vmap(vm) => return self.vmap(loc, vm, b, depth, todo, endings),
            t if t.continues() == Some(true) => return todo.push((next, b)),
            Target::Other(text) => End::Unknown(text.clone()),
            t => End::Unknown(format!("{t:?}")),
        };
        endings.push(Ending { end, by: Some(loc), branch: b });
    }

    /// A jump (or goto) into chain `name` of the same table.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        loc: Loc,
        name: &str,
        goto: bool,
        b: Branch,
        depth: usize,
        todo: &mut Vec<(usize, Branch)>,
        endings: &mut Vec<Ending>,
    ) {
        let t = self.table(loc.table);
        let Some(c) = t.chains.iter().position(|c| c.name == name) else {
            let end = End::Unknown(format!("chain {name} is not in the listing"));
            endings.push(Ending { end, by: Some(loc), branch: b });
            return;
        };
        if depth >= MAX_DEPTH {
            let end = End::Unknown(format!("jumps nested deeper than {MAX_DEPTH}"));
            endings.push(Ending { end, by: Some(loc), branch: b });
            return;
        }
        let caller = &t.chains[loc.chain];
        for e in self.chain(loc.table, c, b, depth + 1) {
            match (e.end, goto) {
                (End::Return, false) => todo.push((loc.rule.map_or(0, |r| r + 1), e.branch)),
                // After a goto, the called chain's end is the caller's end.
                (End::Return, true) => endings.push(self.fell_off(loc.table, loc.chain, caller, e.branch)),
                (end, _) => endings.push(Ending { end, by: e.by, branch: e.branch }),
            }
        }
    }

    /// A verdict map: the verdict of the element the key finds, else the next rule.
    fn vmap(
        &mut self,
        loc: Loc,
        vm: &VerdictMap,
        b: Branch,
        depth: usize,
        todo: &mut Vec<(usize, Branch)>,
        endings: &mut Vec<Ending>,
    ) {
        let next = loc.rule.map_or(0, |r| r + 1);
        let t = self.table(loc.table);
        let elems: &[(crate::netfilter::Elem, Target)] = match &vm.map {
            MapRef::Anon(e) => e,
            MapRef::Named(name) => match t.set(name) {
                Some(s) => &s.verdicts,
                None => {
                    let end = End::Unknown(format!("map @{name} is not in the listing"));
                    endings.push(Ending { end, by: Some(loc), branch: b });
                    return;
                }
            },
        };
        let value = match lookup::value(&vm.key, &b.packet) {
            Ok(v) => Some(v),
            Err(Fit::No) => {
                todo.push((next, b));
                return;
            }
            Err(_) => None,
        };
        let mut sure = false;
        for (elem, target) in elems {
            let f = value
                .as_ref()
                .map_or_else(|| Fit::maybe("the map's key is not known"), |v| lookup::holds(elem, v));
            match f {
                Fit::No => {}
                Fit::Yes => {
                    sure = true;
                    self.target(loc, target, b.clone(), depth, todo, endings);
                    break;
                }
                Fit::Maybe(why) => {
                    let mut taken = b.clone();
                    taken.assumed.push((loc, true, why));
                    self.target(loc, target, taken, depth, todo, endings);
                }
            }
        }
        if !sure {
            todo.push((next, b));
        }
    }
}

/// A rule that changes nothing and decides nothing: whether it matches does not matter.
fn passes_through(rule: &Rule) -> bool {
    rule.effects.is_empty()
        && rule.target.continues() == Some(true)
        && !rule.matches.other.iter().any(|o| o.meaning == Meaning::UnknownAction)
}

/// DNAT/REDIRECT: the packet's new destination, and conntrack now says "DNATed".
fn nat_destination(target: &Target, p: &mut Packet) {
    match target.nat_to() {
        Some((ip, port)) if ip.is_ipv4() == p.dst.is_ipv4() => {
            p.dst = ip;
            if port.is_some() && p.dport.is_some() {
                p.dport = port;
            }
            p.dst_local = None;
        }
        _ if *target == Target::Redirect => p.dst_local = Some(true),
        // A DNAT to something not read: the new destination is not known.
        _ => p.dst_local = None,
    }
    p.ct_dnat = Some(true);
}
