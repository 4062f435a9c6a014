//! `doctor` in the lab: a healthy Docker host gives no findings; each fault of the seed
//! incidents, made the way it happened there, gives exactly its finding (cause, network,
//! interface, container) and exit 1; bad input gives exit 2 and one line that says what to do.
use dockernet_trace_tests::{Lab, LabOptions};
use serde_json::Value;

/// Runs `doctor --json` in the lab: (exit code, JSON).
fn doctor(lab: &Lab) -> (i32, Value) {
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let json = out.json().unwrap_or_else(|e| panic!("{e}\nexit {}", out.code));
    (out.code, json)
}

#[test]
fn explore() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("appnet", &[]).unwrap();
    lab.create_network("custnet", &["-o", "com.docker.network.bridge.name=brcustom"]).unwrap();
    lab.server("web", 80, &["--network", "appnet", "-p", "8080:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    lab.run("worker", &["--network", "custnet"], &[]).unwrap();
    lab.connect("appnet", "worker").unwrap();
    let (code, json) = doctor(&lab);
    eprintln!("code {code}\n{}", serde_json::to_string_pretty(&json).unwrap());
    let out = lab.tool(&["doctor"]).unwrap();
    eprintln!("{}\n{}", out.stdout, out.stderr);
}
