use std::sync::Arc;

use bytes::Bytes;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;

use super::*;
use crate::watch::line::Line;

fn line(json: &str) -> EventLine {
    let Ok(Line::Event(e)) = Line::parse(json) else { panic!("{json}") };
    *e
}

const ISOLATION: &str = r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"drop","src":{"ip":"172.17.0.2","port":40112,"container":"nacos","network":"bridge"},"dst":{"ip":"172.18.0.2","port":3306,"container":"mysql","network":"heima-net"},"proto":"tcp","iface":"docker0","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"network_isolation","rule":null,"count":3}"#;
const OUTSIDE: &str = r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"reset","src":{"ip":"10.0.0.9","port":5000,"container":null,"network":null},"dst":{"ip":"172.18.0.2","port":3306,"container":null,"network":"heima-net"},"proto":"tcp","iface":null,"function":null,"drop_reason":null,"cause":"no_listener","rule":null,"count":1}"#;

#[test]
fn events_are_counted_by_cause_container_network_and_interface() {
    let m = Metrics::new();
    m.event(&line(ISOLATION));
    m.event(&line(ISOLATION));
    m.event(&line(OUTSIDE));
    m.lost_events(4);
    m.lost_events(4);
    m.program("skb:kfree_skb", true);
    m.docker_event("container", "exec_start: sh -c 'echo 172.18.0.2'");
    let text = m.encode(false);
    assert!(
        text.contains(r#"dockernet_trace_drops_total{cause="network_isolation",container="nacos",network="bridge",iface="docker0"} 6"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"dockernet_trace_resets_total{cause="no_listener",container="",network="heima-net",iface=""} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("dockernet_trace_lost_events_total 4"), "{text}");
    assert!(text.contains(r#"dockernet_trace_program_attached{hook="skb:kfree_skb"} 1"#), "{text}");
    assert!(
        text.contains(r#"dockernet_trace_docker_events_total{type="container",action="exec_start"} 1"#),
        "{text}"
    );
    assert!(!text.contains("40112") && !text.contains("172.1"), "no ports or addresses in labels:\n{text}");
    let om = m.encode(true);
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE dockernet_trace_drops counter"), "{om}");
}

#[test]
fn label_sets_are_capped_and_the_rest_counted_as_other() {
    let m = Metrics::new();
    let base = line(ISOLATION);
    for k in 0..(labels::MAX_LABEL_SETS + 10) {
        let mut l = base.clone();
        l.src.container = Some(format!("c{k}"));
        l.count = 1;
        m.event(&l);
    }
    let text = m.encode(false);
    let drops = text.lines().filter(|l| l.starts_with("dockernet_trace_drops_total{")).count();
    assert_eq!(drops, labels::MAX_LABEL_SETS + 1, "the sets allowed, and one _other");
    assert!(text.contains(r#"dockernet_trace_drops_total{cause="network_isolation",container="_other",network="_other",iface="_other"} 10"#), "{text}");
    assert!(text.contains("dockernet_trace_label_sets_capped_total 10"));
    let mut known = base.clone();
    known.src.container = Some("c3".into());
    m.event(&known);
    assert!(
        m.encode(false).contains(r#"container="c3",network="bridge",iface="docker0"} 4"#),
        "a known set still counts as itself"
    );
}

#[tokio::test]
async fn the_endpoint_serves_both_formats_and_nothing_else() {
    let m = Arc::new(Metrics::new());
    m.event(&line(ISOLATION));
    let (addr, task) = server::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&m)).await.unwrap();
    let get = |path: &str, accept: &str| {
        let (path, accept) = (path.to_string(), accept.to_string());
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            let req = Request::get(path)
                .header(header::ACCEPT, accept)
                .header(header::HOST, "x")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status();
            let kind = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
            let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, kind.unwrap_or_default(), String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (s, kind, body) =
        get("/metrics", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5").await;
    assert_eq!(s, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text") && body.ends_with("# EOF\n"), "{kind}\n{body}");
    let (_, kind, body) = get("/metrics", "*/*").await;
    assert!(
        kind.starts_with("text/plain; version=0.0.4") && body.contains("dockernet_trace_drops_total{"),
        "{kind}\n{body}"
    );
    assert_eq!(get("/other", "*/*").await.0, StatusCode::NOT_FOUND);
    let taken = server::serve(addr, m).await.map(|_| ()).unwrap_err().to_string();
    assert!(taken.contains(&format!("cannot serve metrics on {addr}")), "{taken}");
    task.abort();
}
