//! Attaching the tc classifiers to an interface, and removing what a crashed run left.
//!
//! tcx links (kernel 6.6+) belong to our file descriptors: they vanish when the process dies,
//! even by SIGKILL. Older kernels need a clsact qdisc plus a cls_bpf filter, which outlive the
//! process; those filters carry our programs' unique names so a later run can find and remove
//! them, and a clsact qdisc is deleted only if a state file says we created it. Runs that
//! attach cls_bpf filters register while they live, so that neither the cleanup after a
//! crashed run nor the end of one run removes what another run in the namespace still uses.
use std::{fs, os::unix::fs::MetadataExt, path::PathBuf};

use aya::{
    Ebpf,
    programs::{LinkOrder, SchedClassifier, TcAttachType, tc, tc::SchedClassifierLink},
};

use dockernet_trace_common::programs::{TC_EGRESS as EGRESS, TC_INGRESS as INGRESS};

use super::{EbpfError, hooks::program};

const STATE_DIR: &str = "/run/dockernet-trace/clsact";
const OWNERS_DIR: &str = "/run/dockernet-trace/owners";

/// How a program ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    Tcx,
    Netlink,
}

pub fn load(ebpf: &mut Ebpf) -> Result<(), EbpfError> {
    for name in [INGRESS, EGRESS] {
        let err = |source| EbpfError::Program { program: name.into(), source };
        let p: &mut SchedClassifier = program(ebpf, name)?.try_into().map_err(err)?;
        if p.fd().is_err() {
            p.load().map_err(err)?;
        }
    }
    Ok(())
}

/// A tcx link made: it detaches when dropped (see `detach_all`).
pub type TcxLink = SchedClassifierLink;

/// Attaches both directions to each of `ifaces` (programs must be loaded): how, per interface,
/// and the tcx links made (the caller detaches them; see `detach_all`).
pub fn attach(
    ebpf: &mut Ebpf,
    ifaces: &[String],
    prefer_tcx: bool,
) -> (Vec<Result<Attachment, EbpfError>>, Vec<TcxLink>) {
    let made = if prefer_tcx { tcx_all(ebpf, ifaces) } else { vec![] };
    let mut results = Vec::with_capacity(ifaces.len());
    for iface in ifaces {
        let mut how = Ok(Attachment::Tcx);
        for (name, dir) in [(INGRESS, TcAttachType::Ingress), (EGRESS, TcAttachType::Egress)] {
            if made.iter().any(|(i, n, _)| i == iface && *n == name) {
                continue;
            }
            if let Err(e) = attach_netlink(ebpf, iface, name, dir) {
                how = Err(e);
                break;
            }
            how = Ok(Attachment::Netlink);
        }
        results.push(how);
    }
    (results, made.into_iter().map(|(_, _, link)| link).collect())
}

/// A direct-action cls_bpf filter (kernels without tcx), behind a clsact qdisc.
fn attach_netlink(
    ebpf: &mut Ebpf,
    iface: &str,
    name: &'static str,
    dir: TcAttachType,
) -> Result<(), EbpfError> {
    let p: &mut SchedClassifier = program(ebpf, name)?
        .try_into()
        .map_err(|source| EbpfError::Program { program: name.into(), source })?;
    register_owner()?;
    ensure_clsact(iface)?;
    p.attach_with_options(iface, dir, tc::TcAttachOptions::Netlink(Default::default()))
        .map(drop)
        .map_err(|e| EbpfError::Tc { iface: iface.into(), reason: e.to_string() })
}

