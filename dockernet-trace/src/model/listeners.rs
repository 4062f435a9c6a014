//! Who listens on a port of the host: a published port is served either through NAT to the
//! container, or by docker-proxy. Docker 20.10 without the userland proxy still binds the
//! port in dockerd itself, only to reserve it: that socket completes handshakes but forwards
//! nothing, so it must not count as serving the port.
use std::{fs, io::Read, net::IpAddr};

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub inode: u64,
    pub pid: Option<u32>,
    /// The process name (`comm`), e.g. docker-proxy, dockerd, nginx.
    pub command: Option<String>,
}

impl Listener {
    /// True for a process that serves the port on the container's behalf or on its own;
    /// false for dockerd's reservation.
    pub fn serves(&self) -> bool {
        self.command.as_deref() != Some("dockerd")
    }
}

/// The socket listening (TCP) or bound (UDP) on `port` in the caller's network namespace.
pub fn host_listener(proto: &str, port: u16) -> Option<Listener> {
    let files: &[&str] = if proto == "udp" {
        &["/proc/net/udp", "/proc/net/udp6"]
    } else {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    };
    let inode =
        files.iter().find_map(|f| listening_inode(&read_table(f).unwrap_or_default(), proto, port))?;
    let (pid, command) = owner(inode).map_or((None, None), |(p, c)| (Some(p), Some(c)));
    Some(Listener { inode, pid, command })
}

/// Whether a socket listens (TCP) or is bound (UDP) on `port` in the calling thread's network
/// namespace (run it on a thread inside the namespace to ask). None when the tables cannot be
/// read.
pub fn bound_here(proto: &str, port: u16) -> Option<bool> {
    let root = "/proc/thread-self/net";
    let names: &[&str] = if proto == "udp" { &["udp", "udp6"] } else { &["tcp", "tcp6"] };
    // Opened here (a table is the namespace's it was opened in), read side by side: each read
    // walks the kernel's socket hash.
    let files: Vec<fs::File> =
        names.iter().filter_map(|n| fs::File::open(format!("{root}/{n}")).ok()).collect();
    if files.is_empty() {
        return None;
    }
    Some(std::thread::scope(|s| {
        let reads: Vec<_> = files
            .into_iter()
            .map(|f| s.spawn(|| read_all(f).is_some_and(|t| listening_inode(&t, proto, port).is_some())))
            .collect();
        // (The scope waits for a read `any` did not need.)
        reads.into_iter().any(|r| r.join().unwrap_or(false))
    }))
}

/// A /proc/net socket table, in as few reads as it allows: each read walks the kernel's whole
/// socket hash from the start (milliseconds on a host sized for many connections), and
/// `fs::read_to_string`, knowing no size, starts with reads of 32 bytes (a dozen walks).
fn read_table(path: &str) -> Option<String> {
    read_all(fs::File::open(path).ok()?)
}

fn read_all(mut f: fs::File) -> Option<String> {
    let mut table = Vec::with_capacity(TABLE_READ);
    f.read_to_end(&mut table).ok()?;
    String::from_utf8(table).ok()
}

/// Room for a table at the start: with none, std's first read is a 32-byte probe.
const TABLE_READ: usize = 64 * 1024;

/// Where a docker-proxy process forwards to: its `-container-ip` and `-container-port`.
pub fn proxy_target(pid: u32) -> Option<(IpAddr, u16)> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> =
        cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    proxy_args(&args)
}

/// `-container-ip X -container-port Y` from docker-proxy's arguments (one or two dashes).
fn proxy_args(args: &[String]) -> Option<(IpAddr, u16)> {
    let value = |flag: &str| {
        let at = args.iter().position(|a| a.trim_start_matches('-') == flag)?;
        args.get(at + 1)
    };
    Some((value("container-ip")?.parse().ok()?, value("container-port")?.parse().ok()?))
}

/// The inode of the socket in a /proc/net/{tcp,udp}[6] listing that listens on `port`.
pub fn listening_inode(table: &str, proto: &str, port: u16) -> Option<u64> {
    let hex = format!(":{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let (local, state, inode) = (cols.get(1)?, cols.get(3)?, cols.get(9)?);
        // tcp: 0A is LISTEN; udp: 07 is an unconnected bound socket.
        let listening = *state == "0A" || (proto == "udp" && *state == "07");
        (local.ends_with(&hex) && listening).then(|| inode.parse().ok()).flatten()
    })
}

/// Every address and port the caller's namespace listens on (TCP) or is bound to (UDP).
pub fn host_sockets(proto: &str) -> Vec<(std::net::IpAddr, u16)> {
    let files: &[&str] = if proto == "udp" {
        &["/proc/net/udp", "/proc/net/udp6"]
    } else {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    };
    files.iter().flat_map(|f| listening_sockets(&read_table(f).unwrap_or_default(), proto)).collect()
}

/// The listening (or bound) sockets of a /proc/net/{tcp,udp}[6] listing: local address and port.
pub fn listening_sockets(table: &str, proto: &str) -> Vec<(std::net::IpAddr, u16)> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (local, state) = (cols.get(1)?, cols.get(3)?);
            let listening = *state == "0A" || (proto == "udp" && *state == "07");
            let (addr, port) = local.split_once(':')?;
            listening.then(|| Some((proc_addr(addr)?, u16::from_str_radix(port, 16).ok()?))).flatten()
        })
        .collect()
}

/// /proc/net's hex address: IPv4 as one little-endian word, IPv6 as four.
fn proc_addr(hex: &str) -> Option<std::net::IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect::<Option<_>>()?;
    match words.as_slice() {
        [w] => Some(std::net::Ipv4Addr::from(w.to_le_bytes()).into()),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            Some(std::net::Ipv6Addr::from(bytes).into())
        }
        _ => None,
    }
}

/// The process holding socket `inode` (first found), with its name.
fn owner(inode: u64) -> Option<(u32, String)> {
    let target = format!("socket:[{inode}]");
    for proc_entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = proc_entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = fs::read_dir(proc_entry.path().join("fd")) else { continue };
        let holds =
            fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target));
        if holds {
            let comm = fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
            return Some((pid, comm.trim().to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listening_socket() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 176236 1 0 100 0 0 10 0\n   \
            1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 176237 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inode(table, "tcp", 8080), Some(176236));
        assert_eq!(listening_inode(table, "tcp", 8081), None, "established, not listening");
        let l = Listener { inode: 1, pid: Some(1), command: Some("dockerd".into()) };
        assert!(!l.serves());
        assert!(Listener { command: Some("docker-proxy".into()), ..l }.serves());
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(listening_sockets(table, "tcp"), [(ip("0.0.0.0"), 8080)]);
        let v6 = "  sl  local_address rem_address st\n   0: 00000000000000000000000001000000:0CEA 00000000000000000000000000000000:0000 0A 0 0 0\n";
        assert_eq!(listening_sockets(v6, "tcp"), [(ip("::1"), 3306)]);
    }

    #[test]
    fn reads_docker_proxys_target() {
        let args: Vec<String> = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"
            .split(' ')
            .map(str::to_string)
            .collect();
        assert_eq!(proxy_args(&args), Some(("172.17.0.2".parse().unwrap(), 80)));
        assert_eq!(proxy_args(&args[..8]), None);
    }
}
