//! The DNS leg for names with IPv6 addresses, in a dual-stack lab: a DNS server of the test's
//! own in the sink namespace (over IPv4) answers AAAA for one name and A for another; the
//! container asks through Docker's embedded DNS. With `-6` the leg asks AAAA; without, A, and
//! AAAA after a NOERROR without one, as the container's C library would go on to use its
//! IPv6 address. The trace then follows the answer, over IPv6.
mod common;

use std::net::Ipv4Addr;

use common::{assert_cause, trace};
use dockernet_trace_tests::{
    Lab,
    dns_server::{Behaviour, DnsServer},
    lab::{OUTSIDE_IP, OUTSIDE_IP6, ipv6_options},
};
use serde_json::Value;

const V6_ONLY: &str = "v6only.corp.example";
const V4_ONLY: &str = "v4only.corp.example";

fn queries(json: &Value) -> Vec<String> {
    json["resolution"]["queries"]
        .as_array()
        .map(|q| q.iter().map(|q| format!("{} {}", q["qtype"], q["result"])).collect())
        .unwrap_or_default()
}

#[test]
fn names_with_ipv6_addresses_are_resolved_and_traced_over_ipv6() {
    let lab = Lab::start(ipv6_options()).unwrap();
    lab.outside_server6(OUTSIDE_IP6, 8080).unwrap();
    let outside: Ipv4Addr = OUTSIDE_IP.parse().unwrap();
    let zone = [
        (V6_ONLY, Behaviour::Answer6(vec![OUTSIDE_IP6.parse().unwrap()])),
        (V4_ONLY, Behaviour::Answer(vec![outside])),
    ];
    let _server = DnsServer::start(&format!("/run/netns/{}", lab.sink), outside, &zone).unwrap();
    lab.create_dual_network("dual6", "172.30.61.0/24", "fd00:61::/64").unwrap();
    lab.run("app6", &["--network", "dual6", "--dns", OUTSIDE_IP], &[]).unwrap();

    // No -6: A first; NOERROR without one, and the container has IPv6: AAAA, then the path.
    let (code, json) = trace(&lab, &["--from", "app6", "--to", &format!("{V6_ONLY}:8080")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["resolution"]["answer"], OUTSIDE_IP6, "{json}");
    assert_eq!(json["to"]["ip"], OUTSIDE_IP6);
    assert_eq!(json["from"]["ip"], lab.ip6("app6", "dual6").unwrap().as_str());
    let asked = queries(&json);
    assert!(asked.first().is_some_and(|q| q.contains("\"A\"")), "{asked:?}");
    assert!(asked.iter().any(|q| q.contains("AAAA") && q.contains("answer")), "{asked:?}");

    // -6: AAAA only.
    let (code, json) = trace(&lab, &["-6", "--from", "app6", "--to", &format!("{V6_ONLY}:8080")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0, "{json}");
    assert!(queries(&json).iter().all(|q| q.contains("AAAA")), "{:?}", queries(&json));

    // -6 to a name with an IPv4 address only: the name exists, without the address asked for.
    let (code, json) = trace(&lab, &["-6", "--from", "app6", "--to", &format!("{V4_ONLY}:8080")]);
    assert_cause(&json, "dns_failure");
    assert_eq!(code, 1);
    assert_eq!(json["verdict"]["leg"], "dns");
    let summary = json["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("no IPv6 address (AAAA record)"), "{summary}");
}
