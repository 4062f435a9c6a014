//! The fix for the rule that decided: the command that deletes or bypasses exactly that rule,
//! in the words of whoever owns it (`nft delete rule inet T C handle N`, `iptables -D ...`,
//! `firewall-cmd ...`, `ufw ...`). Opening more than that (a policy to accept) is offered only
//! as an alternative that says so.
mod firewalld;
mod iptables;
mod nft;
mod ufw;

use std::{collections::BTreeSet, net::IpAddr};

use serde::Serialize;

use super::{
    eval::{Evaluation, Hook, L4, NamedRule, Outcome, Packet},
    model::{Ruleset, Source},
    owner::{Owner, owner},
};

/// The traffic a fix lets through, in match terms; None is "any". A trace lets its probe's
/// flow through ([`Traffic::exact`]); doctor a class of traffic (a network's way out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub daddr: Option<IpAddr>,
    pub proto: Option<L4>,
    pub dport: Option<u16>,
    /// Only packets of connections already accepted (replies).
    pub established: bool,
}

impl Traffic {
    /// Exactly the flow of `p` at `hook`: its devices there, its destination when forwarded,
    /// its protocol and port.
    pub fn exact(hook: Hook, p: &Packet) -> Self {
        Traffic {
            iif: p.iif.name().filter(|_| hook.has_iif()).map(str::to_string),
            oif: p.oif.name().filter(|_| hook.has_oif()).map(str::to_string),
            daddr: (hook == Hook::Forward).then_some(p.dst),
            proto: Some(p.proto),
            dport: p.dport.filter(|_| p.proto.has_ports()),
            established: false,
        }
    }
}

/// How to let the packet through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub owner: Owner,
    /// Commands that delete or bypass exactly the deciding rule, in order.
    pub commands: Vec<String>,
    /// Broader alternatives, each saying what more it opens.
    pub alternatives: Vec<String>,
}

impl Fix {
    /// Commands, then alternatives (as doctor and trace list fixes).
    pub fn lines(&self) -> Vec<String> {
        self.commands.iter().chain(&self.alternatives).cloned().collect()
    }
}

/// The fix for what decided `o` (an outcome of `e`), letting `traffic` through where a
/// policy decided. `bridges` are the host's Docker bridges (firewalld's fix puts them in its
/// `docker` zone). None when nothing decided (the packet passed) or Docker's own rule did
/// (then Docker's configuration is what to change).
pub fn fix(
    rs: &Ruleset,
    e: &Evaluation,
    o: &Outcome,
    bridges: &BTreeSet<String>,
    traffic: &Traffic,
) -> Option<Fix> {
    fix_at(rs, e.hook, o, bridges, traffic)
}

/// [`fix`] for an outcome at `hook` (one a caller built from the counters, without an
/// evaluation).
pub fn fix_at(
    rs: &Ruleset,
    hook: Hook,
    o: &Outcome,
    bridges: &BTreeSet<String>,
    traffic: &Traffic,
) -> Option<Fix> {
    let rule = o.by.as_ref()?;
    let who = owner(rs, rule, &o.path);
    let (commands, alternatives) = match who {
        Owner::Docker => return None,
        Owner::Firewalld => firewalld::fix(hook, o, bridges),
        Owner::Ufw => ufw::fix(hook, traffic, rule),
        Owner::Other => match rule.source {
            Source::Nft => nft::fix(traffic, rule),
            Source::Iptables { legacy } => iptables::fix(traffic, rule, program(rs, rule, legacy)),
        },
    };
    Some(Fix { owner: who, commands, alternatives })
}

/// `iptables`, `ip6tables`, or the backend's own name when it is not the one `iptables` runs.
fn program(rs: &Ruleset, rule: &NamedRule, legacy: bool) -> String {
    let base = if rule.family == super::Family::Ip6 { "ip6tables" } else { "iptables" };
    match rs.active_legacy() {
        Some(active) if active != legacy => format!("{base}-{}", if legacy { "legacy" } else { "nft" }),
        _ => base.to_string(),
    }
}
