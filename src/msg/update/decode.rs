//! UPDATE body to [`Update`], with the error handling of RFC 7606.
//!
//! Every check says which of the RFC 7606 2 approaches it takes. Parsing
//! goes on after a treat-as-withdraw or attribute-discard error, so that a
//! later error that needs a session reset is still found (7606 3: the most
//! severe approach wins).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::msg::update::{AsPath, Origin, PathAttributes, RawAttribute, Update};
use crate::msg::{AFI_IPV4, AS_TRANS, SAFI_UNICAST, UpdatePacket, code};

use super::aspath::{self, AsnWidth};
use super::attr::{self, RawAttr, Reader, flag, type_code as tc};
use super::nlri::{self, Family};
use super::{DecodeContext, Decoded, Malformation, UpdateError, Warning};

/// Decodes an UPDATE body (the message without its 19-octet header, as
/// [`Message::Update`](crate::msg::Message::Update) holds it).
///
/// `Ok` carries the routes and the attributes that were discarded on the
/// way; `Err` says whether to reset the session or to withdraw the routes.
/// The End-of-RIB marker decodes to an empty [`Update`] with
/// [`Decoded::end_of_rib`] set.
pub fn decode(body: &[u8], ctx: &DecodeContext) -> Result<Decoded, UpdateError> {
    // RFC 4271 6.3, unchanged by RFC 7606 3 b: the two length fields must
    // fit in the message.
    let packet = UpdatePacket::new_checked(body).map_err(|err| {
        UpdateError::Reset(Malformation {
            notification: err.notification(),
            reason: err.reason,
        })
    })?;
    // RFC 7606 5.3: a syntax error in either prefix field leaves nothing we
    // could treat as withdrawn; RFC 4271 6.3 names the subcode.
    let mut withdrawn = Vec::new();
    nlri::read(packet.withdrawn_routes(), Family::Ipv4, &mut withdrawn)
        .map_err(|reason| UpdateError::Reset(Malformation::new(code::INVALID_NETWORK_FIELD, Vec::new(), reason)))?;
    let mut classic = Vec::new();
    nlri::read(packet.nlri(), Family::Ipv4, &mut classic)
        .map_err(|reason| UpdateError::Reset(Malformation::new(code::INVALID_NETWORK_FIELD, Vec::new(), reason)))?;

    let mut parser = Parser::new(ctx);
    parser.walk(packet.path_attributes()).map_err(UpdateError::Reset)?;
    let end_of_rib = end_of_rib_family(body);
    parser.finish(withdrawn, classic, end_of_rib)
}

/// The (AFI, SAFI) whose End-of-RIB marker `body` is (RFC 4724 2): an
/// empty UPDATE for IPv4 unicast, else an UPDATE holding only an empty
/// MP_UNREACH_NLRI.
pub fn end_of_rib_family(body: &[u8]) -> Option<(u16, u8)> {
    let packet = UpdatePacket::new_checked(body).ok()?;
    if !packet.withdrawn_routes().is_empty() || !packet.nlri().is_empty() {
        return None;
    }
    let mut r = Reader::new(packet.path_attributes());
    if r.is_empty() {
        return Some((AFI_IPV4, SAFI_UNICAST));
    }
    let attr = attr::read(&mut r)?;
    if !r.is_empty() || attr.type_code != tc::MP_UNREACH_NLRI {
        return None;
    }
    let mut v = Reader::new(attr.value);
    let family = (v.u16()?, v.u8()?);
    v.is_empty().then_some(family)
}

