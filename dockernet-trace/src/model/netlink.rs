//! A route-netlink connection. The socket belongs to the namespace of the thread that opens it,
//! so open it inside the namespace you want to read (see `netns::block_on_in_netns`).
use futures::TryStreamExt;
use rtnetlink::Handle;

use super::ModelError;

/// Opens a netlink socket in the calling thread's namespace and drives it on the current tokio
/// runtime.
pub fn connect() -> Result<Handle, ModelError> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| ModelError::netlink("open a socket", e))?;
    tokio::spawn(connection);
    Ok(handle)
}

/// Collects a dump stream, naming `what` in the error.
pub(crate) async fn collect<T>(
    what: &str,
    stream: impl futures::Stream<Item = Result<T, rtnetlink::Error>>,
) -> Result<Vec<T>, ModelError> {
    stream.try_collect().await.map_err(|e| ModelError::netlink(what, e))
}
