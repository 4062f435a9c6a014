//! Tables Docker did not write: firewalld's, ufw's chains, an admin's `inet` table.
use super::*;
use crate::netfilter::RejectWith;

fn firewalld() -> Ruleset {
    rules(&[TWO_NETWORKS], &[FIREWALLD])
}

#[test]
fn firewalld_rejects_a_bridge_in_no_zone() {
    // br-4ebb9b640f67 lost its zone (a `firewall-cmd --reload`): it falls to the public zone,
    // which forwards nothing, and filter_FORWARD's last rule rejects.
    let rs = firewalld();
    let p = tcp("172.18.0.3", "198.51.100.7", 443).iif("br-4ebb9b640f67").oif("eth0");
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &p);
    let o = exact(&e);
    assert_eq!(o.fate, Fate::Rejected(RejectWith::Icmpx("admin-prohibited".into())));
    let r = o.by.as_ref().unwrap();
    assert_eq!(
        (r.table.as_str(), r.chain.as_str(), r.text.as_str()),
        ("firewalld", "filter_FORWARD", "reject with icmpx admin-prohibited")
    );
    assert!(o.path.iter().any(|s| s.chain == "filter_FWD_public"), "{:?}", o.path);
    // Docker's own chains accepted it first.
    assert_eq!(o.accepted_by[0].table, "filter");
}