/// How bad one attribute is (RFC 7606 2).
enum Fault {
    Reset(Malformation),
    Withdraw(Malformation),
    Discard(&'static str),
}

/// The RFC 4271 6.3 error for an attribute: its data is the attribute.
fn attr_error(attr: &RawAttr, subcode: u8, reason: &'static str) -> Malformation {
    Malformation::new(subcode, attr.whole.to_vec(), reason)
}

fn withdraw(attr: &RawAttr, subcode: u8, reason: &'static str) -> Fault {
    Fault::Withdraw(attr_error(attr, subcode, reason))
}

/// RFC 7606 3 c: Optional or Transitive bits in conflict with the type make
/// the attribute malformed, handled as treat-as-withdraw.
fn check_kind(attr: &RawAttr) -> Result<(), Fault> {
    if attr.kind() == attr::kind_flags(attr.type_code) {
        Ok(())
    } else {
        Err(withdraw(
            attr,
            code::ATTRIBUTE_FLAGS_ERROR,
            "Optional/Transitive flags conflict with the type",
        ))
    }
}

/// An MP_REACH_NLRI we understood.
struct MpReach<'a> {
    prefixes: Vec<IpNet>,
    next_hop: MpNextHop,
    /// The whole attribute, for the NOTIFICATION data of a bad next hop.
    whole: &'a [u8],
}

enum MpNextHop {
    /// RFC 4760 also lets IPv4 NLRI come with an IPv4 next hop.
    V4(Ipv4Addr),
    V6 {
        global: Option<Ipv6Addr>,
        link_local: Option<Ipv6Addr>,
    },
}

