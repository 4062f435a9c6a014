//! `doctor`'s human output and its bad input: grouped by network, colour only on a terminal
//! and never with NO_COLOR; an unreachable socket, no root, a host without Docker networks.
mod doctor_support;

use dockernet_trace_tests::{Lab, LabOptions};
use doctor_support::{healthy, output, raw_tool};

const ESC: char = '\u{1b}';

/// Healthy networks take one line each; a fault is shown under its network with its fix.
#[test]
fn human_output_groups_by_network_and_shows_the_fix() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let w = healthy(&lab);
    let (code, out, err) = output(&mut raw_tool(&lab, &[], &["doctor"]));
    assert_eq!(code, 0, "{out}\n{err}");
    for net in ["bridge", "appnet", "custnet"] {
        let lines: Vec<&str> = out.lines().filter(|l| l.contains(&format!("network {net} ("))).collect();
        assert_eq!(lines.len(), 1, "one line for healthy {net}:\n{out}");
        assert!(lines[0].contains("ok"), "{out}");
    }
    assert!(!out.contains(ESC), "no colour into a pipe:\n{out}");

    lab.host(&["ip", "link", "set", &w.cust.bridge, "down"]).unwrap();
    let (code, out, _) = output(&mut raw_tool(&lab, &[], &["doctor"]));
    assert_eq!(code, 1, "{out}");
    let at = out.find("network custnet").unwrap_or_else(|| panic!("custnet listed:\n{out}"));
    let section = &out[at..];
    assert!(section.contains("bridge_down"), "the cause under its network:\n{out}");
    assert!(section.contains(&format!("ip link set {} up", w.cust.bridge)), "its fix:\n{out}");
    assert!(out.lines().any(|l| l.contains("network appnet (") && l.contains("ok")), "{out}");
}

/// Colour on a terminal (a pty from `script`), none there with NO_COLOR.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let tool = dockernet_trace_tests::lab::tool_path();
    let in_pty = |no_color: bool| {
        let env = if no_color { "NO_COLOR=1 " } else { "" };
        let mut c = lab.command("script");
        c.args(["-qec", &format!("{env}{} doctor", tool.display()), "/dev/null"]);
        c.env("DOCKER_HOST", lab.docker_host()).env_remove("NO_COLOR");
        output(&mut c)
    };
    let (code, out, err) = in_pty(false);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(ESC), "colour on a terminal:\n{out:?}");
    let (code, out, err) = in_pty(true);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("no faults found") && !out.contains(ESC), "NO_COLOR:\n{out:?}");
}

#[test]
fn unreachable_docker_socket_is_named_with_the_way_out() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let sock = "unix:///run/dnt-no-such-dir/docker.sock";
    let (code, out, err) = output(raw_tool(&lab, &[], &["doctor"]).env("DOCKER_HOST", sock));
    assert_eq!(code, 2, "{out}\n{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("/run/dnt-no-such-dir/docker.sock") && err.contains("--docker-host"), "{err}");
    // The flag wins over the environment.
    let (code, _, err) = output(&mut raw_tool(&lab, &[], &["doctor", "--docker-host", sock]));
    assert_eq!(code, 2);
    assert!(err.contains("dnt-no-such-dir"), "{err}");
}

#[test]
fn not_root_says_which_privileges() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"];
    let (code, out, err) = output(&mut raw_tool(&lab, &nobody, &["doctor"]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("root") && err.contains("CAP_NET_ADMIN"), "{err}");
    assert!(out.is_empty(), "{out}");
}

/// `dockerd --bridge=none`: no docker0, no bridge networks at all: a clean report.
#[test]
fn a_host_without_docker_networks_is_a_clean_report() {
    let lab =
        Lab::start(LabOptions { extra_dockerd_args: vec!["--bridge=none".into()], ..Default::default() })
            .unwrap();
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let json = out.json().unwrap();
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(0), "{json:#}");
    let human = lab.tool(&["doctor"]).unwrap();
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(!human.stdout.contains("docker0"), "{}", human.stdout);
    assert!(human.stdout.contains("no faults found"), "{}", human.stdout);
}
