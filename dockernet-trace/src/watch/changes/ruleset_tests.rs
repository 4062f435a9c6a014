use super::*;

/// What `nft monitor` (nftables 1.0.6) printed for a native table and for iptables-nft.
const MONITOR: &str = "\
add table inet fleett
# new generation 2 by process 28839 (nft)
add chain inet fleett c1 { type filter hook forward priority filter; policy accept; }
# new generation 3 by process 28840 (nft)
add rule inet fleett c1 ip daddr 10.9.9.9 drop
# new generation 4 by process 28842 (nft)
add rule inet fleett c1 ip daddr 10.9.9.8 drop
# new generation 5 by process 28843 (nft)
delete rule inet fleett c1 handle 2
delete rule inet fleett c1 handle 3
# new generation 6 by process 28844 (nft)
delete chain inet fleett c1
# new generation 7 by process 28846 (nft)
delete table inet fleett
# new generation 8 by process 28847 (nft)
add table ip filter
add chain ip filter FORWARD { type filter hook forward priority filter; policy accept; }
add rule ip filter FORWARD ip daddr 10.1.1.1 counter packets 0 bytes 0 drop
# new generation 9 by process 28849 (iptables)
create chain ip filter FLEETX
# new generation 10 by process 28851 (iptables)
delete rule ip filter FORWARD handle 2
# new generation 11 by process 28852 (iptables)
delete chain ip filter FLEETX
# new generation 12 by process 28853 (iptables)
add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }
# new generation 13 by process 28855 (iptables)
add set ip filter s1 { type ipv4_addr; }
flush chain ip filter DOCKER
";

fn details(lines: &[&str]) -> Vec<String> {
    let mut b = Batch::new(parse_chains(
        "table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy accept;\n\t}\n\tchain FLEETX {\n\t}\n}\n",
    ));
    for l in lines {
        if let Some(u) = parse_line(l) {
            b.add(u);
        }
    }
    b.take().into_iter().map(|c| c.line().detail.unwrap_or_default()).collect()
}

#[test]
fn monitor_lines_parse() {
    let updates: Vec<Update> = MONITOR.lines().filter_map(parse_line).collect();
    assert_eq!(updates.iter().filter(|u| **u == Update::Generation).count(), 12);
    assert_eq!(
        updates[4],
        Update::Rule {
            family: "inet".into(),
            table: "fleett".into(),
            chain: "c1".into(),
            op: ObjectOp::Added,
            rule: Some("ip daddr 10.9.9.9 drop".into())
        }
    );
    assert!(updates.contains(&Update::Chain {
        family: "ip".into(),
        table: "filter".into(),
        chain: "FORWARD".into(),
        op: ObjectOp::Added,
        policy: Some("drop".into())
    }));
    assert_eq!(
        updates.last(),
        Some(&Update::Flush { family: "ip".into(), table: "filter".into(), chain: Some("DOCKER".into()) })
    );
    assert_eq!(parse_line("add set ip filter s1 { type ipv4_addr; }"), None);
}

#[test]
fn each_chain_touched_is_one_change_with_table_and_chain_first() {
    assert_eq!(
        details(&["add rule ip filter DOCKER-USER ip saddr 172.17.0.2 counter packets 0 bytes 0 drop"]),
        ["ip filter DOCKER-USER: 1 rule added (ip saddr 172.17.0.2 counter packets 0 bytes 0 drop)"]
    );
    assert_eq!(
        details(&[
            "delete rule ip filter FORWARD handle 2",
            "delete rule ip filter FORWARD handle 3",
            "add rule ip filter FORWARD counter accept",
            "add rule ip nat DOCKER counter return",
            "add rule ip nat DOCKER counter return",
        ]),
        ["ip filter FORWARD: 1 rule added, 2 rules deleted", "ip nat DOCKER: 2 rules added"]
    );
    assert_eq!(
        details(&["add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }"]),
        ["ip filter FORWARD: policy drop"],
        "iptables -P FORWARD DROP"
    );
    assert_eq!(details(&["flush chain ip nat DOCKER"]), ["ip nat DOCKER: flushed"]);
    assert_eq!(
        details(&["insert rule ip filter DOCKER-USER ip daddr 192.168.213.9 counter packets 0 bytes 0 drop"]),
        ["ip filter DOCKER-USER: 1 rule added (ip daddr 192.168.213.9 counter packets 0 bytes 0 drop)"],
        "iptables -I"
    );
    assert_eq!(
        details(&[
            "add table inet t",
            "add chain inet t c { type filter hook input priority 0; policy accept; }"
        ]),
        ["inet t: table added", "inet t c: chain added, policy accept"]
    );
    assert_eq!(details(&["delete chain ip filter FLEETX"]), ["ip filter FLEETX: chain deleted"]);
    let mut b = Batch::default();
    MONITOR.lines().filter_map(parse_line).for_each(|u| b.add(u));
    let all: Vec<String> = b.take().into_iter().map(|c| c.line().detail.unwrap_or_default()).collect();
    assert!(
        all.contains(
            &"ip filter FORWARD: chain added, policy drop, 1 rule added, 1 rule deleted".to_string()
        ),
        "{all:#?}"
    );
}

#[test]
fn chains_are_read_from_the_listing() {
    let known =
        parse_chains("table inet x {\n\tchain a {\n\t}\n}\ntable ip nat {\n\tchain DOCKER {\n\t}\n}\n");
    assert!(known.contains(&("ip".into(), "nat".into(), "DOCKER".into())) && known.len() == 2);
}

#[test]
fn a_subscribed_monitor_is_recognised() {
    let table = "\
sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
0000000000000000 0   4242       00000000 0        0        0     2        0        1001
0000000000000000 12  4242       00000000 0        0        0     2        0        1002
";
    assert!(!listening(table, 4242), "a socket without groups is not listening yet");
    let ready = format!(
        "{table}0000000000000000 12  4242       00000040 0        0        0     2        0        1003\n"
    );
    assert!(listening(&ready, 4242));
    assert!(!listening(&ready, 4243));
}
