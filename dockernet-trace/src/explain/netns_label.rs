//! A network namespace as people name it: `host`, `container:NAME`, `netns:NAME`, or
//! `netns:INODE` when nothing names it. One type and one spelling for hops, verdicts and
//! watch lines.
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetnsLabel {
    /// The namespace the tool runs in.
    Host,
    /// A container's namespace, by the container's name.
    Container(String),
    /// A namespace under /run/netns, by its name.
    Netns(String),
    /// A namespace nothing names, by inode.
    Inode(u32),
}

impl NetnsLabel {
    pub fn is_host(&self) -> bool {
        *self == Self::Host
    }

    /// The container whose namespace this is, if it is one.
    pub fn container(&self) -> Option<&str> {
        match self {
            Self::Container(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for NetnsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("host"),
            Self::Container(c) => write!(f, "container:{c}"),
            Self::Netns(n) => write!(f, "netns:{n}"),
            Self::Inode(i) => write!(f, "netns:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_spelled_as_the_contract_shows_them() {
        assert_eq!(NetnsLabel::Host.to_string(), "host");
        assert_eq!(NetnsLabel::Container("nacos".into()).to_string(), "container:nacos");
        assert_eq!(NetnsLabel::Netns("lab1".into()).to_string(), "netns:lab1");
        assert_eq!(NetnsLabel::Inode(4026532001).to_string(), "netns:4026532001");
        assert_eq!(NetnsLabel::Container("db".into()).container(), Some("db"));
    }
}
