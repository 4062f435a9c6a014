//! Neighbour (ARP) states as `neigh:neigh_update` reports them (netlink's `NeighbourState`,
//! which the event factory reads from the NUD_* bits), and what a state says about the next
//! hop.
pub use netlink_packet_route::neighbour::NeighbourState;

/// Resolution gave up: nobody answered ARP.
pub fn failed(s: NeighbourState) -> bool {
    s == NeighbourState::Failed
}

/// Resolution is still waiting for an answer.
pub fn waiting(s: NeighbourState) -> bool {
    s == NeighbourState::Incomplete
}

/// The name the kernel's headers give a state, as `watch` reports a failed one.
pub fn name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Failed => "NUD_FAILED".into(),
        NeighbourState::Incomplete => "NUD_INCOMPLETE".into(),
        other => format!("NUD_{other:?}").to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(raw: u8) -> NeighbourState {
        NeighbourState::from(u16::from(raw))
    }

    #[test]
    fn nud_bits_become_states() {
        assert!(failed(state(0x20)));
        assert!(waiting(state(0x01)));
        assert!(!failed(state(0x02)) && !waiting(state(0x02)));
        assert_eq!(name(state(0x20)), "NUD_FAILED");
        assert_eq!(name(state(0x02)), "NUD_REACHABLE");
    }
}
