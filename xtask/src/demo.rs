//! `cargo xtask demo`, the main job: in an isolated lab, rebuild the seed incident "the custom
//! bridge lost its gateway IP after a VM suspend", then let dockernet-trace find it.
//! `cargo xtask lab` starts the same lab and keeps it for trying the tool by hand.
use anyhow::{Context, Result};
use dockernet_trace_tests::{Lab, LabOptions, lab::tool_path};

/// The seed's world: mysql on the custom network heima-net, nacos on bridge + heima-net.
fn heima(lab: &Lab) -> Result<dockernet_trace_tests::Network> {
    let net = lab.create_network("heima-net", &["--subnet", "172.18.0.0/16"])?;
    lab.server("mysql", 3306, &["--network", "heima-net"])?;
    lab.run("nacos", &[], &[])?;
    lab.connect("heima-net", "nacos")?;
    Ok(net)
}

fn show(lab: &Lab, title: &str, args: &[&str]) -> Result<i32> {
    println!("\n$ dockernet-trace {}   # {title}", args.join(" "));
    let out = lab.tool(args)?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    Ok(out.code)
}

pub fn run() -> Result<()> {
    super::setup::run()?;
    let bin = super::build::run()?;
    // SAFETY: single-threaded here; the lab reads DNT_BIN later.
    unsafe { std::env::set_var("DNT_BIN", &bin) };
    println!("demo: starting an isolated Docker lab (own network namespace and dockerd)");
    let lab = Lab::start(LabOptions::default())?;
    let net = heima(&lab)?;
    show(&lab, "healthy: the host reaches MySQL", &["--from", "host", "--to", "mysql:3306"])?;
    println!("\ndemo: simulating the VM suspend: {} loses {}", net.bridge, net.gateway);
    let prefix = net.subnet.split('/').nth(1).unwrap_or("16");
    lab.remove_bridge_address(&net.bridge, &format!("{}/{prefix}", net.gateway))?;
    let code = show(&lab, "after the suspend", &["--from", "host", "--to", "mysql:3306"])?;
    show(&lab, "the same fault found without traffic", &["doctor"])?;
    anyhow::ensure!(code == 1, "the trace should have reported the path as broken (exit 1), got {code}");
    // Apply the fix the trace proposed, and trace again.
    let json: serde_json::Value =
        serde_json::from_str(&lab.tool(&["--from", "host", "--to", "mysql:3306", "--json"])?.stdout)?;
    let fix = json["verdict"]["fix"][0].as_str().unwrap_or_default().to_string();
    println!("\n$ {fix}   # the fix it proposed, applied in the lab");
    let argv: Vec<&str> = fix.split_whitespace().collect();
    anyhow::ensure!(argv.first() == Some(&"ip"), "unexpected fix: {fix}");
    lab.host(&argv)?;
    let code = show(&lab, "after the fix", &["--from", "host", "--to", "mysql:3306"])?;
    lab.down();
    anyhow::ensure!(code == 0, "after the fix the trace should reach MySQL (exit 0), got {code}");
    println!("\ndemo: done; the lab is gone");
    Ok(())
}

pub fn lab() -> Result<()> {
    let lab = Lab::start(LabOptions::default())?;
    heima(&lab)?;
    println!("lab {} is up: network heima-net, containers mysql (tcp/3306) and nacos", lab.id);
    println!("  docker:  docker -H {} ps", lab.docker_host());
    println!(
        "  trace:   nsenter --net={} env DOCKER_HOST={} {} --from nacos --to mysql:3306",
        lab.netns_path(),
        lab.docker_host(),
        tool_path().display()
    );
    println!("Ctrl-C tears it down.");
    wait_for_interrupt().context("waiting for Ctrl-C")?;
    lab.down();
    Ok(())
}

fn wait_for_interrupt() -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()?;
    set.wait()?;
    Ok(())
}
