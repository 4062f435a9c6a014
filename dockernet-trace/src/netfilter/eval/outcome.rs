//! What an evaluation found: every way the packet's walk through the hook may have ended, and
//! from them the answer: the rule that decided (exact), or the ranked rules that may have.
use serde::Serialize;

use super::{
    named::NamedRule,
    packet::{Hook, Layer, Packet},
};
use crate::netfilter::target::RejectWith;

/// How a walk through the hook ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", content = "with", rename_all = "snake_case")]
pub enum Fate {
    /// Every base chain let it through.
    Passed,
    Dropped,
    Rejected(RejectWith),
    /// Decided by something not understood (`queue`, an unknown statement): it may be
    /// dropped.
    Unknown(String),
}

impl Fate {
    /// Dropped or rejected for sure.
    pub fn stops(&self) -> bool {
        matches!(self, Fate::Dropped | Fate::Rejected(_))
    }

    /// Dropped, rejected, or maybe (an unknown verdict).
    pub fn may_stop(&self) -> bool {
        !matches!(self, Fate::Passed)
    }
}

/// A rule that "may match" and was taken (or not) on this walk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assumption {
    pub rule: NamedRule,
    pub matched: bool,
    /// What the match depends on (`the packet mark is not known`).
    pub why: Vec<String>,
}

/// A chain walked, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub table: String,
    pub chain: String,
}

/// One way the walk may have ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub fate: Fate,
    /// The rule or policy that decided; None when the packet passed.
    pub by: Option<NamedRule>,
    /// The rule or policy that let the packet through each base chain it passed.
    pub accepted_by: Vec<NamedRule>,
    /// The "may match" rules this walk took as matching or not.
    pub assumed: Vec<Assumption>,
    /// The chains walked.
    pub path: Vec<Step>,
    /// The packet afterwards (NAT and marks applied).
    pub packet: Packet,
}

impl Outcome {
    /// How many unknowns this walk had to take as matching: fewer is likelier.
    fn doubt(&self) -> (usize, usize) {
        (self.assumed.iter().filter(|a| a.matched).count(), self.assumed.len())
    }

    fn same_ending(&self, other: &Outcome) -> bool {
        self.fate == other.fate
            && match (&self.by, &other.by) {
                (Some(a), Some(b)) => a.same(b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Everything one hook's evaluation found.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub hook: Hook,
    pub layer: Layer,
    /// The packet as it entered the hook.
    pub packet: Packet,
    /// Every distinct way the walk may have ended.
    pub outcomes: Vec<Outcome>,
    /// Rules met on the way that could not be read: each was counted as "may match".
    pub unreadable: Vec<NamedRule>,
    /// Whether every way was followed (false when the walk was too long to finish).
    pub complete: bool,
    /// Why no answer can be exact: listings that could not be read or were cut short, a walk
    /// too long to finish.
    pub gaps: Vec<String>,
}

/// The answer to "what decided?".
#[derive(Clone, Debug)]
pub enum Decision<'a> {
    /// One ending, with nothing unread that could change it.
    Exact(&'a Outcome),
    /// Several endings possible, or one but with gaps: likeliest first.
    Candidates(Vec<&'a Outcome>),
    /// Nothing fits the question (no outcome drops, for `dropped_by`).
    None,
}

impl Evaluation {
    /// What decided the packet's fate at this hook.
    pub fn decision(&self) -> Decision<'_> {
        self.decide(|_| true)
    }

    /// Given that the packet was dropped here (the kernel said so), which rule dropped it.
    pub fn dropped_by(&self) -> Decision<'_> {
        self.decide(|o| o.fate.may_stop())
    }

    /// Every walk ends in a drop or reject: the packet certainly stops here (whatever rule
    /// it is; gaps can only add drops, never take one away).
    pub fn certainly_stops(&self) -> bool {
        self.complete && !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.fate.stops())
    }

    /// Some walk passes the hook.
    pub fn may_pass(&self) -> bool {
        self.outcomes.iter().any(|o| o.fate == Fate::Passed)
    }

    fn decide(&self, keep: impl Fn(&Outcome) -> bool) -> Decision<'_> {
        let mut ranked: Vec<&Outcome> = self.outcomes.iter().filter(|o| keep(o)).collect();
        // Sure stops before unknown verdicts, then the fewest unknowns taken as matching.
        ranked.sort_by_key(|o| (!o.fate.stops() && o.fate.may_stop(), o.doubt()));
        let mut distinct: Vec<&Outcome> = vec![];
        for o in ranked {
            if !distinct.iter().any(|d| d.same_ending(o)) {
                distinct.push(o);
            }
        }
        match distinct.as_slice() {
            [] => Decision::None,
            [one]
                if self.gaps.is_empty()
                    && !matches!(one.fate, Fate::Unknown(_))
                    && !self.leans_on_unreadable(one) =>
            {
                Decision::Exact(one)
            }
            _ => Decision::Candidates(distinct),
        }
    }

    /// Whether the walk took a rule that could not be read as matching: then its ending is
    /// never called exact.
    fn leans_on_unreadable(&self, o: &Outcome) -> bool {
        o.assumed.iter().any(|a| a.matched && self.unreadable.iter().any(|u| u.same(&a.rule)))
    }
}
