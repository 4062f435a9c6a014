//! `watch --pcap FILE`: each line the watch reports, as the packet of its first event, on the
//! interface (and in the namespace) where the kernel dropped, refused or reset it, with the
//! line's reason and cause as its comment. Written as the watch goes (flushed once a second),
//! so a killed watch leaves every packet of the lines it printed.
use std::{fs::File, io::BufWriter, path::Path};

use super::{
    fold::Folded,
    line::{Clock, EventLine},
    output::note,
};
use crate::{
    error::{Error, Result},
    explain::Names,
    flow::{IcmpMessage, IpFamily},
    pcap::{PcapNg, Sighting, flow},
};

pub struct DropEvidence {
    pcap: Option<PcapNg<BufWriter<File>>>,
}

/// `drop on docker0 in host: NETFILTER_DROP at nft_do_chain, cause network_isolation (rule
/// ...); 3 in that second, the first shown`.
fn comment(l: &EventLine) -> String {
    let mut s = l.kind.code().to_string();
    if let Some(i) = &l.iface {
        s.push_str(&format!(" on {i}"));
    }
    if let Some(n) = &l.netns {
        s.push_str(&format!(" in {n}"));
    }
    s.push(':');
    if let Some(r) = &l.drop_reason {
        s.push_str(&format!(" {r}"));
    }
    if let Some(f) = &l.function {
        s.push_str(&format!(" at {f}"));
    }
    s.push_str(&format!(", cause {}", l.cause.code()));
    if let Some(r) = &l.rule {
        s.push_str(&format!(" (rule {r})"));
    }
    if l.count > 1 {
        s.push_str(&format!("; {} in that second, the first shown", l.count));
    }
    s
}

impl DropEvidence {
    pub fn create(path: &Path) -> Result<Self> {
        let pcap = PcapNg::create(path).map_err(|e| Error::Usage(e.to_string()))?;
        Ok(DropEvidence { pcap: Some(pcap) })
    }

    /// Adds the packet of line `l`, folded from `f`. A failed write is said once, then the file
    /// is left as it is.
    pub fn add(&mut self, f: &Folded, l: &EventLine, names: &Names, clock: &Clock) {
        let Some(pcap) = &mut self.pcap else { return };
        let i = &f.first;
        // (The types of ICMPv6's errors are not ICMP's: the family decides.)
        let family = IpFamily::of(&i.tuple.src);
        let icmp = i.icmp_type.map(|kind| flow::Icmp {
            kind,
            code: 0,
            quoting: IcmpMessage { family, kind, code: 0 }.is_error(),
        });
        let Some(header) = flow::header(&i.tuple, i.tcp_flags, icmp) else { return };
        let s = Sighting {
            at: clock.wall(i.t_ns),
            netns: names.netns_label(i.netns).to_string(),
            iface: i.iface.clone().unwrap_or_else(|| "(no interface)".into()),
            header,
            hop: comment(l),
        };
        if let Err(e) = pcap.write(&s) {
            note(&format!("{e}; the pcap file stops here"));
            self.pcap = None;
        }
    }

    pub fn flush(&mut self) {
        if let Some(p) = &mut self.pcap
            && let Err(e) = p.flush()
        {
            note(&format!("{e}; the pcap file stops here"));
            self.pcap = None;
        }
    }
}
