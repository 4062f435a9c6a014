//! `DockerEngine` against a fake engine on a unix socket that answers like Docker 20.10 (API
//! 1.41), with a container that vanishes between list and inspect.
use std::path::Path;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixListener,
};

use super::*;

const GONE: &str = "9999aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889";
const ALIVE: &str = "316b4cf4074a2a1a07ea1410e99bbe2a48a9fc7337e610c88638abda0bea9e76";

/// The answer to one request path, as (status, JSON body).
fn answer(path: &str) -> (u16, String) {
    if path.ends_with("/version") {
        return (200, r#"{"ApiVersion":"1.41","Version":"20.10.24"}"#.into());
    }
    if path.contains("/networks") {
        let body = r#"[{"Name":"bridge","Id":"f0123ae76e7285f6","Driver":"bridge",
            "IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]},"Options":{}}]"#;
        return (200, body.into());
    }
    if path.contains("/containers/json") {
        return (200, format!(r#"[{{"Id":"{GONE}"}},{{"Id":"{ALIVE}"}}]"#));
    }
    if path.contains(&format!("/containers/{GONE}/json")) {
        return (404, format!(r#"{{"message":"No such container: {GONE}"}}"#));
    }
    if path.contains(&format!("/containers/{ALIVE}/json")) {
        let body = format!(
            r#"{{"Id":"{ALIVE}","Name":"/web","State":{{"Status":"running","Pid":0}},
            "HostConfig":{{"NetworkMode":"default"}},"NetworkSettings":{{"Networks":{{"bridge":
            {{"NetworkID":"f0123ae76e7285f6","IPAddress":"172.17.0.2","IPPrefixLen":16,"Gateway":"172.17.0.1"}}}}}}}}"#
        );
        return (200, body);
    }
    (500, r#"{"message":"unexpected request"}"#.into())
}

/// Serves `answer` on `path`, one request per connection.
async fn serve(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = answer(path);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
}

/// A connection to the fake engine, served from a directory that lives as long as the result.
async fn fake_engine() -> (tempfile::TempDir, DockerEngine) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    serve(&sock).await;
    let engine = DockerEngine::connect(Some(&format!("unix://{}", sock.display()))).await.unwrap();
    (dir, engine)
}

#[tokio::test]
async fn old_engine_and_vanished_container() {
    let (_dir, engine) = fake_engine().await;
    let state = engine.read_state().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.containers.len(), 1);
    assert_eq!(state.containers[0].name, "web");
    assert_eq!(state.notes.len(), 1);
    assert!(
        state.notes[0].contains("9999aaaabbbb") && state.notes[0].contains("removed"),
        "{:?}",
        state.notes
    );
    let bridge = &state.networks[0];
    assert_eq!(bridge.bridge.as_deref(), Some("docker0"));
    assert_eq!(bridge.subnets[0].gateway, Some("172.17.0.1".parse().unwrap()));
    assert_eq!(bridge.subnets[0].gateway_source, crate::model::GatewaySource::Endpoint);
}

#[tokio::test]
async fn only_changed_or_new_containers_are_inspected_again() {
    let (_dir, engine) = fake_engine().await;
    let mut previous = engine.read_state().await.unwrap();
    // What the watch had: `web` under another name (an inspection would say "web"), and a
    // container the engine no longer lists.
    previous.containers[0].name = "as-read-before".into();
    let mut removed = previous.containers[0].clone();
    removed.id = "77aa".repeat(16);
    previous.containers.push(removed);

    let (kept, inspected) = engine.read_changed(&previous, &BTreeSet::new()).await.unwrap();
    let names: Vec<&str> = kept.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["as-read-before"], "not inspected again; the unlisted one is gone");
    // The one it did not hold was inspected (and found removed meanwhile).
    assert_eq!(inspected, BTreeSet::from([GONE.to_string()]));
    assert!(kept.notes.iter().any(|n| n.contains("9999aaaabbbb")), "{:?}", kept.notes);

    let changed = BTreeSet::from([ALIVE.to_string()]);
    let (fresh, inspected) = engine.read_changed(&previous, &changed).await.unwrap();
    assert_eq!(fresh.containers[0].name, "web");
    assert!(inspected.contains(ALIVE), "{inspected:?}");
}
