//! /etc/hosts: `ADDRESS NAME [ALIAS...]` lines, looked up before DNS as the C library does
//! (`hosts: files dns`). Names match without regard to case; all matching lines count, in
//! file order.
use std::net::IpAddr;

use super::Family;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsFile {
    entries: Vec<(IpAddr, Vec<String>)>,
}

impl HostsFile {
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or_default();
                let mut words = line.split_whitespace();
                // A bad address makes glibc skip the line; so do we.
                let addr: IpAddr = words.next()?.parse().ok()?;
                let names: Vec<String> =
                    words.map(|w| w.trim_end_matches('.').to_ascii_lowercase()).collect();
                (!names.is_empty()).then_some((addr, names))
            })
            .collect();
        Self { entries }
    }

    /// The addresses of `name` of the asked family, in file order, without duplicates.
    pub fn lookup(&self, name: &str, family: Family) -> Vec<IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut out: Vec<IpAddr> = Vec::new();
        for (addr, names) in &self.entries {
            if family.wants(addr) && names.contains(&name) && !out.contains(addr) {
                out.push(*addr);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
        fe00::0\tip6-localnet\n# a comment 10.9.9.9 nope\n172.18.0.3\t3f2a1b9c0d1e\n\
        10.0.3.7 db.corp.example db # pinned by --add-host\n10.0.3.8 DB.corp.example\n\
        not-an-ip somename\n10.0.3.7 db.corp.example\n2001:db8::7 db.corp.example\n";

    #[test]
    fn finds_names_and_aliases_of_the_family() {
        let h = HostsFile::parse(DOCKER_HOSTS);
        let v4 = |s: &str| h.lookup(s, Family::Ipv4);
        assert_eq!(
            v4("db.corp.example"),
            vec!["10.0.3.7".parse::<IpAddr>().unwrap(), "10.0.3.8".parse().unwrap()]
        );
        assert_eq!(v4("DB"), vec!["10.0.3.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(v4("db.corp.example."), v4("db.corp.example"));
        assert_eq!(v4("localhost"), vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(v4("nope").is_empty() && v4("somename").is_empty() && v4("pinned").is_empty());
        let both = h.lookup("db.corp.example", Family::Ipv4AndIpv6);
        assert_eq!(both.len(), 3);
        assert!(both[2].is_ipv6());
    }

    #[test]
    fn an_empty_file_knows_nothing() {
        assert!(HostsFile::parse("").lookup("localhost", Family::Ipv4).is_empty());
    }
}
