//! Talking to the Docker Engine (bollard): finding it the way the docker CLI does and reading
//! its networks and containers.
use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use bollard::{
    Docker,
    errors::Error as BollardError,
    query_parameters::{ListContainersOptionsBuilder, ListNetworksOptions},
};
use futures::StreamExt;
use serde::Serialize;

use super::{Container, DockerNetwork, ModelError};

pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Requests to a local engine answer in milliseconds; a hung engine should not hang us long.
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// Container inspections in flight at once (the engine answers them on its own threads).
const INSPECTIONS_AT_ONCE: usize = 8;

/// What the engine said, plus notes about what could not be read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DockerState {
    pub networks: Vec<DockerNetwork>,
    pub containers: Vec<Container>,
    /// Things skipped while reading, e.g. a container removed meanwhile.
    pub notes: Vec<String>,
}

/// The engine URI as the docker CLI picks it: `--docker-host`, else DOCKER_HOST, else the
/// default socket. Empty values count as unset.
pub fn docker_host_uri(explicit: Option<&str>, env: Option<String>) -> String {
    explicit
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or(env.filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

/// A connection to one Docker Engine.
#[derive(Clone, Debug)]
pub struct DockerEngine {
    client: Docker,
    host: String,
}

impl DockerEngine {
    /// Connects to the engine named by `explicit` (`--docker-host`), DOCKER_HOST or the default
    /// socket, and checks that it answers (GET /version, which also settles the API version;
    /// Docker 20.10 speaks API 1.41).
    pub async fn connect(explicit: Option<&str>) -> Result<Self, ModelError> {
        let host = docker_host_uri(explicit, std::env::var("DOCKER_HOST").ok());
        let unreachable = |reason: String| ModelError::DockerUnreachable { host: host.clone(), reason };
        let client = Docker::connect_with_host(&host)
            .map_err(|e| unreachable(connect_reason(&e)))?
            .with_timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS));
        let client = client.negotiate_version().await.map_err(|e| unreachable(connect_reason(&e)))?;
        Ok(Self { client, host })
    }

    /// The URI connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn client(&self) -> &Docker {
        &self.client
    }

    /// Reads all networks and all containers (running or not).
    pub async fn read_state(&self) -> Result<DockerState, ModelError> {
        let mut state = DockerState { networks: self.networks().await?, ..Default::default() };
        state.containers = self.containers(&mut state.notes).await?;
        fill_gateways(&mut state);
        Ok(state)
    }

    async fn networks(&self) -> Result<Vec<DockerNetwork>, ModelError> {
        let list = self
            .client
            .list_networks(None::<ListNetworksOptions>)
            .await
            .map_err(|e| self.api_error("list networks", &e))?;
        let mut networks: Vec<DockerNetwork> = list.iter().filter_map(DockerNetwork::from_api).collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    /// Reads the networks and the list of containers again, but inspects only the containers
    /// `changed` names and those `previous` does not hold: the others are as `previous` has
    /// them (a watch, told by Docker's events which containers changed). Gives the state and
    /// the IDs of the containers inspected.
    pub async fn read_changed(
        &self,
        previous: &DockerState,
        changed: &BTreeSet<String>,
    ) -> Result<(DockerState, BTreeSet<String>), ModelError> {
        let mut state = DockerState { networks: self.networks().await?, ..Default::default() };
        let known: HashMap<&str, &Container> =
            previous.containers.iter().map(|c| (c.id.as_str(), c)).collect();
        let (kept, fresh): (Vec<String>, Vec<String>) = self
            .container_ids()
            .await?
            .into_iter()
            .partition(|id| !changed.contains(id) && known.contains_key(id.as_str()));
        state.containers =
            kept.iter().filter_map(|id| known.get(id.as_str()).map(|c| (*c).clone())).collect();
        state.containers.extend(self.inspect(fresh.clone(), &mut state.notes).await?);
        state.containers.sort_by(|a, b| a.name.cmp(&b.name));
        fill_gateways(&mut state);
        Ok((state, fresh.into_iter().collect()))
    }

    /// Lists then inspects each container.
    async fn containers(&self, notes: &mut Vec<String>) -> Result<Vec<Container>, ModelError> {
        let ids = self.container_ids().await?;
        let mut containers = self.inspect(ids, notes).await?;
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }

    /// The IDs of all containers, running or not.
    async fn container_ids(&self) -> Result<Vec<String>, ModelError> {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let list = self
            .client
            .list_containers(Some(options))
            .await
            .map_err(|e| self.api_error("list containers", &e))?;
        Ok(list.into_iter().filter_map(|summary| summary.id).collect())
    }

    /// Inspects the containers, a few at once (one after another, 150 containers are 150 round
    /// trips); one removed since it was listed is skipped with a note.
    async fn inspect(&self, ids: Vec<String>, notes: &mut Vec<String>) -> Result<Vec<Container>, ModelError> {
        let inspected: Vec<_> = futures::stream::iter(ids)
            .map(|id| async move {
                let detail = self.client.inspect_container(&id, None).await;
                (id, detail)
            })
            .buffered(INSPECTIONS_AT_ONCE)
            .collect()
            .await;
        let mut containers = Vec::new();
        for (id, detail) in inspected {
            match detail {
                Ok(detail) => containers.extend(Container::from_inspect(&detail)),
                Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {
                    notes.push(format!(
                        "container {} was removed while the model was read; skipped",
                        short(&id)
                    ));
                }
                Err(e) => {
                    return Err(self.api_error(&format!("inspect container {}", short(&id)), &e));
                }
            }
        }
        Ok(containers)
    }

    fn api_error(&self, what: &str, e: &BollardError) -> ModelError {
        ModelError::DockerApi { host: self.host.clone(), what: what.into(), reason: root_cause(e) }
    }
}

