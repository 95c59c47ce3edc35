//! Packet identifier allocation: ids are 1..=65535 (0 is forbidden on the
//! wire) and an id is never handed out while a packet holding it awaits its
//! ack.

/// Hands out packet ids round-robin, skipping ids still in use. Cycling
/// rather than reusing the lowest free id keeps a late ack for a freed id
/// from matching a fresh packet for as long as possible.
#[derive(Debug)]
pub(crate) struct PacketIds {
    next: u16,
}

impl PacketIds {
    pub(crate) fn new() -> Self {
        PacketIds { next: 1 }
    }

    /// The next id for which `in_use` is false, or `None` if all 65535 are
    /// taken. Bounded: at most one pass over the id space.
    pub(crate) fn allocate(&mut self, in_use: impl Fn(u16) -> bool) -> Option<u16> {
        for _ in 0..u16::MAX {
            let candidate = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if !in_use(candidate) {
                debug_assert_ne!(candidate, 0, "packet id 0 is forbidden by MQTT");
                return Some(candidate);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_wrap_around_skipping_zero_and_ids_in_use() {
        let mut ids = PacketIds { next: u16::MAX - 1 };
        let used: BTreeSet<u16> = [u16::MAX, 1].into_iter().collect();
        let taken = |id| used.contains(&id);
        assert_eq!(ids.allocate(taken), Some(u16::MAX - 1));
        assert_eq!(ids.allocate(taken), Some(2));
    }

    #[test]
    fn allocation_fails_only_when_every_id_is_in_use() {
        let mut ids = PacketIds::new();
        assert_eq!(ids.allocate(|_| true), None);
        assert_eq!(ids.allocate(|id| id != 40_000), Some(40_000));
    }
}
