//! The resolver as one source sees it: its configuration and hosts file, the namespace its
//! queries leave from, and, for a container on a user-defined network, where Docker's
//! embedded DNS forwards.
use std::path::PathBuf;

use super::{
    DnsError, DockerDnsSettings, HostsFile, ResolverConfig, Upstreams,
    docker::{self, EMBEDDED_DNS},
    files::{FileRoot, HOSTS, RESOLV_CONF},
};

#[derive(Clone, Debug)]
pub struct ResolverView {
    /// `container:NAME`, `host`, `netns:NAME`, `pid:PID`.
    pub seen_from: String,
    /// The namespace queries are sent from; None: the tool's own (the host).
    pub netns: Option<PathBuf>,
    /// The resolv.conf read, for messages.
    pub resolv_conf_path: PathBuf,
    pub config: ResolverConfig,
    pub hosts: HostsFile,
    /// Where the embedded DNS forwards, when the source's resolv.conf names it.
    pub upstreams: Option<Upstreams>,
}

/// Who the source is, for loading its view.
#[derive(Clone, Debug)]
pub enum SourceKind {
    /// The host: the tool's own files and namespace.
    Host,
    /// A Docker container, by its init's pid, with its `docker run --dns...` settings.
    Container { name: String, pid: u32, netns: PathBuf, settings: DockerDnsSettings },
    /// `netns:NAME`.
    NamedNetns { name: String, netns: PathBuf },
    /// `pid:PID`: the process's own files and namespace.
    Process { pid: u32, netns: PathBuf },
}

impl ResolverView {
    pub fn load(source: &SourceKind) -> Result<Self, DnsError> {
        let (seen_from, root, netns) = match source {
            SourceKind::Host => ("host".to_string(), FileRoot::Host, None),
            SourceKind::Container { name, pid, netns, .. } => {
                (format!("container:{name}"), FileRoot::Process(*pid), Some(netns.clone()))
            }
            SourceKind::NamedNetns { name, netns } => {
                (format!("netns:{name}"), FileRoot::NamedNetns(name.clone()), Some(netns.clone()))
            }
            SourceKind::Process { pid, netns } => {
                (format!("pid:{pid}"), FileRoot::Process(*pid), Some(netns.clone()))
            }
        };
        let resolv_conf_path = root.path_of(RESOLV_CONF);
        let text = root.read(RESOLV_CONF)?.ok_or_else(|| DnsError::ResolverFile {
            path: resolv_conf_path.clone(),
            reason: "it does not exist".into(),
        })?;
        let config = ResolverConfig::parse(&text);
        // glibc reads a missing or unreadable hosts file as an empty one.
        let hosts = root.read(HOSTS).ok().flatten().map(|t| HostsFile::parse(&t)).unwrap_or_default();
        let upstreams = match source {
            SourceKind::Container { settings, .. } if config.nameservers.contains(&EMBEDDED_DNS) => {
                Some(docker::embedded_upstreams(&text, settings, host_file_for_docker().as_deref()))
            }
            _ => None,
        };
        Ok(Self { seen_from, netns, resolv_conf_path, config, hosts, upstreams })
    }
}

/// The host's resolv.conf as Docker reads it (None: missing or unreadable).
fn host_file_for_docker() -> Option<String> {
    let etc = FileRoot::Host.read(RESOLV_CONF).ok().flatten()?;
    match docker::host_file_path(&etc) {
        docker::HOST_RESOLV_CONF => Some(etc),
        other => std::fs::read_to_string(other).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_view_is_its_own_files() {
        let loaded = ResolverView::load(&SourceKind::Host);
        let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") else {
            assert!(loaded.unwrap_err().to_string().contains("/etc/resolv.conf"));
            return;
        };
        let v = loaded.unwrap();
        assert_eq!(v.seen_from, "host");
        assert_eq!(v.netns, None);
        assert_eq!(v.config, ResolverConfig::parse(&text));
        assert!(v.upstreams.is_none());
    }

    #[test]
    fn a_gone_process_is_a_one_line_error() {
        let source = SourceKind::Process { pid: u32::MAX - 1, netns: "/proc/4294967294/ns/net".into() };
        let e = ResolverView::load(&source).unwrap_err().to_string();
        assert!(e.starts_with("cannot read /proc/4294967294/root/etc/resolv.conf"), "{e}");
        assert!(!e.contains('\n'));
    }
}
