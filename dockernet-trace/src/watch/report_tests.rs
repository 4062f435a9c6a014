use std::io::Write;

use super::*;

const DROP: &str = r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"drop","src":{"ip":"172.17.0.2","port":null,"container":"nacos","network":"bridge"},"dst":{"ip":"172.18.0.2","port":null,"container":"mysql","network":"heima-net"},"proto":"icmp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"network_isolation","rule":"-A DOCKER-ISOLATION-STAGE-2 -o br-e685d9c814c0 -j DROP","count":3}"#;
const FW: &str = r#"{"schema":1,"t":"2026-11-21T22:41:26.100Z","kind":"drop","src":{"ip":"172.17.0.2","port":null,"container":"nacos","network":"bridge"},"dst":{"ip":"10.201.0.7","port":null,"container":null,"network":null},"proto":"icmp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"firewall_drop","rule":"-A DOCKER-USER -s 172.17.0.2/32 -j DROP","count":2}"#;
const SUMMARY: &str = r#"{"schema":1,"t":"2026-11-21T22:41:30.000Z","kind":"summary","duration_s":8.0,"total":5,"kinds":{"drop":5},"causes":{},"containers":{},"rules":{},"lost_events":1}"#;
const LOST: &str = r#"{"schema":1,"t":"2026-11-21T03:12:44.102Z","kind":"change","source":"netlink","what":"address_removed","iface":"br-73a00eba170c","network":"heima-net","container":null,"detail":"172.18.0.1/16"}"#;
const GONE: &str = r#"{"schema":1,"t":"2026-11-21T03:12:45.310Z","kind":"drop","src":{"ip":"172.18.0.3","port":null,"container":"nacos","network":"heima-net"},"dst":{"ip":"172.18.0.2","port":3306,"container":"mysql","network":"heima-net"},"proto":"tcp","iface":null,"netns":"container:nacos","function":"ip_route_output_key_hash","drop_reason":null,"cause":"bridge_gateway_missing","rule":null,"count":200}"#;

/// Text without its colours, as a pipe gets it.
fn plain(s: &str) -> String {
    anstream::adapter::strip_str(s).to_string()
}

fn file(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f
}

#[test]
fn summarises_causes_containers_rules_and_time() {
    let f = file(&[DROP, "", FW, SUMMARY]);
    let r = read(f.path()).unwrap();
    assert_eq!((r.lines, r.events, r.complete, r.lost_events), (2, 5, true, 1));
    assert_eq!(r.causes[0], Count { name: "network_isolation".into(), count: 3 });
    assert_eq!(r.containers[0], Count { name: "nacos".into(), count: 5 });
    assert_eq!(r.rules.len(), 2);
    assert_eq!(r.from.as_deref(), Some("2026-11-21T22:41:24.281Z"));
    let counts: Vec<u64> = r.timeline.buckets.iter().map(|b| b.count).collect();
    assert_eq!((r.timeline.bucket_s, counts), (1, vec![3, 0, 2]));
    assert!(!r.truncated);
    let t = text(&r);
    assert!(
        t.contains("5 events in 2 lines") && t.contains("network_isolation") && t.contains("22:41:26"),
        "{t}"
    );
}

#[test]
fn a_recording_cut_short_is_still_read() {
    let f = file(&[DROP]);
    let r = read(f.path()).unwrap();
    assert!(!r.complete);
    assert!(text(&r).contains("no summary line"));
}

#[test]
fn a_cut_last_line_is_left_out_and_marked() {
    let mut f = file(&[DROP, FW]);
    write!(f, "{}", &SUMMARY[..40]).unwrap();
    let r = read(f.path()).unwrap();
    assert_eq!((r.lines, r.events, r.complete, r.truncated), (2, 5, false, true));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["truncated"], true);
}

#[test]
fn changes_are_on_the_timeline_and_named_before_their_burst() {
    let more = GONE.replace("45.310", "46.020").replace("\"count\":200", "\"count\":12");
    let f = file(&[LOST, GONE, &more]);
    let r = read(f.path()).unwrap();
    assert_eq!((r.lines, r.events, r.changes), (2, 212, 1));
    assert_eq!(r.timeline.buckets[0].changes.len(), 1, "the change opens the timeline");
    assert_eq!(r.timeline.buckets.iter().map(|b| b.count).collect::<Vec<_>>(), [0, 200, 12]);
    assert_eq!(r.bursts.len(), 1);
    let b = &r.bursts[0];
    assert_eq!(b.change_before.as_ref().map(|c| c.t.as_str()), Some("2026-11-21T03:12:44.102Z"));
    let line = plain(&burst_text(b));
    assert_eq!(
        line,
        "03:12:44 br-73a00eba170c lost 172.18.0.1/16 (heima-net) — from 03:12:45, 212 drops to 172.18.0.2 (mysql), cause bridge_gateway_missing"
    );
    let t = plain(&text(&r));
    assert!(t.contains("change br-73a00eba170c lost 172.18.0.1/16") && t.contains(&line), "{t}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["bursts"][0]["change_before"]["what"], "address_removed");
    assert_eq!(json["bursts"][0]["cause"], "bridge_gateway_missing");
}

#[test]
fn a_recording_of_changes_only_is_reported() {
    let r = read(file(&[LOST]).path()).unwrap();
    assert_eq!((r.lines, r.changes, r.from.as_deref()), (0, 1, None));
    assert!(r.bursts.is_empty());
}

#[test]
fn bad_files_are_one_line_errors() {
    let e = read(file(&[DROP, "garbage"]).path()).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("not JSON") && !e.contains('\n'), "{e}");
    let e = read(file(&[]).path()).unwrap_err().to_string();
    assert!(e.contains("holds no watch lines"), "{e}");
    let e = read(Path::new("/nonexistent/rec.jsonl")).unwrap_err().to_string();
    assert!(e.contains("cannot read /nonexistent/rec.jsonl"), "{e}");
}
