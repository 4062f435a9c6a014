//! pwru (Debian sid's package) beside a trace on the isolation scenario, in the 6.12 VM of the
//! kernel matrix (pwru needs kprobes, which this host lacks): time from start to the first
//! report of the drop, and what each names.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::report::Section;
use crate::vm;

const CACHE: &str = "/var/cache/dockernet-trace/pwru";
const SID: &str =
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n";

/// pwru from sid, downloaded and unpacked once, through a sources list of our own (the
/// machine's apt configuration is left alone).
fn pwru_binary() -> Result<PathBuf> {
    let dir = Path::new(CACHE);
    let bin = dir.join("root/usr/bin/pwru");
    if bin.exists() {
        return Ok(bin);
    }
    std::fs::create_dir_all(dir.join("lists/partial"))?;
    std::fs::create_dir_all(dir.join("cache/archives/partial"))?;
    std::fs::write(dir.join("sources.list"), SID)?;
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(["-q", "-o", "APT::Sandbox::User=root"])
            .arg("-o")
            .arg(format!("Dir::Etc::sourcelist={}", dir.join("sources.list").display()))
            .args(["-o", "Dir::Etc::sourceparts=-"])
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", dir.join("lists").display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", dir.join("cache").display()))
            .args(args)
            .current_dir(dir);
        c
    };
    crate::run(&mut apt(&["update"]))?;
    crate::run(&mut apt(&["download", "pwru/sid"]))?;
    let deb = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download pwru/sid left no .deb")?;
    crate::run(Command::new("dpkg").arg("-x").arg(&deb).arg(dir.join("root")))?;
    if !bin.exists() {
        bail!("the pwru package has no usr/bin/pwru");
    }
    Ok(bin)
}

fn hex(s: &str) -> String {
    let bytes: Vec<u8> =
        (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What pwru's output names about the drop: the drop function (with the reason, when this
/// pwru knows how to read it there) and the function the packet was in just before.
/// Lines are `SKB CPU [PROCESS] FUNC TUPLE`.
fn pwru_names(out: &str) -> String {
    let func = |l: &str| {
        let mut words = l.split_whitespace().skip_while(|w| !w.ends_with(']'));
        words.nth(1).unwrap_or("").to_string()
    };
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("0x")).collect();
    let is_drop = |l: &&str| l.contains("kfree_skb") || l.contains("sk_skb_reason_drop");
    let Some(at) = lines.iter().position(is_drop) else { return "no drop line".into() };
    let skb = lines[at].split_whitespace().next().unwrap_or("");
    let before = lines[..at].iter().rev().find(|l| l.starts_with(skb)).map(|l| func(l));
    format!(
        "function {}, after {}; no rule, no Docker names",
        func(lines[at]),
        before.unwrap_or_else(|| "—".into())
    )
}

/// What the trace's verdict names: cause, function, reason, rule.
fn trace_names(out: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(out.trim()) else { return "no JSON verdict".into() };
    let l = &v["verdict"]["location"];
    format!(
        "cause {}, function {}, reason {}, rule `{}`",
        v["verdict"]["cause"].as_str().unwrap_or("?"),
        l["function"].as_str().unwrap_or("?"),
        l["drop_reason"].as_str().unwrap_or("?"),
        l["rule"].as_str().unwrap_or("none")
    )
}

pub fn run(quick: bool) -> Result<Section> {
    let _ = quick;
    let pwru = pwru_binary()?;
    let script = crate::root().join("tests/vm/bench.sh");
    let extra = vm::Extra {
        files: vec![(script, "/dnt/bench.sh".into())],
        programs: vec![(pwru, "/usr/bin/pwru".into())],
    };
    println!("bench: booting the 6.12 VM with pwru (a few minutes under TCG)");
    let (results, console) = vm::boot_with("6.12", &extra, Duration::from_secs(900))?;
    let bench: Vec<&Value> = results.iter().filter(|r| r["type"] == "bench").collect();
    let uname =
        results.iter().find(|r| r["type"] == "kernel").and_then(|r| r["uname"].as_str()).unwrap_or("?");
    let mut sec = Section::new("pwru", "pwru beside a trace (6.12 VM)");
    sec.line(format!(
        "`cargo xtask bench --only pwru`: Debian's {uname} kernel under qemu/TCG (about 20-50x slower than this host; compare the two with each other, not with the host), the isolation world of tests/vm (c1 on br-test → c3:8080 on br-other, Docker's isolation chains). pwru (sid) runs as `pwru --output-tuple 'dst host 172.31.0.2 and tcp dst port 8080'` while c1 retries a connection every 200 ms; `dockernet-trace --from netns:c1 --to netns:c3:8080` sends its own probe. Time from each one's start to its first report of the drop.\n"
    ));
    sec.line("| tool | start → first report of the drop | exit | what it names |\n|---|---|---|---|");
    for b in &bench {
        let name = b["name"].as_str().unwrap_or("?");
        let out = hex(b["stdout_hex"].as_str().unwrap_or(""));
        let ms = b["ms"].as_i64().unwrap_or(-1);
        let names = if name == "pwru" { pwru_names(&out) } else { trace_names(&out) };
        if ms < 0 {
            let err = hex(b["stderr_hex"].as_str().unwrap_or(""));
            sec.line(format!(
                "| {name} | no report | {} | {} |",
                b["exit"],
                err.lines().last().unwrap_or("").trim()
            ));
            continue;
        }
        sec.line(format!("| {name} | {:.1} s | {} | {names} |", ms as f64 / 1000.0, b["exit"]));
    }
    if bench.is_empty() {
        sec.line(format!("| — | the guest reported nothing | | console: {console} |"));
    }
    Ok(sec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_drop_function_and_the_one_before() {
        let out = "               SKB    CPU          PROCESS                     FUNC
0xff175a3241aba4e8      1   [<empty>(729)]    apparmor_ip_postroute 172.30.0.2:45106->172.31.0.2:8080(tcp)
0xff175a32419208e8      0      [pwru(428)]       __dev_forward_skb 172.30.0.2:45084->172.31.0.2:8080(tcp)
0xff175a3241aba4e8      1   [<empty>(729)]       __dev_forward_skb2 172.30.0.2:45106->172.31.0.2:8080(tcp)
0xff175a3241aba4e8      1 [ksoftirqd/0(17)]       sk_skb_reason_drop 172.30.0.2:45106->172.31.0.2:8080(tcp)
";
        assert_eq!(
            super::pwru_names(out),
            "function sk_skb_reason_drop, after __dev_forward_skb2; no rule, no Docker names"
        );
        assert_eq!(super::pwru_names("nothing"), "no drop line");
    }
}
