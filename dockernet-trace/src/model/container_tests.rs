use super::*;

#[test]
fn parses_network_modes() {
    assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
    assert_eq!(NetworkMode::parse("none"), NetworkMode::None);
    assert_eq!(NetworkMode::parse("default"), NetworkMode::Networks("bridge".into()));
    assert_eq!(NetworkMode::parse("heima-net"), NetworkMode::Networks("heima-net".into()));
    assert_eq!(NetworkMode::parse("container:316b4c"), NetworkMode::Container("316b4c".into()));
    assert_eq!(NetworkMode::parse("container:316b4c").to_string(), "container:316b4c");
}

/// Trimmed `docker inspect` output of a Docker 20.10 engine.
const WEB: &str = r#"{
  "Id": "316b4cf4074a2a1a07ea1410e99bbe2a48a9fc7337e610c88638abda0bea9e76",
  "Name": "/web",
  "State": {"Status": "running", "Running": true, "Pid": 4242},
  "HostConfig": {"NetworkMode": "labnet", "Dns": ["10.0.0.2"], "DnsSearch": ["corp.example"]},
  "NetworkSettings": {
    "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
              "443/tcp": null},
    "Networks": {"labnet": {"NetworkID": "fd26fbfb41d5", "Gateway": "172.30.0.1",
        "IPAddress": "172.30.0.2", "IPPrefixLen": 24, "MacAddress": "02:42:ac:1e:00:02"}}
  }}"#;

#[test]
fn converts_inspect_output() {
    let api: ContainerInspectResponse = serde_json::from_str(WEB).unwrap();
    let c = Container::from_inspect(&api).unwrap();
    assert_eq!(c.name, "web");
    assert!(c.is_running());
    assert_eq!(c.pid, Some(4242));
    assert_eq!(c.netns, Some(PathBuf::from("/proc/4242/ns/net")));
    assert_eq!(c.network_mode, NetworkMode::Networks("labnet".into()));
    let e = c.endpoint("labnet").unwrap();
    assert_eq!(e.ip, Some("172.30.0.2".parse().unwrap()));
    assert_eq!((e.prefix_len, e.network_id.as_str()), (24, "fd26fbfb41d5"));
    assert_eq!(e.gateway, Some("172.30.0.1".parse().unwrap()));
    assert_eq!(e.mac.as_deref(), Some("02:42:ac:1e:00:02"));
    assert_eq!((e.ip6, e.gateway6), (None, None));
    assert_eq!(c.ports.len(), 2, "443 is exposed, not published");
    assert_eq!((c.ports[0].container_port, c.ports[0].host_port), (80, 8080));
    assert_eq!(c.ports[0].proto, "tcp");
    assert!(c.is_named("web") && c.is_named("/web") && !c.is_named("316b"));
    assert_eq!(c.dns.dns, vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
    assert_eq!(c.dns.dns_search, vec!["corp.example"]);
}

#[test]
fn dual_stack_endpoint_has_both_addresses() {
    let s: EndpointSettings = serde_json::from_str(
        r#"{"NetworkID":"fd26","IPAddress":"172.30.0.2","IPPrefixLen":24,"Gateway":"172.30.0.1",
        "GlobalIPv6Address":"fd00:18::2","GlobalIPv6PrefixLen":64,"IPv6Gateway":"fd00:18::1"}"#,
    )
    .unwrap();
    let e = Endpoint::from_api("dual", &s);
    assert_eq!(e.ip_of(IpFamily::V6), Some("fd00:18::2".parse().unwrap()));
    assert_eq!((e.prefix_len_of(IpFamily::V6), e.prefix_len_of(IpFamily::V4)), (64, 24));
    assert_eq!(e.gateway_of(IpFamily::V6), Some("fd00:18::1".parse().unwrap()));
    assert_eq!(e.ips().count(), 2);
    let v6only: EndpointSettings =
        serde_json::from_str(r#"{"IPAddress":"","GlobalIPv6Address":"fd00:18::3","GlobalIPv6PrefixLen":64}"#)
            .unwrap();
    let e = Endpoint::from_api("v6only", &v6only);
    assert_eq!((e.ip, e.ips().collect::<Vec<_>>()), (None, vec!["fd00:18::3".parse::<IpAddr>().unwrap()]));
}

#[test]
fn stopped_container_has_no_namespace_or_address() {
    let json = r#"{"Id":"be2a95f677bc","Name":"/stopped",
      "State":{"Status":"created","Running":false,"Pid":0},
      "HostConfig":{"NetworkMode":"default"},
      "NetworkSettings":{"Ports":{},"Networks":{"bridge":{"NetworkID":"","IPAddress":"","IPPrefixLen":0,"Gateway":"","MacAddress":""}}}}"#;
    let api: ContainerInspectResponse = serde_json::from_str(json).unwrap();
    let c = Container::from_inspect(&api).unwrap();
    assert!(!c.is_running());
    assert_eq!((c.pid, c.netns.as_ref()), (None, None));
    let e = c.endpoint("bridge").unwrap();
    assert_eq!((e.ip, e.gateway, e.mac.as_ref()), (None, None, None));
}

#[test]
fn port_bindings_with_empty_host_ip_mean_all_addresses() {
    let map: PortMap = serde_json::from_str(
        r#"{"53/udp":[{"HostIp":"","HostPort":"5353"}],"9/tcp":[{"HostIp":"127.0.0.1","HostPort":""}]}"#,
    )
    .unwrap();
    let p = published_ports(&map);
    assert_eq!(p.len(), 1, "a binding without a host port is not published yet");
    assert_eq!(p[0].host_ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!((p[0].proto.as_str(), p[0].host_port), ("udp", 5353));
}
