//! Parsing the ENDPOINT arguments of `--from` and `--to` (see CONTRACT.md). Pure: what an
//! argument *names* is decided here, what it *is* on this host in `resolve`.
use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
};

use super::ModelError;

/// What an endpoint argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointSpec {
    /// `host`: the Docker host, i.e. the namespace the tool runs in.
    Host,
    /// An IPv4 address, or an IPv6 one (`[fd00::2]`, `[fd00::2]:3306`, bare `fd00::2`).
    Address(IpAddr),
    /// `netns:NAME`, a namespace under /run/netns.
    Netns(String),
    /// `pid:PID`, the namespace of a process.
    Pid(u32),
    /// A container name, ID or unique ID prefix, or else a DNS name: told apart when resolved.
    Name(String),
}

/// One parsed `--from`/`--to` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointArg {
    pub spec: EndpointSpec,
    pub port: Option<u16>,
    /// The argument as given, for messages.
    pub input: String,
}

impl EndpointArg {
    /// Parses `ENDPOINT[:PORT]`.
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        let bad = |reason: &str| ModelError::BadEndpoint { input: input.into(), reason: reason.into() };
        if input.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(rest) = input.strip_prefix("netns:") {
            let (name, port) = split_port(input, rest)?;
            check_netns_name(name).map_err(|r| bad(&r))?;
            return Ok(Self::new(EndpointSpec::Netns(name.into()), port, input));
        }
        if let Some(rest) = input.strip_prefix("pid:") {
            let (pid, port) = split_port(input, rest)?;
            let pid = pid.parse::<u32>().ok().filter(|p| *p > 0);
            let pid = pid.ok_or_else(|| bad("pid: needs a process ID (a positive number)"))?;
            return Ok(Self::new(EndpointSpec::Pid(pid), port, input));
        }
        if let Some(rest) = input.strip_prefix('[') {
            let (ip, port) = bracketed(input, rest)?;
            return Ok(Self::new(EndpointSpec::Address(ip), port, input));
        }
        if input.matches(':').count() > 1 {
            // Without brackets an IPv6 address has no room for a port: all of it is the address.
            return Ok(Self::new(EndpointSpec::Address(ipv6(input, input)?), None, input));
        }
        let (name, port) = split_port(input, input)?;
        let spec = if name.is_empty() {
            return Err(bad("nothing comes before the port"));
        } else if name == "host" {
            EndpointSpec::Host
        } else if name.chars().all(|c| c.is_ascii_digit() || c == '.') {
            // All digits and dots is meant as an address; never hand "1.2.3" to DNS (the
            // resolver would read it as 1.2.0.3).
            EndpointSpec::Address(IpAddr::V4(name.parse().map_err(|_| bad("not a valid IPv4 address"))?))
        } else {
            check_name(name).map_err(|r| bad(&r))?;
            EndpointSpec::Name(name.into())
        };
        Ok(Self::new(spec, port, input))
    }

    /// Parses a `--from` argument: a source takes no port.
    pub fn parse_source(input: &str) -> Result<Self, ModelError> {
        let arg = Self::parse(input)?;
        if arg.port.is_some() {
            return Err(ModelError::BadPort {
                input: input.into(),
                reason: "--from takes no port (the source port is chosen by the kernel)".into(),
            });
        }
        Ok(arg)
    }

    /// Parses a `--to` argument; `icmp` rejects a port.
    pub fn parse_target(input: &str, icmp: bool) -> Result<Self, ModelError> {
        let arg = Self::parse(input)?;
        if icmp && arg.port.is_some() {
            return Err(ModelError::BadPort {
                input: input.into(),
                reason: "icmp has no ports; drop ':PORT' or use --proto tcp or udp".into(),
            });
        }
        Ok(arg)
    }

    fn new(spec: EndpointSpec, port: Option<u16>, input: &str) -> Self {
        Self { spec, port, input: input.into() }
    }
}

impl FromStr for EndpointArg {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EndpointArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

/// `[ADDR]` or `[ADDR]:PORT`, `rest` being what follows the `[`.
fn bracketed(input: &str, rest: &str) -> Result<(IpAddr, Option<u16>), ModelError> {
    let bad = |reason: &str| ModelError::BadEndpoint { input: input.into(), reason: reason.into() };
    let (addr, after) = rest.split_once(']').ok_or_else(|| bad("'[' without its ']'"))?;
    let ip = ipv6(input, addr)?;
    if after.is_empty() {
        return Ok((ip, None));
    }
    if !after.starts_with(':') {
        return Err(bad("only ':PORT' may follow ']'"));
    }
    let (_, port) = split_port(input, after)?;
    Ok((ip, port))
}

/// An IPv6 address as an endpoint: IPv4-mapped ones (`::ffff:10.0.0.1`) are the IPv4 address;
/// link-local ones need an interface, which an endpoint cannot name.
fn ipv6(input: &str, text: &str) -> Result<IpAddr, ModelError> {
    let bad = |reason: &str| ModelError::BadEndpoint { input: input.into(), reason: reason.into() };
    let ip: Ipv6Addr = text.parse().map_err(|_| {
        if text.contains('%') {
            bad("an IPv6 zone (%IFACE) cannot be traced; use a global or unique local address")
        } else {
            bad("not a valid IPv6 address (with a port, write [ADDR]:PORT)")
        }
    })?;
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Ok(IpAddr::V4(v4));
    }
    if super::prefix::is_link_local(IpAddr::V6(ip)) {
        return Err(bad(
            "a link-local IPv6 address is valid only on one link, which an endpoint cannot name; use the global or unique local address",
        ));
    }
    Ok(IpAddr::V6(ip))
}

