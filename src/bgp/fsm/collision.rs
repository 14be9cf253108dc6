//! Connection collision resolution (RFC 4271 6.8, RFC 6286 2.3), pure.
//!
//! Both speakers dialing each other at once leaves two TCP connections for one
//! session, each with its own [`Fsm`](super::Fsm). When an OPEN arrives on
//! one of them (the *new* one) while the other (the *existing* one) also has a
//! connection, [`resolve_collision`] says which to keep; the session feeds
//! [`Event::OpenCollisionDump`](super::Event::OpenCollisionDump) to the
//! other, which sends Cease/Connection Collision Resolution (RFC 4486 subcode
//! 7) and closes.
//!
//! Both ends apply the same rule to the same two identifiers, so they agree on
//! the survivor without talking about it.

use std::net::Ipv4Addr;

use super::{Direction, State};

/// One end of the session, as collision resolution compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speaker {
    pub bgp_id: Ipv4Addr,
    pub asn: u32,
}

/// The connection already there when an OPEN arrives on another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub direction: Direction,
    pub state: State,
}

/// Which connection survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// No collision: the existing FSM has no connection (Idle, Connect, Active).
    Both,
    /// Keep the existing connection; dump the one the OPEN came on.
    Existing,
    /// Keep the connection the OPEN came on; dump the existing one.
    New,
}

