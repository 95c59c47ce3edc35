//! Framing over mqttbytes 0.6, with its traps fenced off in one place:
//! - `Connect::write` patches the flags byte at an absolute offset, so a
//!   CONNECT is always encoded into its own empty buffer first;
//! - a failed `write` may leave half a packet in the buffer, so the buffer
//!   is truncated back to where the packet started;
//! - Subscribe / Unsubscribe encode packet id 0 without complaint (and
//!   mosquitto drops the link), so id 0 is refused here;
//! - its `Error` is not `std::error::Error`, so it is wrapped in
//!   [`ProtocolError`].

use bytes::BytesMut;
use mqttbytes::v4::{self, Packet};

use crate::error::ProtocolError;

/// Appends the encoding of `packet` to `buffer`. On error the buffer is
/// exactly as it was.
pub(crate) fn encode(packet: &Packet, buffer: &mut BytesMut) -> Result<(), ProtocolError> {
    let start = buffer.len();
    let result = match packet {
        Packet::Connect(connect) => {
            let mut own = BytesMut::with_capacity(connect.len() + 5);
            let result = connect.write(&mut own);
            buffer.extend_from_slice(&own);
            result
        }
        Packet::Publish(publish) => publish.write(buffer),
        Packet::PubAck(ack) => ack.write(buffer),
        Packet::PubRec(ack) => ack.write(buffer),
        Packet::PubRel(ack) => ack.write(buffer),
        Packet::PubComp(ack) => ack.write(buffer),
        Packet::Subscribe(subscribe) if subscribe.pkid == 0 => Err(mqttbytes::Error::PacketIdZero),
        Packet::Subscribe(subscribe) => subscribe.write(buffer),
        Packet::Unsubscribe(unsubscribe) if unsubscribe.pkid == 0 => {
            Err(mqttbytes::Error::PacketIdZero)
        }
        Packet::Unsubscribe(unsubscribe) => unsubscribe.write(buffer),
        Packet::PingReq => v4::PingReq.write(buffer),
        Packet::Disconnect => v4::Disconnect.write(buffer),
        // A client never sends the broker's packets; reaching here is a bug
        // in the session, reported as an encode error rather than a panic.
        Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
            Err(mqttbytes::Error::InvalidPacketType(0))
        }
    };
    match result {
        Ok(_) => Ok(()),
        Err(error) => {
            buffer.truncate(start);
            Err(ProtocolError::Encode(error))
        }
    }
}

/// Takes the next complete packet off the front of `buffer`: `Ok(None)` if
/// more bytes are needed, an error if the bytes are not MQTT or announce a
/// frame longer than `max_frame_bytes` (the link must then be dropped).
pub(crate) fn decode(
    buffer: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<Option<Packet>, ProtocolError> {
    match v4::read(buffer, max_frame_bytes) {
        Ok(packet) => Ok(Some(packet)),
        Err(mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
        Err(error) => Err(ProtocolError::Decode(error)),
    }
}

/// The MQTT 3.1.1 name of `packet`'s control packet type (`CONNECT`,
/// `PUBACK`, ...), for errors and logs on either side of a connection.
///
/// ```
/// use mqttbytes::v4::{Packet, PubAck};
///
/// assert_eq!(breakwater_mqtt::packet_name(&Packet::PubAck(PubAck::new(1))), "PUBACK");
/// ```
pub fn packet_name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqttbytes::v4::{Connect, Publish, Subscribe};
    use mqttbytes::QoS;

    #[test]
    fn connect_encodes_correctly_after_other_bytes_in_the_buffer() {
        let mut buffer = BytesMut::from(&b"xyz"[..]);
        let mut connect = Connect::new("id");
        connect.clean_session = true;
        encode(&Packet::Connect(connect.clone()), &mut buffer).unwrap();
        let mut framed = buffer.split_off(3);
        match decode(&mut framed, 1024).unwrap() {
            Some(Packet::Connect(decoded)) => assert!(decoded.clean_session),
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    #[test]
    fn failed_encode_leaves_the_buffer_untouched() {
        let mut buffer = BytesMut::from(&b"ab"[..]);
        let publish = Publish::new("t", QoS::AtLeastOnce, vec![1]); // pkid 0
        assert!(encode(&Packet::Publish(publish), &mut buffer).is_err());
        assert_eq!(&buffer[..], b"ab");
        let subscribe = Subscribe::new("t", QoS::AtMostOnce); // pkid 0
        assert!(encode(&Packet::Subscribe(subscribe), &mut buffer).is_err());
        assert_eq!(&buffer[..], b"ab");
    }

    #[test]
    fn garbage_and_oversized_frames_are_errors_and_partial_frames_wait() {
        let mut garbage = BytesMut::from(&[0xF0u8, 0x00][..]);
        assert!(decode(&mut garbage, 1024).is_err());
        let mut partial = BytesMut::from(&[0x30u8, 0x05, 0x00][..]);
        assert_eq!(decode(&mut partial, 1024).unwrap(), None);
        let mut huge = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0x7F][..]);
        assert!(decode(&mut huge, 1024).is_err());
        let mut bad_length = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..]);
        assert!(decode(&mut bad_length, 1024).is_err());
    }
}
