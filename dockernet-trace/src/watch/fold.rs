//! Folding: repeated events of one flow (5-tuple) for one reason within a second become one
//! line with a count. The loop calls `take` once per second.
use std::collections::HashMap;

use super::{
    incident::{Incident, Reason},
    line::Kind,
};
use crate::flow::Tuple;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: Kind,
    tuple: Tuple,
    reason: Reason,
}

/// The first incident of a flow and reason in this second, and how many there were.
#[derive(Clone, Debug)]
pub struct Folded {
    pub first: Incident,
    pub count: u64,
}

#[derive(Default)]
pub struct Folder {
    index: HashMap<Key, usize>,
    folded: Vec<Folded>,
}

impl Folder {
    pub fn add(&mut self, i: Incident) {
        let key = Key { kind: i.kind, tuple: i.tuple, reason: i.reason.clone() };
        match self.index.get(&key) {
            Some(&at) => self.folded[at].count += 1,
            None => {
                self.index.insert(key, self.folded.len());
                self.folded.push(Folded { first: i, count: 1 });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// Everything folded since the last call, in the order the flows first appeared.
    pub fn take(&mut self) -> Vec<Folded> {
        self.index.clear();
        let mut out = std::mem::take(&mut self.folded);
        out.sort_by_key(|f| f.first.t_ns);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{flow::Proto, kernel::DropReason, watch::incident::Function};

    fn drop(t_ns: u64, sport: u16, reason: &str) -> Incident {
        Incident {
            kind: Kind::Drop,
            t_ns,
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.17.0.2".parse().unwrap(),
                sport,
                dst: "172.18.0.2".parse().unwrap(),
                dport: 3306,
            },
            reason: Reason::Drop(DropReason::named(reason)),
            function: Function::Address(1),
            iface: None,
            netns: 0,
        }
    }

    #[test]
    fn one_line_per_flow_and_reason() {
        let mut f = Folder::default();
        f.add(drop(30, 40112, "NETFILTER_DROP"));
        f.add(drop(10, 40113, "NETFILTER_DROP"));
        f.add(drop(40, 40112, "NETFILTER_DROP"));
        f.add(drop(50, 40112, "NO_SOCKET"));
        let lines = f.take();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].first.tuple.sport, lines[0].count), (40113, 1));
        assert_eq!((lines[1].first.tuple.sport, lines[1].count, lines[1].first.t_ns), (40112, 2, 30));
        assert_eq!(lines[2].first.reason.to_string(), "NO_SOCKET");
        assert!(f.is_empty() && f.take().is_empty(), "the next second starts empty");
    }
}
