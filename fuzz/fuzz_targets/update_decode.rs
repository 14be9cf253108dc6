//! Decodes arbitrary bytes as an UPDATE body (the first byte picks the
//! session: 4-octet AS or not, external or not). Nothing may panic; a
//! reset's NOTIFICATION must fit on the wire; a usable UPDATE must pack into
//! messages of at most 4096 octets that decode to the same routes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ndbgp::msg::update::{DecodeContext, EncodeContext, PackError, UpdateError, decode, encode, next_hop_for};
use ndbgp::msg::update::{PathAttributes, Update};
use ndbgp::msg::{self, HEADER_LEN, MAX_MESSAGE_LEN, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ctx = DecodeContext {
        four_octet_as: mode & 1 != 0,
        external: mode & 2 != 0,
    };
    match decode(body, &ctx) {
        Ok(d) => {
            let u = &d.update;
            assert_eq!(u.attributes.is_some(), !u.announced.is_empty());
            if d.end_of_rib.is_some() {
                assert_eq!(u, &Update::default());
            }
            for w in &d.warnings {
                let _ = w.to_string();
            }
            // The full comparison in 4-octet form: a 2-octet AS_PATH can
            // lose what RFC 6793 cannot rebuild (confederation segments
            // behind others), so that form only has to keep the prefixes.
            re_encode(u, ctx.external, true, true);
            if !ctx.four_octet_as {
                re_encode(u, ctx.external, false, false);
            }
        }
        Err(UpdateError::Reset(m)) => {
            let _ = m.to_string();
            let n = Message::Notification(m.notification);
            let bytes = n.encode().expect("our NOTIFICATION fits in 4096 octets");
            assert_eq!(msg::decode(&bytes), Ok(n));
        }
        Err(e @ UpdateError::TreatAsWithdraw { .. }) => {
            let _ = e.to_string();
        }
    }
});

/// Packs `u` again and decodes the messages: the same withdrawals and, per
/// prefix, the same attributes (or, with `compare_attributes` off, the same
/// prefixes).
fn re_encode(u: &Update, external: bool, four_octet_as: bool, compare_attributes: bool) {
    let groups: Vec<(&PathAttributes, _)> = u.attributes.iter().map(|a| (a, &u.announced)).collect();
    let out = match encode(&groups, &u.withdrawn, &EncodeContext { four_octet_as }) {
        Ok(out) => out,
        // Re-encoding may be longer than what came in (4-octet ASNs,
        // AS4_PATH): fine if it cannot be sent at all.
        Err(PackError::AttributesTooLong { .. }) => return,
        Err(e) => panic!("a decoded UPDATE does not re-encode: {e}"),
    };
    let ctx = DecodeContext {
        four_octet_as,
        external,
    };
    // Each announced prefix with the attributes that apply to it.
    let per_prefix = |u: &Update| -> Vec<_> {
        u.announced
            .iter()
            .map(|p| {
                let a = u.attributes.as_ref().filter(|_| compare_attributes).map(|a| {
                    let mut a = a.clone();
                    a.next_hop = next_hop_for(p, &a.next_hop);
                    a
                });
                (*p, a)
            })
            .collect()
    };
    let mut withdrawn = Vec::new();
    let mut routes = Vec::new();
    for m in &out {
        assert!(m.len() <= MAX_MESSAGE_LEN);
        assert!(matches!(msg::decode(m), Ok(Message::Update(_))));
        let d = decode(&m[HEADER_LEN..], &ctx).expect("our own UPDATE decodes");
        withdrawn.extend(d.update.withdrawn.iter().copied());
        routes.extend(per_prefix(&d.update));
    }
    let mut want = u.withdrawn.clone();
    want.sort();
    withdrawn.sort();
    assert_eq!(withdrawn, want);
    let mut want_routes = per_prefix(u);
    want_routes.sort_by_key(|(p, _)| *p);
    routes.sort_by_key(|(p, _)| *p);
    assert_eq!(routes, want_routes);
}
