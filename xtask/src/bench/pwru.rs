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

use super::report::{Section, stats};
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
    // As tests/vm/bench.sh's DROP_FUNCTIONS (kfree_skbmem frees every packet, dropped or not).
    let is_drop =
        |l: &&str| ["kfree_skb", "kfree_skb_reason", "sk_skb_reason_drop"].contains(&func(l).as_str());
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

/// One tool's runs as a row: the time to the first report (median, min and max of the runs
/// that reported), the exit codes, and what it named (each different naming once).
fn row(name: &str, runs: &[&&Value]) -> String {
    let secs: Vec<f64> = runs
        .iter()
        .filter_map(|b| b["ms"].as_i64())
        .filter(|ms| *ms >= 0)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    let mut exits: Vec<String> = runs.iter().map(|b| b["exit"].to_string()).collect();
    exits.dedup();
    let mut named: Vec<String> = Vec::new();
    for b in runs {
        let what = if b["ms"].as_i64().unwrap_or(-1) < 0 {
            let err = hex(b["stderr_hex"].as_str().unwrap_or(""));
            format!("no report: {}", err.lines().last().unwrap_or("").trim())
        } else {
            let out = hex(b["stdout_hex"].as_str().unwrap_or(""));
            if name == "pwru" { pwru_names(&out) } else { trace_names(&out) }
        };
        if !named.contains(&what) {
            named.push(what);
        }
    }
    let reported = format!("{} of {}", secs.len(), runs.len());
    format!(
        "| {name} | {reported} reported | {} | {} | {} |",
        stats(&secs).show(1),
        exits.join(", "),
        named.join("; ")
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
        "`cargo xtask bench --only pwru`: Debian's {uname} kernel under qemu/TCG (about 20-50x slower than this host; compare the two with each other, not with the host), the isolation world of tests/vm (c1 on br-test → c3:8080 on br-other, Docker's isolation chains). pwru (sid) runs as `pwru --output-tuple 'dst host 172.31.0.2 and tcp dst port 8080'` while c1 retries a connection every 200 ms; `dockernet-trace --from netns:c1 --to netns:c3:8080` sends its own probe. The two run in turn, three times each; time from each one's start to its first report of the drop, median (min–max) of the runs that reported.\n"
    ));
    sec.line(
        "| tool | runs | start → first report of the drop, s | exit | what it names |\n|---|---|---|---|---|",
    );
    for name in ["dockernet-trace", "pwru"] {
        let runs: Vec<&&Value> = bench.iter().filter(|b| b["name"] == name).collect();
        if runs.is_empty() {
            continue;
        }
        sec.line(row(name, &runs));
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
        let freed_only = "0xff175a3241aba4e8      1   [<empty>(729)]       kfree_skbmem 172.30.0.2:45106->172.31.0.2:8080(tcp)\n";
        assert_eq!(super::pwru_names(freed_only), "no drop line", "a free is no drop");
    }

    #[test]
    fn a_row_gives_the_median_of_the_runs_that_reported_and_each_naming_once() {
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let verdict = r#"{"verdict":{"cause":"network_isolation","location":{"function":"nft_do_chain","drop_reason":"NETFILTER_DROP","rule":"-A X -j DROP"}}}"#;
        let run = |ms: i64, exit: i32| {
            serde_json::json!({"name": "dockernet-trace", "ms": ms, "exit": exit,
                "stdout_hex": hex(verdict), "stderr_hex": hex("timed out\n")})
        };
        let runs = [run(21_900, 1), run(-1, 124), run(20_100, 1)];
        let refs: Vec<&serde_json::Value> = runs.iter().collect();
        let row = super::row("dockernet-trace", &refs.iter().collect::<Vec<_>>());
        assert_eq!(
            row,
            "| dockernet-trace | 2 of 3 reported | 21.0 (20.1–21.9) | 1, 124, 1 | cause network_isolation, \
             function nft_do_chain, reason NETFILTER_DROP, rule `-A X -j DROP`; no report: timed out |"
        );
    }
}
