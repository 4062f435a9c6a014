//! The kernel modules a Docker host needs for the scenarios, with their dependencies in load
//! order (from modules.dep), decompressed into the initramfs: the guest's busybox insmod cannot
//! read .ko.xz, and the modules keep their BTF section, so /sys/kernel/btf/<module> appears.
use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::kernel::Kernel;

/// Bridge, veth and tc (the tool's hooks), and what Docker's iptables rules use, for both
/// iptables backends. A missing one fails the build unless the kernel has it built in.
const REQUIRED: &[&str] = &[
    "veth",
    "bridge",
    "br_netfilter",
    "sch_ingress",
    "cls_bpf",
    "nf_conntrack",
    "nf_nat",
    "x_tables",
    "xt_conntrack",
    "xt_addrtype",
    "xt_MASQUERADE",
    "xt_nat",
    "xt_tcpudp",
    "ip_tables",
    "iptable_filter",
    "iptable_nat", // iptables-legacy
    "nf_tables",
    "nft_compat",
    "nft_chain_nat", // iptables-nft
];
/// What iptables-nft and nft may ask for on some kernels; skipped where they do not exist.
const OPTIONAL: &[&str] = &["nft_ct", "nft_nat", "nft_masq", "nft_fib_ipv4", "nft_reject_ipv4", "ipt_REJECT"];

/// Module name as the kernel spells it: file stem without .ko(.xz|.zst|.gz), '-' as '_'.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// modules.dep: name → (path, the paths it depends on).
fn read_deps(dir: &Path) -> Result<HashMap<String, (String, Vec<String>)>> {
    let text =
        fs::read_to_string(dir.join("modules.dep")).context("modules.dep is missing (depmod did not run)")?;
    let mut map = HashMap::new();
    for line in text.lines() {
        let Some((path, deps)) = line.split_once(':') else { continue };
        let deps = deps.split_whitespace().map(str::to_string).collect();
        map.insert(module_name(path), (path.to_string(), deps));
    }
    Ok(map)
}

fn read_builtin(dir: &Path) -> HashSet<String> {
    let text = fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    text.lines().map(module_name).collect()
}

/// The module files to load, dependencies first, as paths relative to lib/modules/<release>.
pub fn load_order(kernel: &Kernel) -> Result<Vec<String>> {
    let dir = kernel.modules_dir();
    let deps = read_deps(&dir)?;
    let builtin = read_builtin(&dir);
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (names, required) in [(REQUIRED, true), (OPTIONAL, false)] {
        for name in names.iter() {
            let name = name.replace('-', "_");
            if builtin.contains(&name) {
                continue;
            }
            if !deps.contains_key(&name) {
                if required {
                    bail!("{} has no module {name} (neither a .ko nor built in)", kernel.package);
                }
                continue;
            }
            visit(&name, &deps, &mut seen, &mut order);
        }
    }
    Ok(order)
}

/// Depth-first: a module's dependencies go before it.
fn visit(
    name: &str,
    deps: &HashMap<String, (String, Vec<String>)>,
    seen: &mut HashSet<String>,
    order: &mut Vec<String>,
) {
    if !seen.insert(name.to_string()) {
        return;
    }
    let Some((path, needs)) = deps.get(name) else { return };
    for dep in needs {
        visit(&module_name(dep), deps, seen, order);
    }
    order.push(path.clone());
}

/// Copies the modules in `order` into `stage` (decompressed), writes the load list the guest's
/// /init reads (/dnt/modules.list), and a modules.dep for the kernel's own request_module.
pub fn stage(kernel: &Kernel, order: &[String], stage: &Path) -> Result<()> {
    let src = kernel.modules_dir();
    let dst = stage.join("lib/modules").join(&kernel.release);
    let mut list = String::new();
    for rel in order {
        let plain = strip_compression(rel);
        let out = dst.join(plain);
        fs::create_dir_all(out.parent().unwrap())?;
        decompress(&src.join(rel), &out)?;
        list.push_str(plain);
        list.push('\n');
    }
    for f in ["modules.builtin", "modules.builtin.modinfo", "modules.order"] {
        if src.join(f).exists() {
            fs::copy(src.join(f), dst.join(f))?;
        }
    }
    super::super::run(Command::new("depmod").arg("-b").arg(stage).arg(&kernel.release))?;
    fs::write(stage.join("dnt/modules.list"), list)?;
    Ok(())
}

fn strip_compression(path: &str) -> &str {
    [".xz", ".zst", ".gz"].iter().find_map(|ext| path.strip_suffix(ext)).unwrap_or(path)
}

fn decompress(src: &Path, dst: &Path) -> Result<()> {
    let tool = match src.extension().and_then(|e| e.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("gz") => "gzip",
        _ => {
            fs::copy(src, dst)?;
            return Ok(());
        }
    };
    let out = fs::File::create(dst)?;
    let status = Command::new(tool).arg("-dc").arg(src).stdout(out).status().with_context(|| {
        format!("{tool} is needed to unpack {} (apt-get install xz-utils zstd)", src.display())
    })?;
    if !status.success() {
        bail!("{tool} -dc {} failed", src.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions() {
        assert_eq!(module_name("kernel/net/bridge/br_netfilter.ko.xz"), "br_netfilter");
        assert_eq!(module_name("kernel/drivers/net/veth.ko"), "veth");
        assert_eq!(strip_compression("kernel/net/802/stp.ko.zst"), "kernel/net/802/stp.ko");
    }
}
