//! The link's state as the driver reports it to client handles.

use crate::error::MqttError;

/// Where the link to the broker stands.
#[derive(Clone, Debug)]
pub enum LinkStatus {
    /// A connect attempt is under way (or about to be).
    Connecting,
    /// Connected, and every filter re-subscribed if the broker had no
    /// session: traffic flows.
    Connected {
        /// The CONNACK session-present flag.
        session_present: bool,
    },
    /// The last link or connect attempt failed with `error`; a reconnect
    /// follows after a backoff (or once the connect breaker lets it).
    Down {
        /// Why.
        error: MqttError,
    },
    /// The client was disconnected by its owner.
    Closed,
}

impl LinkStatus {
    /// Whether traffic flows.
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkStatus::Connected { .. })
    }
}
