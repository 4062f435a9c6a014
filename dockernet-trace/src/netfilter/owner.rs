//! Who wrote a rule, from where it sits: Docker, firewalld, ufw, or someone else (an admin,
//! another tool). Fixes differ by owner: firewalld and ufw rewrite their own rules, so their
//! rules are changed with their own commands, never deleted behind their back.
use serde::Serialize;

use super::{
    docker::{Role, classify},
    eval::NamedRule,
    model::{Ruleset, Source},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Docker,
    Firewalld,
    Ufw,
    /// Anyone else: an admin's own table or rule, another tool.
    Other,
}

/// firewalld's chains in its iptables backend (firewalld before 0.6, or set to iptables).
const FIREWALLD_IPTABLES: &[&str] =
    &["INPUT_ZONES", "INPUT_direct", "FORWARD_IN_ZONES", "FORWARD_OUT_ZONES", "FORWARD_direct"];

/// Who wrote `rule`; `path` is the chains walked to it (a policy of a built-in chain whose
/// walk went through ufw's chains is ufw's default policy).
pub fn owner(rs: &Ruleset, rule: &NamedRule, path: &[crate::netfilter::eval::Step]) -> Owner {
    match rule.source {
        Source::Nft => match rule.table.as_str() {
            "docker-bridges" => Owner::Docker,
            "firewalld" => Owner::Firewalld,
            _ => Owner::Other,
        },
        Source::Iptables { .. } => {
            let chain = rule.chain.as_str();
            if chain.starts_with("ufw-") || chain.starts_with("ufw6-") {
                return Owner::Ufw;
            }
            if FIREWALLD_IPTABLES.contains(&chain)
                || ["IN_", "FWDI_", "FWDO_"].iter().any(|p| chain.starts_with(p))
            {
                return Owner::Firewalld;
            }
            if rule.is_policy() {
                let ufw = path.iter().any(|s| s.chain.starts_with("ufw-") || s.chain.starts_with("ufw6-"));
                return if ufw { Owner::Ufw } else { Owner::Other };
            }
            if chain == "DOCKER-USER" {
                // The user's rules; only the final RETURN is Docker's.
                return Owner::Other;
            }
            let docker = rs
                .locate(rule)
                .and_then(|(t, c, r)| r.map(|r| classify(t, c, r)))
                .is_some_and(|role| role != Role::NotDocker && role != Role::DockerUser);
            if docker { Owner::Docker } else { Owner::Other }
        }
    }
}
