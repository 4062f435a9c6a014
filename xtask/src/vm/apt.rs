//! Debian's kernel packages through apt: our own bookworm-backports source, the newest cloud
//! kernel of a series, and `apt-get download`.
use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail};

/// Our source file; Debian's own mirror, signed with the keyring debian.sources already uses.
const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/dockernet-trace-backports.sources";
const BACKPORTS: &str = "\
# Added by `cargo xtask vm-test` (dockernet-trace): Debian 12 backports, for the 6.12 kernel.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn apt_get(args: &[&str]) -> Command {
    let mut c = Command::new("apt-get");
    // Downloads land in our cache dir, which the _apt sandbox user cannot write.
    c.args(["-q", "-o", "APT::Sandbox::User=root"]).args(args).env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// Adds bookworm-backports unless some source already lists it, and refreshes only that source.
/// Backports is NotAutomatic: nothing installed on the machine changes because of it.
pub fn ensure_backports() -> Result<()> {
    if backports_listed()? {
        return Ok(());
    }
    if !Path::new(KEYRING).exists() {
        bail!("{KEYRING} is missing (package debian-archive-keyring); cannot add bookworm-backports");
    }
    println!("vm-test: adding bookworm-backports ({BACKPORTS_FILE})");
    std::fs::write(BACKPORTS_FILE, BACKPORTS).with_context(|| format!("writing {BACKPORTS_FILE}"))?;
    let ok = apt_get(&["update"])
        .args(["-o", &format!("Dir::Etc::sourcelist={BACKPORTS_FILE}")])
        .args(["-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        // Not fatal: bookworm-security also carries the 6.12 kernel (Debian's LTS builds).
        eprintln!("vm-test: warning: bookworm-backports at deb.debian.org is not reachable");
    }
    Ok(())
}

fn backports_listed() -> Result<bool> {
    for entry in std::fs::read_dir("/etc/apt/sources.list.d")?.flatten() {
        let p = entry.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !(name.ends_with(".sources") || name.ends_with(".list")) {
            continue; // e.g. *.disabled
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if text.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("bookworm-backports")) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The newest signed cloud kernel image of `series` ("6.1", "6.12") that apt knows, from any
/// source: `linux-image-6.1.0-56-cloud-amd64`, `linux-image-6.12.117+deb12-cloud-amd64`.
pub fn newest_cloud_kernel(series: &str) -> Result<Option<String>> {
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", &format!("^linux-image-{}\\.", series.replace('.', "\\."))])
        .output()
        .context("apt-cache is missing")?;
    let prefix = format!("linux-image-{series}.");
    let newest = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix) && n.ends_with("-cloud-amd64"))
        .max_by_key(|n| version_key(n))
        .map(str::to_string);
    Ok(newest)
}

/// Orders package names by the numbers in them: 6.12.90+deb12.1 > 6.12.90+deb12 > 6.12.9.
fn version_key(name: &str) -> Vec<u64> {
    let name = name.trim_start_matches("linux-image-").trim_end_matches("-cloud-amd64");
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Downloads `package`'s .deb into `dir`; refreshes the package lists once if the mirror no
/// longer has the version our lists name.
pub fn download(package: &str, dir: &Path) -> Result<()> {
    let fetch =
        || apt_get(&["download", package]).current_dir(dir).status().map(|s| s.success()).unwrap_or(false);
    if fetch() {
        return Ok(());
    }
    println!("vm-test: download failed; refreshing the package lists and retrying");
    super::super::run(&mut apt_get(&["update"]))?;
    if !fetch() {
        bail!("`apt-get download {package}` failed (is deb.debian.org reachable?)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn newest_by_numbers() {
        let mut v = [
            "linux-image-6.12.9+deb12-cloud-amd64",
            "linux-image-6.12.90+deb12.1-cloud-amd64",
            "linux-image-6.12.90+deb12-cloud-amd64",
        ];
        v.sort_by_key(|n| version_key(n));
        assert_eq!(v.last().unwrap(), &"linux-image-6.12.90+deb12.1-cloud-amd64");
        assert!(
            version_key("linux-image-6.1.0-56-cloud-amd64") > version_key("linux-image-6.1.0-9-cloud-amd64")
        );
    }
}
