//! `--pcap FILE`: evidence for Wireshark. Every sighting of a packet (a probe's hop in a trace,
//! a drop in a watch) becomes an enhanced packet block with its time and, as its comment,
//! where it was seen; every interface seen gets one interface block, named after the interface
//! and described with its network namespace. A NAT shows from one packet to the next, as the
//! addresses the kernel saw at each hop differ. The kernel's events hold headers only, so the
//! packets are made up from them ([`packet`]), and each comment says so.
pub mod flow;
pub mod packet;

use std::{
    borrow::Cow,
    collections::HashMap,
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use pcap_file::{
    DataLink,
    pcapng::{
        PcapNgWriter,
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
    },
};

pub use self::packet::{Header, L4};

/// The note each packet's comment ends with.
pub const RECONSTRUCTED: &str = "packet reconstructed from the kernel's event (headers only, no payload)";

/// One packet seen somewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub at: SystemTime,
    /// Network namespace, as the tool names it (`host`, `container:nacos`).
    pub netns: String,
    pub iface: String,
    pub header: Header,
    /// Where and how it was seen, for the packet's comment (`hop 3: tc_egress ...`).
    pub hop: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("cannot write {path}: {why}")]
    Write { path: String, why: String },
    #[error(transparent)]
    Packet(#[from] packet::PacketError),
}

/// A pcapng file being written.
pub struct PcapNg<W: Write> {
    writer: PcapNgWriter<W>,
    name: String,
    interfaces: HashMap<(String, String), u32>,
}

impl PcapNg<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the section header.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let name = path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| PcapError::Write { path: name.clone(), why: e.to_string() };
        let f = File::create(path).map_err(|e| fail(&e))?;
        let writer = PcapNgWriter::new(BufWriter::new(f)).map_err(|e| fail(&e))?;
        Ok(PcapNg { writer, name: name.clone(), interfaces: HashMap::new() })
    }
}

impl<W: Write> PcapNg<W> {
    pub fn new(w: W, name: &str) -> Result<Self, PcapError> {
        let writer =
            PcapNgWriter::new(w).map_err(|e| PcapError::Write { path: name.into(), why: e.to_string() })?;
        Ok(PcapNg { writer, name: name.into(), interfaces: HashMap::new() })
    }

    fn fail(&self, e: impl std::fmt::Display) -> PcapError {
        PcapError::Write { path: self.name.clone(), why: e.to_string() }
    }

    /// The interface block of (netns, iface), written the first time it is needed.
    fn interface(&mut self, netns: &str, iface: &str) -> Result<u32, PcapError> {
        let key = (netns.to_string(), iface.to_string());
        if let Some(id) = self.interfaces.get(&key) {
            return Ok(*id);
        }
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(iface.to_string())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(format!(
                    "{iface} in network namespace {netns}"
                ))),
                // pcap-file writes packet times in nanoseconds; the default would be micro.
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.writer.write_pcapng_block(block).map_err(|e| self.fail(e))?;
        let id = self.interfaces.len() as u32;
        self.interfaces.insert(key, id);
        Ok(id)
    }

    pub fn write(&mut self, s: &Sighting) -> Result<(), PcapError> {
        let data = s.header.bytes()?;
        let interface_id = self.interface(&s.netns, &s.iface)?;
        let block = EnhancedPacketBlock {
            interface_id,
            timestamp: s.at.duration_since(UNIX_EPOCH).unwrap_or_default(),
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options: vec![EnhancedPacketOption::Comment(Cow::Owned(format!("{}; {RECONSTRUCTED}", s.hop)))],
        };
        self.writer.write_pcapng_block(block).map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Flushes what is buffered (a watch writes as it goes; a killed one keeps what was flushed).
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.writer.get_mut().flush().map_err(|e| self.fail(e))
    }

    pub fn into_inner(self) -> W {
        self.writer.into_inner()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