/// Networks whose IPAM lists no gateway take the one their containers were given.
fn fill_gateways(state: &mut DockerState) {
    for net in &mut state.networks {
        let seen: Vec<_> = state
            .containers
            .iter()
            .flat_map(|c| &c.endpoints)
            .filter(|e| e.network_id == net.id || e.network == net.name)
            .flat_map(|e| e.gateways())
            .collect();
        net.fill_gateways(&seen);
    }
}

/// Why connecting failed, in a few words: the socket is missing, or the innermost cause
/// (e.g. "Connection refused") instead of the HTTP client's layers of wrapping.
fn connect_reason(e: &BollardError) -> String {
    match e {
        BollardError::SocketNotFoundError(path) => format!("no socket at {path}"),
        BollardError::UnsupportedURISchemeError { uri } => {
            format!("unsupported URI '{uri}', use unix:///PATH or tcp://HOST:PORT")
        }
        e => root_cause(e),
    }
}

fn root_cause(e: &BollardError) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    // Server errors carry the engine's message, which says more than any source.
    match e {
        BollardError::DockerResponseServerError { status_code, message } => {
            format!("HTTP {status_code}: {message}")
        }
        _ => cause.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

/// The 12-character short ID `docker ps` shows.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_uri_precedence_follows_the_cli() {
        let env = || Some("unix:///run/lab.sock".to_string());
        assert_eq!(docker_host_uri(Some("tcp://10.0.0.1:2375"), env()), "tcp://10.0.0.1:2375");
        assert_eq!(docker_host_uri(None, env()), "unix:///run/lab.sock");
        assert_eq!(docker_host_uri(Some(""), env()), "unix:///run/lab.sock");
        assert_eq!(docker_host_uri(None, None), DEFAULT_DOCKER_HOST);
        assert_eq!(docker_host_uri(None, Some(String::new())), DEFAULT_DOCKER_HOST);
    }

    #[test]
    fn short_ids() {
        assert_eq!(short("316b4cf4074a2a1a07ea"), "316b4cf4074a");
        assert_eq!(short("abc"), "abc");
    }

    #[tokio::test]
    async fn missing_socket_names_it_and_says_what_to_do() {
        let e = DockerEngine::connect(Some("unix:///nonexistent/dnt.sock")).await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unix:///nonexistent/dnt.sock"), "{msg}");
        assert!(msg.contains("--docker-host") && msg.contains("DOCKER_HOST"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[tokio::test]
    async fn refused_socket_is_unreachable() {
        // A socket file nobody listens on: connect() fails with ECONNREFUSED.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let uri = format!("unix://{}", path.display());
        let e = DockerEngine::connect(Some(&uri)).await.unwrap_err();
        assert!(matches!(e, ModelError::DockerUnreachable { .. }), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
    }
}

#[cfg(test)]
#[path = "docker_fake_test.rs"]
mod fake_engine_tests;
