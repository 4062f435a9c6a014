//! What the trace shows of the path and how it says it (issue 11): the bridge on a bridged
//! path, a faulty bridge as the location, and human output without misleading words.
mod common;

use common::{OUTSIDE_IP, assert_cause, heima, outside_server, trace};
use dockernet_trace_tests::{Lab, LabOptions};
use serde_json::Value;

fn hops(json: &Value) -> &Vec<Value> {
    json["hops"].as_array().expect("hops")
}

/// Exit 2 and one line on stderr containing `needle`.
fn one_line_error(lab: &Lab, args: &[&str], needle: &str) {
    let out = lab.tool(args).unwrap();
    assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

/// Item 10: between two containers of one network the hops name the bridge that forwarded;
/// here (no kprobe/fentry) inferred from the ports' master and marked so.
#[test]
fn the_bridge_on_a_bridged_path() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, true);
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql:3306", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    let h = hops(&json);
    let at = h
        .iter()
        .position(|x| x["hook"] == "br_forward" && x["forward"] == true)
        .unwrap_or_else(|| panic!("no bridge hop: {json:#}"));
    let bridge = &h[at];
    assert_eq!(bridge["iface"], net.bridge.as_str(), "{bridge}");
    assert_eq!(bridge["bridge"], net.bridge.as_str(), "{bridge}");
    assert_eq!(bridge["netns"], "host");
    let observed = json["coverage"]["kprobes"] == true || json["coverage"]["fentry"] == true;
    assert_eq!(bridge["inferred"], !observed, "{bridge}");
    // Between nacos's port and mysql's port of that bridge.
    let mysql = lab.container("mysql").unwrap();
    let port = lab.host_veth(&mysql, "eth0").unwrap();
    assert!(h[at + 1..].iter().any(|x| x["iface"] == port.as_str() && x["forward"] == true), "{json:#}");
    assert!(h[..at].iter().any(|x| x["netns"] == "host" && x["iface"] != port.as_str()), "{json:#}");
    let out = lab.tool(&["--from", "nacos", "--to", "mysql:3306", "--count", "1"]).unwrap();
    assert!(
        out.stdout.contains(&format!("{} ", net.bridge)) && out.stdout.contains("br_forward"),
        "{}",
        out.stdout
    );
}

/// Item 11: a bridge that is down is the location; where the probe went instead is evidence.
#[test]
fn a_bridge_down_is_the_location() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    lab.set_link(&net.bridge, false).unwrap();
    let (code, json) = trace(&lab, &["--from", "host", "--to", "mysql:3306", "--count", "1"]);
    assert_cause(&json, "bridge_down");
    assert_eq!(code, 1);
    let loc = &json["verdict"]["location"];
    assert_eq!(
        (loc["netns"].as_str(), loc["iface"].as_str()),
        (Some("host"), Some(net.bridge.as_str())),
        "{json:#}"
    );
    assert!(json["verdict"]["evidence"].to_string().contains("last seen: host uplink0"), "{json:#}");
    assert!(
        json["verdict"]["fix"].to_string().contains(&format!("ip link set {} up", net.bridge)),
        "{json:#}"
    );
}

/// The readability list: ICMP errors show the quoted packet's own tuple; packets consumed
/// after delivery are not drops; ICMP probes have ids; plurals; no Debug text; a chain policy
/// is a policy; clap's errors and `--timeout 0` are one line.
#[test]
fn human_output_says_what_happened() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, true);
    let (nacos, mysql) = (lab.container("nacos").unwrap(), lab.container("mysql").unwrap());
    let (src, dst) = (nacos.ip("heima-net"), mysql.ip("heima-net"));
    let text = |args: &[&str]| {
        let out = lab.tool(args).unwrap();
        assert!(!out.stdout.contains("panicked"), "{}", out.stderr);
        out.stdout
    };
    // The port unreachable quotes nacos → mysql:5353, and comes from mysql.
    let out = text(&["--from", "nacos", "--to", "mysql:5353", "--proto", "udp", "--count", "1"]);
    let quoted = format!("ICMP 3/3 from {dst} about {src}:");
    let line = out.lines().find(|l| l.contains(&quoted)).unwrap_or_else(|| panic!("{quoted}:\n{out}"));
    assert!(line.contains(&format!("→ {dst}:5353")), "{line}");
    assert!(out.contains(", 1 probe\n"), "{out}");
    // A successful ping: the reply consumed after delivery is no drop; ICMP probes have ids.
    let out = text(&["--from", "nacos", "--to", "mysql", "--proto", "icmp", "--count", "2"]);
    assert!(out.contains("✓ ok") && out.contains(", 2 probes\n"), "{out}");
    assert!(!out.contains("✗ dropped"), "{out}");
    assert!(out.contains("probe 1 (id ") && !out.contains("source port"), "{out}");
    // No Rust Debug text in errors, doctor or kernel-check.
    let out = lab.tool(&["--from", "nacos", "--to", "mysql"]).unwrap();
    assert!(out.stderr.contains("needs a port for tcp"), "{}", out.stderr);
    let kc = text(&["kernel-check"]);
    assert!(kc.contains("coverage: tc yes") && !kc.contains("Coverage {"), "{kc}");
    // clap's own errors, and a zero timeout, in one line.
    one_line_error(&lab, &["--from", "nacos", "--to", "mysql:3306", "--bogus"], "--bogus");
    one_line_error(&lab, &["--from", "nacos"], "--to");
    one_line_error(&lab, &["--from", "nacos", "--to", "mysql:3306", "--timeout", "0"], "more than zero");
    // A chain policy is a policy.
    outside_server(&lab, OUTSIDE_IP, 80);
    lab.iptables(&["-P", "FORWARD", "DROP"]).unwrap();
    lab.iptables(&["-F", "FORWARD"]).unwrap();
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let summary = json["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("the policy DROP of chain FORWARD (table filter)"), "{json:#}");
    assert!(!summary.contains("rule `-P"), "{json:#}");
    assert!(json["verdict"]["evidence"].to_string().contains("(1 probe packet dropped)"), "{json:#}");
    // The gateway's origin in words.
    lab.remove_bridge_address(&net.bridge, "172.18.0.1/16").unwrap();
    let doctor = text(&["doctor"]);
    assert!(doctor.contains("expects gateway 172.18.0.1 (as its containers were given)"), "{doctor}");
    assert!(["(Ipam)", "(Endpoint)", "(Assumed)"].iter().all(|d| !doctor.contains(d)), "{doctor}");
}
