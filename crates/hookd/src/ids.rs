//! Prefixed, time-sortable identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`).
//!
//! The body is a millisecond KSUID, the format Svix uses, so ids sort by creation
//! time and cursor pagination can page by id alone.

use std::sync::Mutex;

use svix_ksuid::{KsuidLike, KsuidMs};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    App,
    Endpoint,
    Message,
    Attempt,
    Delivery,
    Token,
    Task,
    OperationalEvent,
}

impl Kind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::App => "app_",
            Kind::Endpoint => "ep_",
            Kind::Message => "msg_",
            Kind::Attempt => "atmpt_",
            Kind::Delivery => "dlv_",
            Kind::Token => "tok_",
            Kind::Task => "qtask_",
            Kind::OperationalEvent => "opevt_",
        }
    }
}

/// The last id made by this process, so that the next one sorts after it even
/// within the KSUID's 4 ms tick or when the clock steps back.
static LAST: Mutex<Option<KsuidMs>> = Mutex::new(None);

/// A new id of the given kind, ordered after every id this process made before.
pub fn new(kind: Kind) -> String {
    // The payload comes from the thread's generator (seeded from the OS):
    // the KSUID crate's own asks the kernel for every id, three per message.
    let payload: [u8; 15] = rand::random();
    let fresh = KsuidMs::new(None::<std::time::SystemTime>, Some(&payload));
    let mut last = LAST.lock().expect("id lock");
    let id = match *last {
        Some(prev) if fresh.timestamp_raw() <= prev.timestamp_raw() => {
            // Same tick (or an earlier clock): the previous payload plus one.
            let mut payload = [0u8; 16];
            payload[1..].copy_from_slice(prev.payload());
            let next = u128::from_be_bytes(payload).wrapping_add(1).to_be_bytes();
            KsuidMs::new_raw(prev.timestamp_raw(), Some(&next[1..]))
        }
        _ => fresh,
    };
    *last = Some(id);
    drop(last);
    let digits = base62(id.bytes());
    let mut out = String::with_capacity(kind.prefix().len() + digits.len());
    out.push_str(kind.prefix());
    out.push_str(std::str::from_utf8(&digits).expect("base62 digits are ASCII"));
    out
}

/// The first id of `kind` of the KSUID tick (about 4 ms) holding `at`: every
/// id made at or after that time sorts after it, and so may those made
/// earlier in the same tick (readers filter by time where that matters).
pub fn floor(kind: Kind, at: crate::time::Micros) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_micros(at.max(0) as u64);
    let id = KsuidMs::new(Some(time), Some(&[0u8; 15]));
    format!(
        "{}{}",
        kind.prefix(),
        std::str::from_utf8(&base62(id.bytes())).expect("ASCII")
    )
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The KSUID's text, as its crate's `Display` writes it (27 base62 digits,
/// zero-padded). That goes through a general base conversion and the
/// formatter, about a microsecond an id; a message takes three ids, and this
/// is a twentieth of that.
fn base62(bytes: &[u8; 20]) -> [u8; 27] {
    // 62^5 fits in a u32, so each long division of the 160-bit number by it
    // yields five digits.
    const FIVE: u64 = 62u64.pow(5);
    let mut limbs = [0u32; 5];
    for (limb, four) in limbs.iter_mut().zip(bytes.chunks_exact(4)) {
        *limb = u32::from_be_bytes([four[0], four[1], four[2], four[3]]);
    }
    let mut out = [b'0'; 27];
    let mut pos = out.len();
    while pos > 0 {
        let mut rem = 0u64;
        for limb in &mut limbs {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / FIVE) as u32;
            rem = cur % FIVE;
        }
        for _ in 0..5 {
            if pos == 0 {
                break;
            }
            pos -= 1;
            out[pos] = BASE62[(rem % 62) as usize];
            rem /= 62;
        }
    }
    out
}

/// Whether `s` has the shape of an id of `kind`: its prefix and 27 base62 characters.
pub fn is_valid(kind: Kind, s: &str) -> bool {
    s.strip_prefix(kind.prefix())
        .is_some_and(|body| body.len() == 27 && body.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_writes_what_the_ksuid_crate_writes() {
        let mut cases = vec![[0u8; 20], [0xff; 20], [1; 20]];
        cases.extend((0..2000).map(|_| rand::random::<[u8; 20]>()));
        for bytes in cases {
            let expected = KsuidMs::from_bytes(bytes).to_string();
            assert_eq!(std::str::from_utf8(&base62(&bytes)).unwrap(), expected);
        }
    }

    #[test]
    fn ids_made_together_still_sort_in_order() {
        let ids: Vec<String> = (0..1000).map(|_| new(Kind::App)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|i| is_valid(Kind::App, i)));
    }

    #[test]
    fn a_floor_sorts_between_the_ids_made_before_and_after_it() {
        let before = new(Kind::Message);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let at = crate::time::now();
        let floor = floor(Kind::Message, at);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let after = new(Kind::Message);
        assert!(is_valid(Kind::Message, &floor));
        assert!(before < floor && floor < after, "{before} < {floor} < {after}");
    }

    #[test]
    fn ids_have_prefix_and_sort_by_time() {
        let a = new(Kind::Message);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = new(Kind::Message);
        assert!(is_valid(Kind::Message, &a));
        assert_eq!(a.len(), 31);
        assert!(a < b);
        assert!(!is_valid(Kind::App, &a));
        assert!(!is_valid(Kind::Message, "msg_short"));
    }
}
