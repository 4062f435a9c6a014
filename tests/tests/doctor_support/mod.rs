//! Helpers of the doctor tests: the healthy world they start from, running `doctor`, and
//! comparing its findings with the expected ones as a whole (an extra finding is a false
//! alarm, so it fails the test as surely as a missing one).
#![allow(dead_code)]
use std::process::Command;

use dockernet_trace_tests::{Container, Lab, Network, lab::tool_path};
use serde_json::Value;

/// The healthy host of issue 3: the default bridge, a user network with Docker's bridge name,
/// one with a custom bridge name, containers on each, and a published port.
pub struct World {
    pub bridge: Network,
    pub app: Network,
    pub cust: Network,
    /// httpd on appnet, published as 8080 -> 80.
    pub web: Container,
    /// On the default bridge.
    pub client: Container,
    /// On custnet and appnet.
    pub worker: Container,
}

pub fn healthy(lab: &Lab) -> World {
    let app = lab.create_network("appnet", &[]).unwrap();
    let cust = lab.create_network("custnet", &["-o", "com.docker.network.bridge.name=brcustom"]).unwrap();
    let web = lab.server("web", 80, &["--network", "appnet", "-p", "8080:80"]).unwrap();
    let client = lab.run("client", &[], &[]).unwrap();
    lab.run("worker", &["--network", "custnet"], &[]).unwrap();
    let worker = lab.connect("appnet", "worker").unwrap();
    World { bridge: lab.network("bridge").unwrap(), app, cust, web, client, worker }
}

/// `doctor --json` in the lab: (exit code, JSON).
pub fn doctor(lab: &Lab) -> (i32, Value) {
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let json = out.json().unwrap_or_else(|e| panic!("{e}\nexit {}", out.code));
    assert_eq!(json["schema"], 1, "{json:#}");
    (out.code, json)
}

/// One finding, by the fields a test can predict: cause, network, interface, container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub cause: String,
    pub network: Option<String>,
    pub iface: Option<String>,
    pub container: Option<String>,
}

pub fn finding(cause: &str, network: Option<&str>, iface: Option<&str>, container: Option<&str>) -> Seen {
    let s = |o: Option<&str>| o.map(str::to_string);
    Seen { cause: cause.into(), network: s(network), iface: s(iface), container: s(container) }
}

/// A finding about a network and its interface, no container.
pub fn on_net(cause: &str, net: &Network, iface: &str) -> Seen {
    finding(cause, Some(&net.name), Some(iface), None)
}

pub fn seen(json: &Value) -> Vec<Seen> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let mut all: Vec<Seen> = json["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| Seen {
            cause: s(&f["cause"]).unwrap_or_default(),
            network: s(&f["network"]),
            iface: s(&f["iface"]),
            container: s(&f["container"]),
        })
        .collect();
    all.sort();
    all
}

/// Runs doctor and asserts exactly `expected` (in any order), the exit code that goes with
/// them, and that every finding explains itself and says how to fix it.
pub fn assert_findings(lab: &Lab, mut expected: Vec<Seen>) -> Value {
    let (code, json) = doctor(lab);
    expected.sort();
    let pretty = serde_json::to_string_pretty(&json).unwrap();
    assert_eq!(seen(&json), expected, "doctor --json:\n{pretty}");
    assert_eq!(code, if expected.is_empty() { 0 } else { 1 }, "exit code; doctor --json:\n{pretty}");
    for f in json["findings"].as_array().unwrap() {
        assert!(f["summary"].as_str().is_some_and(|s| s.len() > 20), "no summary: {f:#}");
        let fixes = f["fix"].as_array().map(Vec::len).unwrap_or(0);
        assert!(fixes > 0, "no fix: {f:#}");
    }
    json
}

/// The fix commands of the findings with `cause`.
pub fn fixes(json: &Value, cause: &str) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["cause"] == cause)
        .flat_map(|f| f["fix"].as_array().unwrap().iter().filter_map(|x| x.as_str().map(str::to_string)))
        .collect()
}

/// The tool in the lab's namespace with only the given environment changes (the lab's own
/// `tool` sets NO_COLOR).
pub fn raw_tool(lab: &Lab, prefix: &[&str], args: &[&str]) -> Command {
    let mut c = lab.command(prefix.first().copied().unwrap_or(&tool_path().to_string_lossy()));
    if !prefix.is_empty() {
        c.args(&prefix[1..]).arg(tool_path());
    }
    c.args(args).env("DOCKER_HOST", lab.docker_host()).env_remove("NO_COLOR");
    c
}

/// (exit code, stdout, stderr) of a command.
pub fn output(c: &mut Command) -> (i32, String, String) {
    let o = c.stdin(std::process::Stdio::null()).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
