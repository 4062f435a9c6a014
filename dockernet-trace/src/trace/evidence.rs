//! `--pcap FILE` of a trace: every hop of every probe as a packet for Wireshark, in the order
//! the kernel saw them, each on its interface (named with its namespace) and with the hop as
//! its comment; the addresses are those seen at that hop, so a NAT shows between two packets.
use std::{fs::File, io::BufWriter, path::Path};

use super::hops::Hop;
use crate::{
    error::{Error, Result},
    pcap::{PcapNg, Sighting, flow},
    watch::line::Clock,
};

/// One line for the packet's comment: which probe, which way, where and what happened.
fn comment(h: &Hop) -> String {
    let way = if h.forward { "towards the target" } else { "answer, back" };
    let mut s = format!(
        "hop {}: probe {} {way}, {} on {} in {}",
        h.seq,
        h.probe + 1,
        h.hook.name(),
        h.iface,
        h.netns
    );
    if let Some(p) = &h.packet {
        s.push_str(&format!(", {p}"));
    }
    if let Some(r) = &h.drop_reason {
        s.push_str(&format!(", dropped: {r}"));
    }
    s
}

fn fail(e: crate::pcap::PcapError) -> Error {
    Error::Usage(e.to_string())
}

/// The file, created before anything is attached (a path that cannot be written is a usage
/// error then, not after the probes).
pub struct Evidence(PcapNg<BufWriter<File>>);

pub fn create(path: &Path) -> Result<Evidence> {
    PcapNg::create(path).map(Evidence).map_err(fail)
}

impl Evidence {
    /// Writes the hops the kernel showed; a hop whose packet cannot be told (no IP) is left out.
    pub fn write(self, hops: &[Hop]) -> Result<()> {
        let mut pcap = self.0;
        write_hops(&mut pcap, hops)?;
        pcap.flush().map_err(fail)
    }
}

fn write_hops(pcap: &mut PcapNg<BufWriter<File>>, hops: &[Hop]) -> Result<()> {
    let clock = Clock::now();
    // Inferred hops (a bridge between two of its ports) were not seen: no evidence of them.
    for h in hops.iter().filter(|h| !h.inferred) {
        let icmp = h.icmp.map(|i| flow::Icmp { kind: i.kind, code: i.code, quoting: i.quoting });
        let Some(header) = flow::header(&h.tuple, h.tcp_flags, icmp) else { continue };
        let s = Sighting {
            at: clock.wall(h.mono_ns),
            netns: h.netns.to_string(),
            iface: h.iface.clone(),
            header,
            hop: comment(h),
        };
        pcap.write(&s).map_err(fail)?;
    }
    Ok(())
}