/// The state of one walk over the Path Attributes field.
struct Parser<'a> {
    ctx: &'a DecodeContext,
    seen: [bool; 256],
    attrs: PathAttributes,
    /// The NEXT_HOP attribute, and all of it as received; it applies to the
    /// NLRI field only (RFC 4760 3).
    next_hop: Option<(Ipv4Addr, &'a [u8])>,
    mp_reach: Option<MpReach<'a>>,
    mp_unreach: Vec<IpNet>,
    as4_path: Option<AsPath>,
    /// AGGREGATOR as received, before RFC 6793 reconciliation.
    aggregator: Option<(u32, Ipv4Addr)>,
    as4_aggregator: Option<(u32, Ipv4Addr)>,
    /// The first error that makes the UPDATE a withdrawal.
    withdraw: Option<Malformation>,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    fn new(ctx: &'a DecodeContext) -> Self {
        Parser {
            ctx,
            seen: [false; 256],
            attrs: PathAttributes::default(),
            next_hop: None,
            mp_reach: None,
            mp_unreach: Vec::new(),
            as4_path: None,
            aggregator: None,
            as4_aggregator: None,
            withdraw: None,
            warnings: Vec::new(),
        }
    }

    fn width(&self) -> AsnWidth {
        if self.ctx.four_octet_as {
            AsnWidth::Four
        } else {
            AsnWidth::Two
        }
    }

    fn warn(&mut self, type_code: u8, reason: &'static str) {
        self.warnings.push(Warning { type_code, reason });
    }

    fn set_withdraw(&mut self, reason: Malformation) {
        self.withdraw.get_or_insert(reason);
    }

    /// Walks the attributes; `Err` is a session reset.
    fn walk(&mut self, field: &'a [u8]) -> Result<(), Malformation> {
        let mut r = Reader::new(field);
        while !r.is_empty() {
            let Some(attr) = attr::read(&mut r) else {
                // RFC 7606 4: an attribute overruns the field, or too few
                // octets are left for a header. Treat-as-withdraw; the Total
                // Path Attribute Length still locates the NLRI.
                self.set_withdraw(Malformation::new(
                    code::MALFORMED_ATTRIBUTE_LIST,
                    Vec::new(),
                    "attribute overruns the path attributes",
                ));
                return Ok(());
            };
            let first = !std::mem::replace(&mut self.seen[usize::from(attr.type_code)], true);
            if !first {
                // RFC 7606 3 g.
                if matches!(attr.type_code, tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI) {
                    return Err(Malformation::new(
                        code::MALFORMED_ATTRIBUTE_LIST,
                        Vec::new(),
                        "MP_REACH_NLRI or MP_UNREACH_NLRI appears twice",
                    ));
                }
                self.warn(attr.type_code, "repeated attribute (RFC 7606 3 g)");
                continue;
            }
            match self.attribute(&attr) {
                Ok(()) => {}
                Err(Fault::Reset(m)) => return Err(m),
                Err(Fault::Withdraw(m)) => self.set_withdraw(m),
                Err(Fault::Discard(reason)) => self.warn(attr.type_code, reason),
            }
        }
        Ok(())
    }

    fn attribute(&mut self, attr: &RawAttr<'a>) -> Result<(), Fault> {
        match attr.type_code {
            tc::ORIGIN => self.origin(attr),
            tc::AS_PATH => self.as_path(attr),
            tc::NEXT_HOP => self.next_hop(attr),
            tc::MULTI_EXIT_DISC => self.med(attr),
            tc::LOCAL_PREF => self.local_pref(attr),
            tc::ATOMIC_AGGREGATE => self.atomic_aggregate(attr),
            tc::AGGREGATOR => self.aggregator(attr),
            tc::COMMUNITIES => self.communities(attr),
            tc::MP_REACH_NLRI => self.mp_reach(attr),
            tc::MP_UNREACH_NLRI => self.mp_unreach(attr),
            tc::AS4_PATH => self.as4_path(attr),
            tc::AS4_AGGREGATOR => self.as4_aggregator(attr),
            tc::LARGE_COMMUNITIES => self.large_communities(attr),
            _ => self.unrecognized(attr),
        }
    }

    /// RFC 7606 7.1: length not 1 or an undefined value: treat-as-withdraw.
    fn origin(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        let &[value] = attr.value else {
            return Err(withdraw(attr, code::ATTRIBUTE_LENGTH_ERROR, "ORIGIN length is not 1"));
        };
        self.attrs.origin = Some(match value {
            0 => Origin::Igp,
            1 => Origin::Egp,
            2 => Origin::Incomplete,
            _ => return Err(withdraw(attr, code::INVALID_ORIGIN_ATTRIBUTE, "ORIGIN value undefined")),
        });
        Ok(())
    }

    /// RFC 7606 7.2: a malformed segment: treat-as-withdraw (no data, as RFC
    /// 4271 6.3 gives none for Malformed AS_PATH).
    fn as_path(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        let path = aspath::read(attr.value, self.width())
            .map_err(|reason| Fault::Withdraw(Malformation::new(code::MALFORMED_AS_PATH, Vec::new(), reason)))?;
        if self.ctx.external && aspath::has_confed(&path) {
            // RFC 5065 5: a malformed AS_PATH, so treat-as-withdraw (7606 7.2).
            return Err(Fault::Withdraw(Malformation::new(
                code::MALFORMED_AS_PATH,
                Vec::new(),
                "confederation segment from an external peer",
            )));
        }
        self.attrs.as_path = path;
        Ok(())
    }

    /// RFC 7606 7.3: length not 4: treat-as-withdraw. Whether the address
    /// is usable is judged in `finish`, once we know it is needed.
    fn next_hop(&mut self, attr: &RawAttr<'a>) -> Result<(), Fault> {
        check_kind(attr)?;
        let Ok(octets) = <[u8; 4]>::try_from(attr.value) else {
            return Err(withdraw(attr, code::ATTRIBUTE_LENGTH_ERROR, "NEXT_HOP length is not 4"));
        };
        self.next_hop = Some((Ipv4Addr::from(octets), attr.whole));
        Ok(())
    }

    /// RFC 7606 7.4: length not 4: treat-as-withdraw.
    fn med(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        let Ok(octets) = <[u8; 4]>::try_from(attr.value) else {
            return Err(withdraw(
                attr,
                code::ATTRIBUTE_LENGTH_ERROR,
                "MULTI_EXIT_DISC length is not 4",
            ));
        };
        self.attrs.med = Some(u32::from_be_bytes(octets));
        Ok(())
    }

    /// RFC 7606 7.5: from an external peer, attribute discard (RFC 4271
    /// 5.1.5 already says to ignore it: only a malformed one is worth a
    /// warning); from an internal one, length not 4: treat-as-withdraw.
    fn local_pref(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        if self.ctx.external {
            return match (attr.kind() == attr::kind_flags(attr.type_code), attr.value.len()) {
                (true, 4) => Ok(()),
                _ => Err(Fault::Discard("malformed LOCAL_PREF from an external peer")),
            };
        }
        check_kind(attr)?;
        let Ok(octets) = <[u8; 4]>::try_from(attr.value) else {
            return Err(withdraw(
                attr,
                code::ATTRIBUTE_LENGTH_ERROR,
                "LOCAL_PREF length is not 4",
            ));
        };
        self.attrs.local_pref = Some(u32::from_be_bytes(octets));
        Ok(())
    }

    /// RFC 7606 7.6: length not 0: attribute discard.
    fn atomic_aggregate(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        if !attr.value.is_empty() {
            return Err(Fault::Discard("ATOMIC_AGGREGATE length is not 0"));
        }
        self.attrs.atomic_aggregate = true;
        Ok(())
    }

    /// RFC 7606 7.7: length not 8 (4-octet AS session) or 6 (2-octet):
    /// attribute discard. AS 0 too (RFC 7607 2).
    fn aggregator(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        let mut r = Reader::new(attr.value);
        let asn = match self.width() {
            AsnWidth::Four if attr.value.len() == 8 => r.u32(),
            AsnWidth::Two if attr.value.len() == 6 => r.u16().map(u32::from),
            _ => None,
        };
        let (Some(asn), Some(addr)) = (asn, r.array::<4>()) else {
            return Err(Fault::Discard("AGGREGATOR length does not fit the ASN size"));
        };
        if asn == 0 {
            return Err(Fault::Discard("AGGREGATOR holds AS 0 (RFC 7607)"));
        }
        self.aggregator = Some((asn, Ipv4Addr::from(addr)));
        Ok(())
    }

    /// RFC 7606 7.8: length not a non-zero multiple of 4: treat-as-withdraw.
    fn communities(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        if attr.value.is_empty() || !attr.value.len().is_multiple_of(4) {
            return Err(withdraw(
                attr,
                code::ATTRIBUTE_LENGTH_ERROR,
                "COMMUNITIES length is not a non-zero multiple of 4",
            ));
        }
        self.attrs.communities = attr
            .value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(())
    }

    /// RFC 8092 6: length not a non-zero multiple of 12: treat-as-withdraw.
    /// Duplicates are removed silently (RFC 8092 5).
    fn large_communities(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        check_kind(attr)?;
        if attr.value.is_empty() || !attr.value.len().is_multiple_of(12) {
            return Err(withdraw(
                attr,
                code::ATTRIBUTE_LENGTH_ERROR,
                "LARGE_COMMUNITIES length is not a non-zero multiple of 12",
            ));
        }
        let mut out: Vec<[u32; 3]> = Vec::with_capacity(attr.value.len() / 12);
        for c in attr.value.chunks_exact(12) {
            let word = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            let lc = [word(0), word(4), word(8)];
            if !out.contains(&lc) {
                out.push(lc);
            }
        }
        self.attrs.large_communities = out;
        Ok(())
    }

    /// RFC 4760 3 and RFC 7606 7.11. An attribute too short for its fields
    /// or a next hop length that does not fit the family leaves the NLRI
    /// unlocatable, and a syntax error in the NLRI leaves nothing to
    /// withdraw: session reset (we do not implement "AFI/SAFI disable"),
    /// with the Optional Attribute Error of RFC 4760 7. A family we do not
    /// carry is skipped: the attribute's length still delimits it.
    fn mp_reach(&mut self, attr: &RawAttr<'a>) -> Result<(), Fault> {
        let reset = |reason| Fault::Reset(attr_error(attr, code::OPTIONAL_ATTRIBUTE_ERROR, reason));
        let mut r = Reader::new(attr.value);
        let (Some(afi), Some(safi), Some(nh_len)) = (r.u16(), r.u8(), r.u8()) else {
            return Err(reset("MP_REACH_NLRI shorter than its fixed fields"));
        };
        let (Some(nh), Some(_reserved)) = (r.take(usize::from(nh_len)), r.u8()) else {
            return Err(reset("MP_REACH_NLRI next hop overruns the attribute"));
        };
        let Some(family) = Family::carried(afi, safi) else {
            return Err(Fault::Discard("MP_REACH_NLRI of a family we do not carry"));
        };
        let next_hop = if let (Family::Ipv4, Ok(octets)) = (family, <[u8; 4]>::try_from(nh)) {
            MpNextHop::V4(Ipv4Addr::from(octets))
        } else if matches!(nh.len(), 16 | 32) {
            mp_next_hop_v6(nh)
        } else {
            return Err(reset("MP_REACH_NLRI next hop length does not fit the family"));
        };
        let mut prefixes = Vec::new();
        nlri::read(r.rest(), family, &mut prefixes).map_err(reset)?;
        self.mp_reach = Some(MpReach {
            prefixes,
            next_hop,
            whole: attr.whole,
        });
        check_kind(attr)
    }

    /// RFC 4760 4 and RFC 7606 5.3 / 7.12, as for MP_REACH_NLRI.
    fn mp_unreach(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        let reset = |reason| Fault::Reset(attr_error(attr, code::OPTIONAL_ATTRIBUTE_ERROR, reason));
        let mut r = Reader::new(attr.value);
        let (Some(afi), Some(safi)) = (r.u16(), r.u8()) else {
            return Err(reset("MP_UNREACH_NLRI shorter than AFI and SAFI"));
        };
        let Some(family) = Family::carried(afi, safi) else {
            return Err(Fault::Discard("MP_UNREACH_NLRI of a family we do not carry"));
        };
        nlri::read(r.rest(), family, &mut self.mp_unreach).map_err(reset)?;
        check_kind(attr)
    }

    /// RFC 6793: only a 2-octet AS session carries AS4_PATH; between
    /// 4-octet speakers it is discarded (RFC 6793 6). Malformed: attribute
    /// discard (RFC 6793 6, RFC 7607 2 for AS 0); confederation segments in
    /// it are dropped and the rest kept (RFC 6793 6).
    fn as4_path(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        if self.ctx.four_octet_as {
            return Err(Fault::Discard("AS4_PATH on a 4-octet AS session"));
        }
        check_kind(attr)?;
        let path = aspath::read(attr.value, AsnWidth::Four).map_err(Fault::Discard)?;
        if aspath::has_confed(&path) {
            self.warn(attr.type_code, "confederation segments dropped from AS4_PATH");
        }
        self.as4_path = Some(aspath::without_confed(&path));
        Ok(())
    }

    /// As AS4_PATH; the value is AGGREGATOR's 4-octet form.
    fn as4_aggregator(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        if self.ctx.four_octet_as {
            return Err(Fault::Discard("AS4_AGGREGATOR on a 4-octet AS session"));
        }
        check_kind(attr)?;
        let mut r = Reader::new(attr.value);
        let (Some(asn), Some(addr), true) = (r.u32(), r.array::<4>(), attr.value.len() == 8) else {
            return Err(Fault::Discard("AS4_AGGREGATOR length is not 8"));
        };
        if asn == 0 {
            return Err(Fault::Discard("AS4_AGGREGATOR holds AS 0 (RFC 7607)"));
        }
        self.as4_aggregator = Some((asn, Ipv4Addr::from(addr)));
        Ok(())
    }

    /// RFC 4271 5 and 6.3: an unrecognized well-known attribute resets the
    /// session (RFC 7606 leaves this alone); an unrecognized optional
    /// transitive one is kept to pass on with the Partial bit set; an
    /// optional non-transitive one is quietly dropped.
    fn unrecognized(&mut self, attr: &RawAttr) -> Result<(), Fault> {
        if attr.flags & flag::OPTIONAL == 0 {
            return Err(Fault::Reset(attr_error(
                attr,
                code::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                "unrecognized well-known attribute",
            )));
        }
        if attr.flags & flag::TRANSITIVE != 0 {
            self.attrs.unknown.push(RawAttribute {
                flags: flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL,
                type_code: attr.type_code,
                value: attr.value.to_vec(),
            });
        }
        Ok(())
    }

    /// RFC 6793 4.2.3: a 2-octet AS peer's AGGREGATOR and AS_PATH, with
    /// AS4_AGGREGATOR and AS4_PATH filling in the real ASNs.
    fn reconcile_as4(&mut self) {
        let mut as4_path = self.as4_path.take();
        let as4_aggregator = self.as4_aggregator.take();
        self.attrs.aggregator = match (self.aggregator, as4_aggregator) {
            (Some((asn, _)), Some(_)) if asn != u32::from(AS_TRANS) => {
                // "...then the AS4_AGGREGATOR and AS4_PATH attributes SHALL
                // be ignored": the aggregating speaker knew no 4-octet ASNs.
                if as4_path.take().is_some() {
                    self.warn(tc::AS4_PATH, "AS4_PATH ignored: AGGREGATOR is not AS_TRANS");
                }
                self.warn(tc::AS4_AGGREGATOR, "AS4_AGGREGATOR ignored: AGGREGATOR is not AS_TRANS");
                self.aggregator
            }
            (Some(_), Some(real)) => Some(real),
            (None, Some(_)) => {
                self.warn(tc::AS4_AGGREGATOR, "AS4_AGGREGATOR without AGGREGATOR ignored");
                None
            }
            (aggregator, None) => aggregator,
        };
        if let Some(as4_path) = as4_path {
            match aspath::reconcile(&self.attrs.as_path, &as4_path) {
                Some(path) => self.attrs.as_path = path,
                None => self.warn(tc::AS4_PATH, "AS4_PATH ignored: longer than AS_PATH"),
            }
        }
    }

    /// Ends the walk: settles the attributes, checks what the announced
    /// routes need, and says whether they are routes or withdrawals.
    fn finish(
        mut self,
        mut withdrawn: Vec<IpNet>,
        classic: Vec<IpNet>,
        end_of_rib: Option<(u16, u8)>,
    ) -> Result<Decoded, UpdateError> {
        self.settle_attributes();
        withdrawn.append(&mut self.mp_unreach);
        // RFC 4760 3: NEXT_HOP applies to the NLRI field only, and is
        // ignored when that is empty.
        if !classic.is_empty() {
            self.classic_next_hop();
        }
        let mut announced = classic;
        if let Some(mp) = self.mp_reach.take() {
            self.mp_next_hop(mp.next_hop, mp.whole);
            announced.extend(mp.prefixes);
        }
        if !announced.is_empty() {
            self.check_mandatory();
        }

        if let Some(reason) = self.withdraw {
            withdrawn.extend(announced);
            return Err(UpdateError::TreatAsWithdraw { withdrawn, reason });
        }
        let attributes = (!announced.is_empty()).then_some(self.attrs);
        Ok(Decoded {
            update: Update {
                withdrawn,
                announced,
                attributes,
            },
            warnings: self.warnings,
            end_of_rib,
        })
    }

    /// AGGREGATOR and AS_PATH as the session's AS width makes them, and the
    /// unknown attributes in canonical order (the encoder writes them by
    /// type code).
    fn settle_attributes(&mut self) {
        if self.ctx.four_octet_as {
            self.attrs.aggregator = self.aggregator;
        } else {
            self.reconcile_as4();
        }
        self.attrs.unknown.sort_by_key(|a| a.type_code);
    }

    /// The NEXT_HOP of routes in the NLRI field.
    fn classic_next_hop(&mut self) {
        match self.next_hop {
            // RFC 7606 3 d.
            None => self.set_withdraw(Malformation::new(
                code::MISSING_WELL_KNOWN_ATTRIBUTE,
                vec![tc::NEXT_HOP],
                "NLRI without NEXT_HOP",
            )),
            // RFC 4271 6.3: the routes of a semantically incorrect
            // NEXT_HOP are ignored and the session stays; withdrawing
            // them also drops what the peer sent for them before.
            Some((addr, whole)) if !usable_v4(addr) => {
                self.set_withdraw(bad_next_hop(whole, "NEXT_HOP is not a unicast address"))
            }
            Some((addr, _)) => self.attrs.next_hop.ipv4 = Some(addr),
        }
    }

    /// The next hop of routes in MP_REACH_NLRI; `whole` is the attribute.
    fn mp_next_hop(&mut self, next_hop: MpNextHop, whole: &[u8]) {
        match next_hop {
            MpNextHop::V4(addr) if usable_v4(addr) => {
                // The NEXT_HOP of the NLRI field wins (see next_hop_for).
                self.attrs.next_hop.ipv4.get_or_insert(addr);
            }
            MpNextHop::V6 { global, link_local }
                if global.is_none_or(usable_v6) && (global, link_local) != (None, None) =>
            {
                self.attrs.next_hop.global = global;
                self.attrs.next_hop.link_local = link_local;
            }
            _ => self.set_withdraw(bad_next_hop(whole, "MP_REACH_NLRI next hop holds no unicast address")),
        }
    }

    /// RFC 7606 3 d: announced routes without a well-known mandatory
    /// attribute are withdrawn.
    fn check_mandatory(&mut self) {
        for (type_code, reason) in [
            (tc::ORIGIN, "NLRI without ORIGIN"),
            (tc::AS_PATH, "NLRI without AS_PATH"),
        ] {
            if !self.seen[usize::from(type_code)] {
                self.set_withdraw(Malformation::new(
                    code::MISSING_WELL_KNOWN_ATTRIBUTE,
                    vec![type_code],
                    reason,
                ));
            }
        }
    }
}

