//! Frames and decodes arbitrary bytes as a BGP stream. Nothing may panic;
//! a message that decodes must encode, and decode again to the same value;
//! every error must make a NOTIFICATION that fits on the wire.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ndbgp::msg::{HEADER_LEN, Message, Notification, decode, frame};

fuzz_target!(|data: &[u8]| {
    // As a session reads: one message after another until frame() stops.
    let mut rest = data;
    loop {
        match frame(rest) {
            Ok(Some(n)) => {
                let (msg, tail) = rest.split_at(n);
                check(msg);
                rest = tail;
            }
            Ok(None) => break,
            Err(err) => {
                // The header is bad: decode must refuse it the same way.
                assert!(rest.len() >= HEADER_LEN);
                assert!(decode(rest).is_err(), "frame refused what decode took: {err}");
                answer(err.into());
                break;
            }
        }
    }
    // decode() on an unframed slice must not panic either.
    check(data);
});

fn check(bytes: &[u8]) {
    match decode(bytes) {
        Ok(msg) => {
            let encoded = msg.encode().expect("a decoded message re-encodes");
            assert_eq!(decode(&encoded).as_ref(), Ok(&msg), "decode(encode(x)) != x");
            if let Message::Notification(n) = &msg {
                let _ = n.to_string();
                let _ = n.shutdown_text();
            }
        }
        Err(err) => {
            let _ = err.to_string();
            answer(err.into());
        }
    }
}

/// The NOTIFICATION we would send must itself be a valid message.
fn answer(notification: Notification) {
    let _ = notification.to_string();
    let msg = Message::Notification(notification);
    let bytes = msg.encode().expect("our NOTIFICATION fits in 4096 octets");
    assert_eq!(decode(&bytes), Ok(msg));
}