/// The direction of the connection that survives a collision: the one opened
/// by the speaker with the higher BGP identifier, compared as unsigned 32-bit
/// numbers in host byte order (RFC 4271 6.8). With equal identifiers (possible
/// between different ASes, RFC 6286 2.1) the one opened by the speaker with the
/// larger AS number (RFC 6286 2.3). Equal in both is an iBGP peer with our
/// identifier, which the OPEN checks refuse; we answer `Outbound` there.
pub fn preferred_direction(local: Speaker, remote: Speaker) -> Direction {
    let ours = (u32::from(local.bgp_id), local.asn);
    let theirs = (u32::from(remote.bgp_id), remote.asn);
    if ours >= theirs {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// Decides between the `existing` connection and the `new` one an OPEN from
/// `remote` just arrived on.
///
/// - Existing without a connection (Idle, Connect, Active): no collision.
/// - Existing Established: keep it. RFC 4271 6.8: "a connection collision
///   with an existing BGP connection that is in the Established state causes
///   closing of the newly created connection"; FRR's bgp_collision_detect does
///   the same, before comparing identifiers.
/// - Existing in OpenSent or OpenConfirm: [`preferred_direction`]. RFC 4271 6.8
///   requires OpenConfirm and allows OpenSent when the peer's identifier is
///   known otherwise; it is here, since both connections come from the one
///   neighbour the session is for, and FRR checks OpenSent too.
/// - Both in the same direction (the peer dialed again): keep the new one; the
///   peer has evidently given up the older connection.
pub fn resolve_collision(local: Speaker, remote: Speaker, existing: Connection, new: Direction) -> Keep {
    match existing.state {
        State::Idle | State::Connect | State::Active => Keep::Both,
        State::Established => Keep::Existing,
        State::OpenSent | State::OpenConfirm => {
            if existing.direction == new {
                Keep::New
            } else if existing.direction == preferred_direction(local, remote) {
                Keep::Existing
            } else {
                Keep::New
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const HIGH: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn speaker(bgp_id: Ipv4Addr, asn: u32) -> Speaker {
        Speaker { bgp_id, asn }
    }

    fn existing(direction: Direction, state: State) -> Connection {
        Connection { direction, state }
    }

    #[test]
    fn higher_local_id_keeps_our_dial() {
        let (local, remote) = (speaker(HIGH, 65001), speaker(LOW, 65002));
        assert_eq!(preferred_direction(local, remote), Direction::Outbound);
        for state in [State::OpenSent, State::OpenConfirm] {
            // Our dial exists, theirs brings an OPEN: keep ours.
            assert_eq!(
                resolve_collision(local, remote, existing(Direction::Outbound, state), Direction::Inbound),
                Keep::Existing,
                "{state}"
            );
            // Theirs exists, our dial brings an OPEN: switch to ours.
            assert_eq!(
                resolve_collision(local, remote, existing(Direction::Inbound, state), Direction::Outbound),
                Keep::New,
                "{state}"
            );
        }
    }

    #[test]
    fn lower_local_id_keeps_their_dial() {
        let (local, remote) = (speaker(LOW, 65001), speaker(HIGH, 65002));
        assert_eq!(preferred_direction(local, remote), Direction::Inbound);
        for state in [State::OpenSent, State::OpenConfirm] {
            assert_eq!(
                resolve_collision(local, remote, existing(Direction::Outbound, state), Direction::Inbound),
                Keep::New,
                "{state}"
            );
            assert_eq!(
                resolve_collision(local, remote, existing(Direction::Inbound, state), Direction::Outbound),
                Keep::Existing,
                "{state}"
            );
        }
    }

    #[test]
    fn both_ends_agree_on_the_survivor() {
        // The speaker at each end sees the other as remote and the directions
        // swapped; both must keep the same TCP connection.
        let a = speaker(HIGH, 65001);
        let b = speaker(LOW, 65002);
        // The connection A dialed is Outbound at A and Inbound at B.
        assert_eq!(preferred_direction(a, b), Direction::Outbound);
        assert_eq!(preferred_direction(b, a), Direction::Inbound);
    }

    #[test]
    fn identifiers_compare_as_host_order_numbers() {
        // 1.0.0.0 > 0.0.0.255 as a number; read little-endian it would be
        // the other way round. 10.0.0.2 > 9.255.255.255, unlike as text.
        let pairs = [
            (Ipv4Addr::new(1, 0, 0, 0), Ipv4Addr::new(0, 0, 0, 255)),
            (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(9, 255, 255, 255)),
        ];
        for (higher, lower) in pairs {
            assert_eq!(
                preferred_direction(speaker(higher, 65001), speaker(lower, 65002)),
                Direction::Outbound
            );
            assert_eq!(
                preferred_direction(speaker(lower, 65001), speaker(higher, 65002)),
                Direction::Inbound
            );
        }
    }

    #[test]
    fn equal_identifiers_prefer_the_larger_as() {
        // RFC 6286 2.3.
        assert_eq!(
            preferred_direction(speaker(LOW, 65002), speaker(LOW, 65001)),
            Direction::Outbound
        );
        assert_eq!(
            preferred_direction(speaker(LOW, 65001), speaker(LOW, 65002)),
            Direction::Inbound
        );
        assert_eq!(
            resolve_collision(
                speaker(LOW, 65001),
                speaker(LOW, 4_200_000_000),
                existing(Direction::Outbound, State::OpenConfirm),
                Direction::Inbound
            ),
            Keep::New
        );
    }

    #[test]
    fn established_always_wins() {
        for (local, remote) in [
            (speaker(HIGH, 65001), speaker(LOW, 65002)),
            (speaker(LOW, 65001), speaker(HIGH, 65002)),
        ] {
            for (old, new) in [
                (Direction::Outbound, Direction::Inbound),
                (Direction::Inbound, Direction::Outbound),
                (Direction::Inbound, Direction::Inbound),
            ] {
                assert_eq!(
                    resolve_collision(local, remote, existing(old, State::Established), new),
                    Keep::Existing,
                    "{old} established vs new {new}"
                );
            }
        }
    }

    #[test]
    fn no_collision_without_an_existing_connection() {
        let (local, remote) = (speaker(HIGH, 65001), speaker(LOW, 65002));
        for state in [State::Idle, State::Connect, State::Active] {
            assert_eq!(
                resolve_collision(local, remote, existing(Direction::Outbound, state), Direction::Inbound),
                Keep::Both,
                "{state}"
            );
        }
    }

    #[test]
    fn same_direction_keeps_the_newer() {
        for (local, remote) in [
            (speaker(HIGH, 65001), speaker(LOW, 65002)),
            (speaker(LOW, 65001), speaker(HIGH, 65002)),
        ] {
            assert_eq!(
                resolve_collision(
                    local,
                    remote,
                    existing(Direction::Inbound, State::OpenConfirm),
                    Direction::Inbound
                ),
                Keep::New
            );
        }
    }
}