/// RFC 4271 6.3: the data is the attribute.
fn bad_next_hop(whole: &[u8], reason: &'static str) -> Malformation {
    Malformation::new(code::INVALID_NEXT_HOP_ATTRIBUTE, whole.to_vec(), reason)
}

/// The next hop field of MP_REACH_NLRI for an IPv6 next hop (RFC 2545 3,
/// RFC 8950 3): 16 octets hold one address, a global one or, alone, a
/// link-local one; 32 octets hold a global and a link-local one. FRR sends
/// the link-local address twice when it has no global one, and `::` stands
/// for "none"; a second address that is not link-local is ignored.
fn mp_next_hop_v6(nh: &[u8]) -> MpNextHop {
    let mut r = Reader::new(nh);
    let first = r.array::<16>().map(Ipv6Addr::from);
    let second = r.array::<16>().map(Ipv6Addr::from);
    let link_local = second
        .filter(Ipv6Addr::is_unicast_link_local)
        .or(first.filter(Ipv6Addr::is_unicast_link_local));
    // `::` beside a link-local address says "no global address".
    let stands_for_none = |a: &Ipv6Addr| a.is_unicast_link_local() || (a.is_unspecified() && second.is_some());
    let global = first.filter(|a| !stands_for_none(a));
    MpNextHop::V6 { global, link_local }
}

/// An IPv4 address a route can point at: not 0.0.0.0, loopback, multicast,
/// broadcast or class E (RFC 4271 6.3 "semantically incorrect").
fn usable_v4(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() || addr.octets()[0] >= 240)
}

fn usable_v6(addr: Ipv6Addr) -> bool {
    !(addr.is_unspecified() || addr.is_loopback() || addr.is_multicast())
}