#[test]
fn firewalld_lets_the_docker_zone_through() {
    let rs = firewalld();
    let ev = Evaluator::new(&rs);
    let out = tcp("172.19.0.3", "198.51.100.7", 443).iif("br-6bd8ac3e1bc2").oif("eth0").to_local(false);
    let o = exact(&ev.evaluate(Hook::Forward, &out)).clone();
    assert_eq!(o.fate, Fate::Passed);
    assert!(o.path.iter().any(|s| s.chain == "filter_FWD_docker"));
    // A published port: `ct status dnat accept`.
    let pre = ev.evaluate(Hook::Prerouting, &tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0").to_local(true));
    let fwd = ev.evaluate(Hook::Forward, &exact(&pre).packet.clone().oif("br-6bd8ac3e1bc2"));
    assert_eq!(exact(&fwd).accepted_by[1].text, "ct status dnat accept");
    // The host's services: the docker zone accepts everything, the public zone ssh.
    let to_host = tcp("172.17.0.2", "172.17.0.1", 3306).iif("docker0").to_local(true);
    passes(&ev.evaluate(Hook::Input, &to_host));
    passes(&ev.evaluate(Hook::Input, &tcp("10.0.0.9", "10.0.0.2", 22).iif("eth0").to_local(true)));
    let blocked = tcp("10.0.0.9", "10.0.0.2", 3306).iif("eth0").to_local(true);
    assert_eq!(by(exact(&ev.evaluate(Hook::Input, &blocked))), "reject with icmpx admin-prohibited");
    // IPv6-only rules (rpfilter, ICMPv6) never touch IPv4 packets.
    assert!(exact(&ev.evaluate(Hook::Prerouting, &out)).assumed.is_empty());
}

#[test]
fn ufw_input_policy_drops_containers_reaching_the_host() {
    let rs = rules(&[UFW], &[]);
    let ev = Evaluator::new(&rs);
    let p = tcp("172.17.0.2", "172.17.0.1", 3306).iif("docker0").to_local(true);
    let o = exact(&ev.evaluate(Hook::Input, &p)).clone();
    assert_eq!((o.fate.clone(), by(&o)), (Fate::Dropped, "-P INPUT DROP"));
    assert!(o.path.iter().any(|s| s.chain == "ufw-user-input"));
    // ssh is allowed; Docker's forwarding comes before ufw's.
    passes(&ev.evaluate(Hook::Input, &tcp("10.0.0.9", "10.0.0.2", 22).iif("eth0").to_local(true)));
    let out = ev.evaluate(Hook::Forward, &tcp("172.17.0.2", "198.51.100.7", 443).iif("docker0").oif("eth0"));
    assert_eq!(exact(&out).accepted_by[0].text, "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT");
}

#[test]
fn admin_input_policy_and_forward_reject() {
    let rs = rules(&[TWO_NETWORKS], &[ADMIN]);
    let ev = Evaluator::new(&rs);
    let to_host = tcp("172.18.0.3", "172.18.0.1", 3306).iif("br-4ebb9b640f67").to_local(true);
    let o = exact(&ev.evaluate(Hook::Input, &to_host)).clone();
    let r = o.by.unwrap();
    assert_eq!(
        (o.fate, r.text.as_str(), r.chain.as_str(), r.is_policy()),
        (Fate::Dropped, "policy drop", "input", true)
    );
    assert_eq!(r.to_string(), "table inet admin chain input");
    // A ping may be let through by the rate limit, or not: two endings, ranked.
    let ping = Packet::icmp(ip("172.18.0.3"), ip("172.18.0.1")).iif("br-4ebb9b640f67").to_local(true);
    let e = ev.evaluate(Hook::Input, &ping);
    let Decision::Candidates(c) = e.decision() else { panic!("{:?}", e.decision()) };
    assert_eq!(c.len(), 2);
    match e.dropped_by() {
        Decision::Exact(o) => assert!(o.by.as_ref().unwrap().is_policy()),
        d => panic!("{d:?}"),
    }
    // Replies of the host's own connections come back.
    let reply = tcp("10.0.0.9", "10.0.0.2", 40000).iif("eth0").to_local(true).ct(Some(CtState::Established));
    passes(&ev.evaluate(Hook::Input, &reply));
}

/// firewalld's IPv6 reverse-path filter (`fib saddr . mark . iif oif missing drop`) decides on
/// whether the source is routed back by the input interface: what the caller says of it.
#[test]
fn firewalld_reverse_path_filter_follows_the_route_back() {
    let rs = firewalld();
    let ev = Evaluator::new(&rs);
    let p = tcp("fd00:18::2", "2001:db8::7", 443).iif("br-4ebb9b640f67").oif("eth0");
    passes(&ev.evaluate(Hook::Prerouting, &p.clone().route_back(Some(true))));
    let o = exact(&ev.evaluate(Hook::Prerouting, &p.clone().route_back(Some(false)))).clone();
    assert_eq!(
        (o.fate.clone(), by(&o)),
        (Fate::Dropped, "meta nfproto ipv6 fib saddr . mark . iif oif missing drop")
    );
    // Not known: it may drop.
    let e = ev.evaluate(Hook::Prerouting, &p);
    assert!(e.may_pass() && e.outcomes.iter().any(|o| o.fate == Fate::Dropped), "{e:#?}");
}

#[test]
fn iptables_rpfilter_follows_the_route_back() {
    let save = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i a -m rpfilter -j ACCEPT\n\
        -A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n";
    let mut rs = Ruleset::default();
    rs.tables.extend(crate::netfilter::parse_ip6tables_save(save).unwrap());
    let ev = Evaluator::new(&rs);
    let p = tcp("fd00::5", "2001:db8::1", 443).iif("b").oif("c");
    passes(&ev.evaluate(Hook::Prerouting, &p.clone().route_back(Some(true))));
    let o = exact(&ev.evaluate(Hook::Prerouting, &p.route_back(Some(false)))).clone();
    assert_eq!((o.fate.clone(), by(&o)), (Fate::Dropped, "-A PREROUTING -m rpfilter --invert -j DROP"));
    // A bare `-m rpfilter` matches only with a route back.
    let on_a = tcp("fd00::5", "2001:db8::1", 443).iif("a").oif("c").route_back(Some(true));
    assert_eq!(
        exact(&ev.evaluate(Hook::Prerouting, &on_a)).accepted_by[0].text,
        "-A PREROUTING -i a -m rpfilter -j ACCEPT"
    );
}
