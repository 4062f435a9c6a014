//! `report` on a long recording: 200k drop lines (150 containers, four causes, one line every
//! 10 ms), written in `watch --record`'s line format, then summarised by `dockernet-trace
//! report` under GNU time. The report must stream: its memory may not grow with the file.
use std::{
    io::{BufWriter, Write},
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result, bail};

use super::{
    report::{Section, goal, stats},
    tool,
};

const LINES: usize = 200_000;
const CONTAINERS: usize = 150;
/// Causes of the contract's vocabulary, in turn.
const CAUSES: &[&str] = &["network_isolation", "firewall_drop", "no_listener", "no_route"];
const RSS_GOAL_MB: f64 = 30.0;

pub fn run(bin: &Path, quick: bool) -> Result<Section> {
    let file = std::env::temp_dir().join(format!("dnt-bench-recording.{}.jsonl", std::process::id()));
    write_recording(&file)?;
    let runs = if quick { 1 } else { 3 };
    let mut seconds = vec![];
    let mut rss_kb = 0u64;
    for _ in 0..runs {
        let (s, kb) = measure(bin, &file)?;
        seconds.push(s);
        rss_kb = rss_kb.max(kb);
    }
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&file);
    let mb = rss_kb as f64 / 1024.0;
    let mut s = Section::new("recording", "`report` on a long recording");
    s.line(format!(
        "A recording of {LINES} drop lines ({:.0} MB; {CONTAINERS} containers, causes {}) in `watch --record`'s \
         format, summarised by `dockernet-trace report FILE`; {runs} run(s): {} s (median (min–max)), peak RSS \
         (GNU time) {mb:.1} MB.",
        bytes as f64 / 1e6,
        CAUSES.join(", "),
        stats(&seconds).show(2),
    ));
    s.goals.push(goal(
        "report's peak RSS on a 200k-line recording",
        format!("{mb:.1} MB"),
        "≤ 30 MB",
        mb <= RSS_GOAL_MB,
        format!("{mb:.1} MB: report holds more than counts"),
    ));
    Ok(s)
}

fn write_recording(path: &Path) -> Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path).context("writing the recording")?);
    for i in 0..LINES {
        let c = i % CONTAINERS;
        let ms = i * 10;
        let (h, m, sec, milli) = (10 + ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        writeln!(
            w,
            r#"{{"schema":1,"t":"2026-12-02T{h:02}:{m:02}:{sec:02}.{milli:03}Z","kind":"drop","src":{{"ip":"172.17.0.{ip}","port":{port},"container":"c{c}","network":"bridge"}},"dst":{{"ip":"172.18.0.2","port":3306,"container":"mysql","network":"heima-net"}},"proto":"tcp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"{cause}","rule":"-A DOCKER-ISOLATION-STAGE-2 -o br-{c:012x} -j DROP","count":1}}"#,
            ip = c + 2,
            port = 40_000 + i % 20_000,
            cause = CAUSES[i % CAUSES.len()],
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Seconds to exit and peak RSS (kB) of one `report`.
fn measure(bin: &Path, file: &Path) -> Result<(f64, u64)> {
    let rss_file = file.with_extension("rss");
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(bin)
        .arg("report")
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    let kb = tool::peak_rss_kb(&rss_file);
    let summary = String::from_utf8_lossy(&out.stdout);
    // A report that did not read every line measured nothing.
    if !out.status.success() || !summary.contains(&format!("{LINES} events")) {
        bail!("report failed ({}): {}", out.status, summary.lines().take(3).collect::<Vec<_>>().join(" / "));
    }
    Ok((seconds, kb?))
}
