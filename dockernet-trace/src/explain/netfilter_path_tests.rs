use super::*;
use crate::netfilter::{Ruleset, parse_iptables_save, parse_nft_json};

const FRESH: &str = include_str!("../netfilter/fixtures/docker20-fresh.iptables");
const ADMIN: &str = include_str!("../netfilter/fixtures/nft-admin.nft.json");

fn rules() -> Ruleset {
    let mut tables = parse_iptables_save(FRESH).unwrap();
    tables.extend(parse_nft_json(ADMIN).unwrap());
    Ruleset { tables, notes: vec![] }
}

/// The lab's host: docker0 172.17.0.1/16 with one container port, an uplink with a default
/// route.
pub fn host() -> HostView {
    HostView::for_tests(
        &["172.17.0.1", "10.200.0.2"],
        &[("172.17.0.0/16", "docker0"), ("10.200.0.0/24", "uplink0"), ("0.0.0.0/0", "uplink0")],
        &[("veth1", "docker0")],
        &["docker0"],
    )
}

fn tcp(src: &str, dst: &str, dport: u16) -> Tuple {
    Tuple { proto: Proto::Tcp, src: src.parse().unwrap(), sport: 40000, dst: dst.parse().unwrap(), dport }
}

pub fn dropped(t: Tuple, device: &str) -> Dropped {
    Dropped {
        tuple: t,
        entry: None,
        local_origin: false,
        iif: None,
        oif: None,
        drop_device: DropDevice::Device(device.into()),
        ct: Some(CtState::New),
        hook: None,
    }
}

fn hooks(w: &Walk) -> Vec<(Hook, Layer)> {
    w.sites.iter().map(|s| (s.hook, s.layer)).collect()
}

#[test]
fn the_host_view_routes_and_maps_ports_to_bridges() {
    let h = host();
    assert_eq!(h.device_to("172.17.0.5".parse().unwrap()).as_deref(), Some("docker0"));
    assert_eq!(h.device_to("8.8.8.8".parse().unwrap()).as_deref(), Some("uplink0"));
    assert_eq!(h.device_to("172.17.0.1".parse().unwrap()).as_deref(), Some("lo"));
    assert_eq!(h.ip_device("veth1"), "docker0");
    assert_eq!(h.ip_device("uplink0"), "uplink0");
}

/// A container's packet out of the host: prerouting, then forward, where the admin's table
/// rejects it for sure, so postrouting is never reached.
#[test]
fn a_forwarded_packet_meets_prerouting_then_forward_and_stops_there() {
    let rs = rules();
    let ev = crate::netfilter::eval::Evaluator::new(&rs);
    let mut d = dropped(tcp("172.17.0.2", "10.200.0.9", 3306), "docker0");
    d.iif = Some("veth1".into());
    let w = walk(&ev, &host(), &d);
    assert_eq!(hooks(&w), [(Hook::Prerouting, Layer::Ip), (Hook::Forward, Layer::Ip)]);
    let forward = &w.sites[1];
    assert_eq!(forward.evaluation.packet.iif, Iface::Is("docker0".into()));
    assert_eq!(forward.evaluation.packet.oif, Iface::Is("uplink0".into()));
    assert!(forward.evaluation.certainly_stops() && forward.fits_the_kernel);
    assert_eq!(w.drop_sites().len(), 1);
    assert!(!w.ambiguous);
}

/// The host's own packet: output and postrouting; to its own address, back in through lo to
/// input, where the admin's policy drops what is not allowed.
#[test]
fn a_packet_of_the_host_to_itself_goes_out_and_back_in_through_lo() {
    let rs = rules();
    let ev = crate::netfilter::eval::Evaluator::new(&rs);
    let mut d = dropped(tcp("10.200.0.2", "10.200.0.2", 3306), "lo");
    d.local_origin = true;
    let w = walk(&ev, &host(), &d);
    assert_eq!(
        hooks(&w),
        [
            (Hook::Output, Layer::Ip),
            (Hook::Postrouting, Layer::Ip),
            (Hook::Prerouting, Layer::Ip),
            (Hook::Input, Layer::Ip)
        ]
    );
    // `iif "lo" accept` comes first in the admin's input chain: nothing stops it.
    assert!(w.drop_sites().is_empty(), "{:?}", w.sites.last().unwrap().evaluation.outcomes);
}