/// A tcx link made on an interface by one of the two programs.
pub type TcxMade = (String, &'static str, TcxLink);

/// A handle of its own on the loaded classifier `p` (aya's attach takes a program mutably, so
/// each thread that attaches needs one); `name` must be one of the two classifiers.
pub fn handle(p: &SchedClassifier, name: &str) -> Option<(&'static str, SchedClassifier)> {
    let name = [INGRESS, EGRESS].into_iter().find(|n| *n == name)?;
    match p.info().and_then(|info| SchedClassifier::from_program_info(info, name.into())) {
        Ok(h) => Some((name, h)),
        Err(e) => {
            log::debug!("{name}: no second handle: {e}");
            None
        }
    }
}

fn tcx_all(ebpf: &mut Ebpf, ifaces: &[String]) -> Vec<TcxMade> {
    let mut handles = Vec::new();
    for name in [INGRESS, EGRESS] {
        let Ok(p) = program(ebpf, name) else { continue };
        let Ok(p): Result<&mut SchedClassifier, _> = p.try_into() else { continue };
        handles.extend(handle(p, name));
    }
    tcx_attach(&handles, ifaces)
}

/// Every interface and direction through tcx at the same time, with `programs` (handles of
/// the loaded classifiers: see `handle`). Each attach waits for an RCU grace period (the
/// kernel swaps the device's program list); the kernel takes them in turn, but none waits for
/// our thread to come round. The links are taken out of the handles that made them.
pub fn tcx_attach(programs: &[(&'static str, SchedClassifier)], ifaces: &[String]) -> Vec<TcxMade> {
    let mut jobs = Vec::new();
    for (name, p) in programs {
        let dir = if *name == INGRESS { TcAttachType::Ingress } else { TcAttachType::Egress };
        for iface in ifaces {
            jobs.extend(handle(p, name).map(|(_, h)| (iface.clone(), *name, dir, h)));
        }
    }
    std::thread::scope(|s| {
        let threads: Vec<_> = jobs
            .into_iter()
            .map(|(iface, name, dir, mut p)| {
                s.spawn(move || {
                    let order = tc::TcAttachOptions::TcxOrder(LinkOrder::default());
                    let id = p.attach_with_options(&iface, dir, order).ok()?;
                    Some((iface, name, p.take_link(id).ok()?))
                })
            })
            .collect();
        threads.into_iter().filter_map(|t| t.join().ok().flatten()).collect()
    })
}

/// Detaches tcx links, all at the same time (each detach waits for an RCU grace period; the
/// waits overlap instead of adding up).
pub fn detach_all(links: Vec<TcxLink>) {
    std::thread::scope(|s| {
        for link in links {
            s.spawn(move || drop(link));
        }
    });
}

fn netns_inode() -> u64 {
    fs::metadata("/proc/self/ns/net").map(|m| m.ino()).unwrap_or(0)
}

fn state_file(iface: &str) -> Option<PathBuf> {
    let ifindex = nix::net::if_::if_nametoindex(iface).ok()?;
    Some(PathBuf::from(STATE_DIR).join(format!("{}-{ifindex}-{iface}", netns_inode())))
}

/// Adds a clsact qdisc if the interface has none, remembering on disk (before creating it, so
/// a kill in between cannot lose the fact) that it is ours.
fn ensure_clsact(iface: &str) -> Result<(), EbpfError> {
    let state = state_file(iface);
    if let Some(s) = &state {
        // Ours already (the other direction of this run made it).
        if s.exists() {
            return Ok(());
        }
        fs::create_dir_all(STATE_DIR)?;
        fs::write(s, b"")?;
    }
    match tc::qdisc_add_clsact(iface) {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Some(s) = &state {
                let _ = fs::remove_file(s);
            }
            // EEXIST: someone else's clsact, which we use but never delete.
            // (6.1's netlink says so only in its extended ack.)
            let text = e.to_string();
            if ["exists", "os error 17", "Exclusivity flag on"].iter().any(|m| text.contains(m)) {
                Ok(())
            } else {
                Err(EbpfError::Tc { iface: iface.into(), reason: format!("adding clsact: {e}") })
            }
        }
    }
}

/// `OWNERS_DIR/<netns inode>-<pid>` of this process.
fn owner_file() -> PathBuf {
    PathBuf::from(OWNERS_DIR).join(format!("{}-{}", netns_inode(), std::process::id()))
}

fn register_owner() -> std::io::Result<()> {
    fs::create_dir_all(OWNERS_DIR)?;
    fs::write(owner_file(), b"")
}

/// Whether another live run has cls_bpf filters in this namespace (files of dead runs go).
fn other_live_owner() -> bool {
    let prefix = format!("{}-", netns_inode());
    let Ok(dir) = fs::read_dir(OWNERS_DIR) else { return false };
    let mut alive = false;
    for entry in dir.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if pid == std::process::id() as i32 {
            continue;
        }
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            alive = true;
        } else {
            let _ = fs::remove_file(entry.path());
        }
    }
    alive
}

/// Removes our filters from every interface of this namespace, and the clsact qdiscs that a
/// state file marks as ours, unless another run is still using them. Returns the interfaces
/// that were cleaned.
pub fn remove_stale() -> Vec<String> {
    let mut cleaned = Vec::new();
    if other_live_owner() {
        log::info!("another dockernet-trace run has tc filters here: leaving them alone");
        return cleaned;
    }
    let Ok(ifaces) = nix::net::if_::if_nameindex() else { return cleaned };
    for i in ifaces.iter() {
        let iface = i.name().to_string_lossy().into_owned();
        let mut removed = false;
        for (name, dir) in [(INGRESS, TcAttachType::Ingress), (EGRESS, TcAttachType::Egress)] {
            removed |= tc::qdisc_detach_program(&iface, dir, name).is_ok();
        }
        if removed {
            cleaned.push(iface);
        }
    }
    remove_our_clsact();
    cleaned
}

/// Deletes the clsact qdiscs this run added, when dropped (see `Session`), unless another run
/// still has filters under them (the last one to leave deletes them).
pub struct ClsactCleanup;

impl Drop for ClsactCleanup {
    fn drop(&mut self) {
        let me = owner_file();
        if !me.exists() {
            return; // no cls_bpf filter was attached (tcx, or no tc at all)
        }
        if !other_live_owner() {
            remove_our_clsact();
        }
        let _ = fs::remove_file(me);
    }
}

/// Deletes the clsact qdiscs we created in this namespace (after our filters are gone).
pub fn remove_our_clsact() {
    let prefix = format!("{}-", netns_inode());
    let Ok(dir) = fs::read_dir(STATE_DIR) else { return };
    for entry in dir.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let Some((ifindex, iface)) = rest.split_once('-') else { continue };
        let same = nix::net::if_::if_nametoindex(iface).ok().map(|i| i.to_string());
        if same.as_deref() == Some(ifindex) {
            let _ = delete_clsact(iface);
        }
        let _ = fs::remove_file(entry.path());
    }
}

fn delete_clsact(iface: &str) -> std::io::Result<()> {
    // tc(8) is the simplest correct way to delete exactly the clsact qdisc by name; aya has
    // no call for it.
    let st = std::process::Command::new("tc")
        .args(["qdisc", "del", "dev", iface, "clsact"])
        .stderr(std::process::Stdio::null())
        .status()?;
    if st.success() { Ok(()) } else { Err(std::io::Error::other("tc qdisc del failed")) }
}
