//! Which iptables rule drops one new packet in filter FORWARD, from the rules' matches alone:
//! a small stand-in until the ruleset evaluator (netfilter eval, issue 10) is on main, which
//! should then answer `forward_drop` (packet at the forward hook → deciding rule). Only a
//! certain drop is reported: a rule with a match this walk cannot judge ends the walk
//! undecided when it would let the packet on, and is passed over when it would drop it.
use std::net::IpAddr;

use crate::netfilter::{Matches, RuleRef, Ruleset, Source, Table, Target};

/// A new packet crossing the host, as the FORWARD hook sees it.
#[derive(Clone, Debug)]
pub struct Packet<'a> {
    pub in_iface: &'a str,
    /// None when the route out is unknown.
    pub out_iface: Option<&'a str>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `udp` or `tcp`.
    pub proto: &'a str,
    pub dport: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judged {
    Yes,
    No,
    Unsure,
}

/// The rule that certainly drops `p` in an iptables filter table's FORWARD, if any.
pub fn forward_drop<'a>(rs: &'a Ruleset, p: &Packet) -> Option<RuleRef<'a>> {
    let table = rs.tables.iter().find(|t| {
        t.name == "filter" && matches!(t.source, Source::Iptables { .. }) && t.chain("FORWARD").is_some()
    })?;
    match walk(table, "FORWARD", p, 0) {
        Walk::Drop(r) => Some(r),
        _ => None,
    }
}

enum Walk<'a> {
    Drop(RuleRef<'a>),
    Accept,
    /// Off the end of the chain, or RETURN: the caller goes on.
    Fallthrough,
    Unsure,
}

fn walk<'a>(table: &'a Table, name: &str, p: &Packet, depth: u8) -> Walk<'a> {
    let Some(chain) = table.chain(name).filter(|_| depth < 8) else { return Walk::Unsure };
    for (index, rule) in chain.rules.iter().enumerate() {
        let lets_on = !rule.target.drops();
        match judge(&rule.matches, p) {
            Judged::No => continue,
            Judged::Unsure if lets_on && !matches!(rule.target, Target::Continue | Target::Log) => {
                return Walk::Unsure;
            }
            Judged::Unsure => continue,
            Judged::Yes => {}
        }
        match &rule.target {
            Target::Drop | Target::Reject => return Walk::Drop(RuleRef { table, chain, rule, index }),
            Target::Accept => return Walk::Accept,
            Target::Return => return Walk::Fallthrough,
            Target::Jump(to) => match walk(table, to, p, depth + 1) {
                Walk::Fallthrough => continue,
                other => return other,
            },
            // A goto's RETURN goes back past this chain.
            Target::Goto(to) => return walk(table, to, p, depth + 1),
            Target::Continue | Target::Log => continue,
            _ => return Walk::Unsure,
        }
    }
    Walk::Fallthrough
}

fn all(parts: impl IntoIterator<Item = Judged>) -> Judged {
    let mut out = Judged::Yes;
    for j in parts {
        match j {
            Judged::No => return Judged::No,
            Judged::Unsure => out = Judged::Unsure,
            Judged::Yes => {}
        }
    }
    out
}

fn yes(b: bool) -> Judged {
    if b { Judged::Yes } else { Judged::No }
}

fn judge(m: &Matches, p: &Packet) -> Judged {
    let opt = |j: Option<Judged>| j.unwrap_or(Judged::Yes);
    all([
        opt(m.in_iface.as_ref().map(|i| yes(i.matches(p.in_iface)))),
        opt(m.out_iface.as_ref().map(|o| p.out_iface.map_or(Judged::Unsure, |out| yes(o.matches(out))))),
        opt(m.src.as_ref().map(|a| yes(a.matches(&p.src)))),
        opt(m.dst.as_ref().map(|a| yes(a.matches(&p.dst)))),
        opt(m.proto.as_ref().map(|x| {
            let number = if p.proto == "udp" { "17" } else { "6" };
            yes((x.name == p.proto || x.name == number) != x.negated)
        })),
        opt(m.dports.as_ref().map(|d| yes(d.matches(p.dport)))),
        opt(m.ct_state.as_ref().map(|c| yes(c.states.iter().any(|s| s == "NEW") != c.negated))),
        // A forwarded packet's addresses are not the host's own: LOCAL never matches.
        opt(m.src_type.as_ref().map(|t| if t.kind == "LOCAL" { yes(t.negated) } else { Judged::Unsure })),
        opt(m.dst_type.as_ref().map(|t| if t.kind == "LOCAL" { yes(t.negated) } else { Judged::Unsure })),
        if m.other.is_empty() { Judged::Yes } else { Judged::Unsure },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::parse_iptables_save;

    /// Docker 20.10's FORWARD with one network, and `user` in DOCKER-USER.
    fn rules(user: &[&str]) -> Ruleset {
        let mut t = String::from(
            "*filter\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n\
             :DOCKER-ISOLATION-STAGE-2 - [0:0]\n:DOCKER-USER - [0:0]\n\
             -A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n\
             -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A FORWARD -o docker0 -j DOCKER\n-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n\
             -A FORWARD -i docker0 -o docker0 -j ACCEPT\n\
             -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2\n\
             -A DOCKER-ISOLATION-STAGE-1 -j RETURN\n-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n\
             -A DOCKER-ISOLATION-STAGE-2 -j RETURN\n",
        );
        for r in user {
            t.push_str(&format!("-A DOCKER-USER {r}\n"));
        }
        t.push_str("-A DOCKER-USER -j RETURN\nCOMMIT\n");
        Ruleset { tables: parse_iptables_save(&t).unwrap(), ..Default::default() }
    }

    fn dns() -> Packet<'static> {
        Packet {
            in_iface: "docker0",
            out_iface: Some("eth0"),
            src: "172.17.0.2".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: "udp",
            dport: 53,
        }
    }

    fn dropped_by(user: &[&str]) -> Option<String> {
        let rs = rules(user);
        forward_drop(&rs, &dns()).map(|r| r.rule.text.clone())
    }

    #[test]
    fn a_docker_user_rule_on_udp_53_drops_dns() {
        let rule = "-A DOCKER-USER -p udp -m udp --dport 53 -j DROP";
        assert_eq!(dropped_by(&["-p udp -m udp --dport 53 -j DROP"]).as_deref(), Some(rule));
        let to = "-A DOCKER-USER -d 10.0.0.2/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable";
        assert_eq!(
            dropped_by(&[
                "-d 10.0.0.2/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable"
            ])
            .as_deref(),
            Some(to)
        );
    }

    #[test]
    fn other_rules_and_an_earlier_accept_let_it_through() {
        assert_eq!(dropped_by(&[]), None, "Docker's own rules accept a network's way out");
        assert_eq!(dropped_by(&["-p tcp -m tcp --dport 53 -j DROP"]), None);
        assert_eq!(dropped_by(&["-d 10.9.9.9/32 -j DROP"]), None);
        assert_eq!(dropped_by(&["-i br-other -j DROP"]), None);
        assert_eq!(dropped_by(&["-s 172.17.0.0/16 -j ACCEPT", "-p udp -j DROP"]), None);
        // A match the walk cannot judge, on a rule that would accept: undecided, not a drop.
        assert_eq!(dropped_by(&["-m mark --mark 0x1 -j ACCEPT", "-p udp -j DROP"]), None);
        // ... but on a rule that would drop, the later certain drop is still found.
        let later = dropped_by(&["-m mark --mark 0x1 -j DROP", "-p udp -j DROP"]);
        assert_eq!(later.as_deref(), Some("-A DOCKER-USER -p udp -j DROP"));
    }
}