/// Splits `rest` at its last `:` into the endpoint and a port (1-65535).
fn split_port<'a>(input: &str, rest: &'a str) -> Result<(&'a str, Option<u16>), ModelError> {
    let Some((head, port)) = rest.rsplit_once(':') else { return Ok((rest, None)) };
    let bad = |why: &str| ModelError::BadPort { input: input.into(), reason: why.into() };
    let port = match port.parse::<u16>() {
        Ok(0) => return Err(bad("port 0 cannot be traced; use 1 to 65535")),
        Ok(p) => p,
        Err(_) if port.is_empty() => {
            return Err(bad("nothing follows ':'; give a port from 1 to 65535"));
        }
        Err(_) => return Err(bad(&format!("'{port}' is not a port number from 1 to 65535"))),
    };
    Ok((head, Some(port)))
}

/// Container names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, DNS names letters, digits, `-` and `.`:
/// accept the union.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("the name is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => Err(format!("a name cannot start with '{c}'")),
        _ => match chars.find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
            Some(c) => Err(format!("'{c}' cannot appear in a container or DNS name")),
            None => Ok(()),
        },
    }
}

/// `ip netns` names are file names under /run/netns.
fn check_netns_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err("netns: needs the name of a namespace under /run/netns".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> (EndpointSpec, Option<u16>) {
        let a = EndpointArg::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (a.spec, a.port)
    }

    fn err(s: &str) -> String {
        EndpointArg::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_each_kind() {
        use EndpointSpec::*;
        assert_eq!(spec("host"), (Host, None));
        assert_eq!(spec("host:3306"), (Host, Some(3306)));
        assert_eq!(spec("mysql"), (Name("mysql".into()), None));
        assert_eq!(spec("mysql:3306"), (Name("mysql".into()), Some(3306)));
        assert_eq!(spec("316b4cf4074a"), (Name("316b4cf4074a".into()), None));
        assert_eq!(spec("my_app.v2-1"), (Name("my_app.v2-1".into()), None));
        assert_eq!(spec("db.example.com:5432"), (Name("db.example.com".into()), Some(5432)));
        assert_eq!(spec("10.1.2.3"), (Address("10.1.2.3".parse().unwrap()), None));
        assert_eq!(spec("10.1.2.3:3306"), (Address("10.1.2.3".parse().unwrap()), Some(3306)));
        assert_eq!(spec("[fd00:18::2]:3306"), (Address("fd00:18::2".parse().unwrap()), Some(3306)));
        assert_eq!(spec("[fd00:18::3]"), (Address("fd00:18::3".parse().unwrap()), None));
        assert_eq!(spec("fd00:18::3"), (Address("fd00:18::3".parse().unwrap()), None));
        assert_eq!(spec("[::1]:80"), (Address("::1".parse().unwrap()), Some(80)));
        assert_eq!(spec("[::ffff:10.1.2.3]:80"), (Address("10.1.2.3".parse().unwrap()), Some(80)));
        assert_eq!(spec("netns:lab"), (Netns("lab".into()), None));
        assert_eq!(spec("netns:lab-1:80"), (Netns("lab-1".into()), Some(80)));
        assert_eq!(spec("pid:4242"), (Pid(4242), None));
        assert_eq!(spec("pid:4242:8080"), (Pid(4242), Some(8080)));
        assert_eq!(spec("hostname"), (Name("hostname".into()), None), "only exactly 'host' is the host");
        assert_eq!(spec("x:65535").1, Some(65535));
        assert_eq!(spec("x:1").1, Some(1));
    }

    #[test]
    fn keeps_the_input() {
        let a: EndpointArg = "mysql:3306".parse().unwrap();
        assert_eq!(a.to_string(), "mysql:3306");
    }

    #[test]
    fn rejects_bad_ports() {
        for s in
            ["mysql:", "mysql:abc", "mysql:0", "mysql:65536", "mysql:-1", "host:80x", "pid:1:x", "netns:a:"]
        {
            let e = err(s);
            assert!(e.starts_with("invalid port in"), "{s}: {e}");
            assert!(e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn rejects_bad_endpoints() {
        for s in [
            "",
            "1.2.3",
            "300.1.1.1",
            "1.2.3.4.5",
            "fe80::1",
            "[fe80::1]:80",
            "[fd00::1",
            "[fd00::1]80",
            "[fd00::1]:",
            "[10.0.0.1]",
            "fd00::1%eth0",
            "fd00:::1",
            "-x",
            "a/b",
            "a b",
            "pid:",
            "pid:0",
            "pid:abc",
            "netns:",
            "netns:a/b",
            "netns:..",
            ":80",
        ] {
            let e = err(s);
            assert!(e.starts_with("invalid endpoint") || e.starts_with("invalid port"), "{s}: {e}");
            assert!(!e.contains('\n'));
        }
        assert!(err("1.2.3").contains("not a valid IPv4 address"));
        assert!(err("fe80::1").contains("IPv6"));
        assert!(err("fd00::2:3306x").contains("[ADDR]:PORT"), "{}", err("fd00::2:3306x"));
        assert!(err("[fd00::1]:").starts_with("invalid port"));
    }

    #[test]
    fn source_and_target_port_rules() {
        assert!(EndpointArg::parse_source("web").is_ok());
        assert!(
            EndpointArg::parse_source("web:80").unwrap_err().to_string().contains("--from takes no port")
        );
        assert_eq!(EndpointArg::parse_target("web:80", false).unwrap().port, Some(80));
        assert!(EndpointArg::parse_target("web", true).is_ok());
        assert!(EndpointArg::parse_target("web:80", true).unwrap_err().to_string().contains("icmp"));
    }
}