/// A packet from outside to a host service: prerouting and input, where the admin's input
/// policy drops it; the drop device (the uplink) fits input.
#[test]
fn a_packet_to_a_host_service_meets_input() {
    let rs = rules();
    let ev = crate::netfilter::eval::Evaluator::new(&rs);
    let d = dropped(tcp("10.200.0.9", "10.200.0.2", 3306), "uplink0");
    let w = walk(&ev, &host(), &d);
    assert_eq!(hooks(&w), [(Hook::Prerouting, Layer::Ip), (Hook::Input, Layer::Ip)]);
    let sites = w.drop_sites();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].hook, Hook::Input);
    assert!(sites[0].fits_the_kernel);
}

/// Two containers on one bridge: the bridge's hooks and, through br_netfilter, the IP
/// layer's, all with the bridge as both devices.
#[test]
fn a_bridged_packet_meets_the_bridge_hooks_and_the_ip_hooks() {
    let rs = rules();
    let ev = crate::netfilter::eval::Evaluator::new(&rs);
    let mut d = dropped(tcp("172.17.0.2", "172.17.0.3", 3306), "veth1");
    d.iif = Some("veth1".into());
    let w = walk(&ev, &host(), &d);
    let ip: Vec<Hook> = w.sites.iter().filter(|s| s.layer == Layer::Ip).map(|s| s.hook).collect();
    assert_eq!(ip[..2], [Hook::Prerouting, Hook::Forward]);
    let forward = w.sites.iter().find(|s| s.hook == Hook::Forward && s.layer == Layer::Ip).unwrap();
    assert_eq!(forward.evaluation.packet.oif, Iface::Is("docker0".into()));
    // The admin's forward chain rejects tcp/3306 whatever the devices: it stops here.
    assert!(forward.evaluation.certainly_stops());
}

/// firewalld's IPv6 reverse-path filter at prerouting: passed when the kernel's input device is
/// where the host routes the source back; a maybe when the device was only guessed.
#[test]
fn a_reverse_path_filter_is_judged_by_the_route_back_from_the_reported_device() {
    let mut tables = parse_iptables_save(FRESH).unwrap();
    tables.extend(parse_nft_json(include_str!("../netfilter/fixtures/firewalld-docker.nft.json")).unwrap());
    let rs = Ruleset { tables, notes: vec![] };
    let ev = crate::netfilter::eval::Evaluator::new(&rs);
    let host = HostView::for_tests(
        &["fd00:17::1", "2001:db8:1::2"],
        &[("fd00:17::/64", "docker0"), ("::/0", "uplink0")],
        &[("veth1", "docker0")],
        &["docker0"],
    );
    let rpfilter = |w: &Walk| {
        w.sites[0]
            .evaluation
            .outcomes
            .iter()
            .any(|o| o.by.as_ref().is_some_and(|r| r.text.contains("fib saddr")))
    };
    let mut d = dropped(tcp("fd00:17::2", "2001:db8:9::9", 443), "docker0");
    d.iif = Some("veth1".into());
    let w = walk(&ev, &host, &d);
    assert_eq!(w.sites[0].evaluation.packet.route_back, Some(true));
    assert!(!rpfilter(&w), "{:#?}", w.sites[0].evaluation);
    // The same source arriving from the uplink is not routed back there: not known, a maybe.
    d.iif = Some("uplink0".into());
    let w = walk(&ev, &host, &d);
    assert_eq!(w.sites[0].evaluation.packet.route_back, None);
    assert!(rpfilter(&w), "{:#?}", w.sites[0].evaluation);
    // The kernel said no device: the one guessed from the route is no evidence of it.
    d.iif = None;
    assert_eq!(walk(&ev, &host, &d).sites[0].evaluation.packet.route_back, None);
}
