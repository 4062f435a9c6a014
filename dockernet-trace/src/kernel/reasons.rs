//! The reasons the kernel gives, by name: why it dropped a packet (`enum skb_drop_reason`) and
//! why it sent a reset (`enum sk_rst_reason`, 6.10+). Both enums are renumbered from one kernel
//! to the next, so values are named from this kernel's BTF and everything after compares
//! names, through the typed [`DropReason`] and [`ResetReason`].
use std::{borrow::Cow, collections::HashMap, fmt};

use super::{KernelBtf, KernelError};

/// A drop reason as the kernel's tracepoint prints it (`NETFILTER_DROP`, without the
/// `SKB_DROP_REASON_` prefix).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropReason(Cow<'static, str>);

impl DropReason {
    /// A netfilter rule or policy dropped it.
    pub const NETFILTER_DROP: Self = Self::known("NETFILTER_DROP");
    /// No socket wanted it (nothing listens on the port).
    pub const NO_SOCKET: Self = Self::known("NO_SOCKET");
    /// The caller gave no reason.
    pub const NOT_SPECIFIED: Self = Self::known("NOT_SPECIFIED");
    /// The bridge port is not forwarding (STP).
    pub const BRIDGE_INGRESS_STP_STATE: Self = Self::known("BRIDGE_INGRESS_STP_STATE");
    /// No route for a packet coming in, or going out.
    pub const IP_INNOROUTES: Self = Self::known("IP_INNOROUTES");
    pub const IP_OUTNOROUTES: Self = Self::known("IP_OUTNOROUTES");
    /// The destination (or source) address is not one to forward to: `ip6_forward` with IPv6
    /// forwarding off.
    pub const IP_INADDRERRORS: Self = Self::known("IP_INADDRERRORS");

    /// A socket's queue emptied as it closed.
    pub const QUEUE_PURGE: Self = Self::known("QUEUE_PURGE");
    pub const SOCKET_CLOSE: Self = Self::known("SOCKET_CLOSE");

    const fn known(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A packet a socket had, or was too late for: freed as the socket closed or was gone.
    pub fn is_socket_cleanup(&self) -> bool {
        *self == Self::QUEUE_PURGE || *self == Self::SOCKET_CLOSE || *self == Self::NO_SOCKET
    }

    /// A reason by its (prefix-less) name.
    pub fn named(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The neighbour subsystem's reasons (`NEIGH_FAILED`, `NEIGH_QUEUEFULL`, ...).
    pub fn is_neighbour(&self) -> bool {
        self.0.starts_with("NEIGH_")
    }

    pub fn is_no_route(&self) -> bool {
        *self == Self::IP_INNOROUTES || *self == Self::IP_OUTNOROUTES
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `enum skb_drop_reason`, by value, as this kernel numbers it.
#[derive(Clone, Debug, Default)]
pub struct DropReasons {
    names: HashMap<u32, DropReason>,
}

impl DropReasons {
    pub fn from_btf(btf: &KernelBtf) -> Result<Self, KernelError> {
        Ok(Self::from_values(btf.enum_values("skb_drop_reason")?))
    }

    pub fn from_values(values: Vec<(String, u64)>) -> Self {
        let names = values
            .into_iter()
            .map(|(name, v)| {
                let short = name
                    .strip_prefix("SKB_DROP_REASON_")
                    .or_else(|| name.strip_prefix("SKB_"))
                    .unwrap_or(&name);
                (v as u32, DropReason::named(short))
            })
            .collect();
        Self { names }
    }

    /// The reason of value `reason`; reasons of subsystems (upper 16 bits) that the core enum
    /// does not list come back as `SUBSYS_<n>:<code>`.
    pub fn name(&self, reason: u32) -> DropReason {
        if let Some(n) = self.names.get(&reason) {
            return n.clone();
        }
        let subsys = reason >> 16;
        DropReason::named(if subsys != 0 {
            format!("SUBSYS_{subsys}:{}", reason & 0xffff)
        } else {
            format!("UNKNOWN_{reason}")
        })
    }

    /// The value of a reason by name, if this kernel has it.
    pub fn value(&self, name: &str) -> Option<u32> {
        self.names.iter().find(|(_, n)| n.name() == name).map(|(v, _)| *v)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Why the kernel answered with a reset, named without the `SK_RST_REASON_` prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResetReason(Cow<'static, str>);

impl ResetReason {
    pub const NO_SOCKET: Self = Self(Cow::Borrowed("NO_SOCKET"));
    pub const NOT_SPECIFIED: Self = Self(Cow::Borrowed("NOT_SPECIFIED"));

    pub fn named(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `enum sk_rst_reason` (kernel 6.10+) by value.
#[derive(Clone, Debug, Default)]
pub struct ResetReasons(HashMap<u32, ResetReason>);

impl ResetReasons {
    pub fn from_btf(btf: &KernelBtf) -> Self {
        Self::from_values(btf.enum_values("sk_rst_reason").unwrap_or_default())
    }

    pub fn from_values(values: Vec<(String, u64)>) -> Self {
        Self(
            values
                .into_iter()
                .map(|(n, v)| (v as u32, ResetReason::named(n.strip_prefix("SK_RST_REASON_").unwrap_or(&n))))
                .collect(),
        )
    }

    /// Kernels before 6.10 pass no reason: NOT_SPECIFIED, as the kernel itself would say.
    pub fn name(&self, reason: u32) -> ResetReason {
        self.0.get(&reason).cloned().unwrap_or_else(|| {
            if self.0.is_empty() {
                ResetReason::NOT_SPECIFIED
            } else {
                ResetReason::named(format!("UNKNOWN_{reason}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reason_names_lose_their_prefix() {
        let r = DropReasons::from_values(vec![
            ("SKB_NOT_DROPPED_YET".into(), 0),
            ("SKB_CONSUMED".into(), 1),
            ("SKB_DROP_REASON_NOT_SPECIFIED".into(), 2),
            ("SKB_DROP_REASON_NETFILTER_DROP".into(), 12),
        ]);
        assert_eq!(r.name(12).name(), "NETFILTER_DROP");
        assert_eq!(r.name(12), DropReason::NETFILTER_DROP, "typed and by name are one");
        assert_eq!(r.name(1).name(), "CONSUMED");
        assert_eq!(r.value("NETFILTER_DROP"), Some(12));
        assert_eq!(r.name(99).name(), "UNKNOWN_99");
        assert_eq!(r.name(0x0003_0002).name(), "SUBSYS_3:2");
    }

    #[test]
    fn reason_families() {
        assert!(DropReason::named("NEIGH_FAILED").is_neighbour());
        assert!(DropReason::named("IP_OUTNOROUTES").is_no_route());
        assert!(!DropReason::NETFILTER_DROP.is_no_route());
    }

    #[test]
    fn reset_reasons_are_named_and_default_to_not_specified() {
        let r = ResetReasons::from_values(vec![("SK_RST_REASON_NO_SOCKET".into(), 2)]);
        assert_eq!(r.name(2), ResetReason::NO_SOCKET);
        assert_eq!(r.name(9).name(), "UNKNOWN_9");
        assert_eq!(ResetReasons::default().name(0), ResetReason::NOT_SPECIFIED);
    }
}
