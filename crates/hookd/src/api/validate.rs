//! Field rules from the Svix spec, collected so that a request with several
//! problems is told about all of them at once.

use super::error::{ApiError, ValidationError};

#[derive(Default)]
pub struct Checks(Vec<ValidationError>);

impl Checks {
    pub fn fail(&mut self, loc: &[&str], msg: impl Into<String>) {
        self.0.push(ValidationError::new(loc, msg));
    }

    pub fn check(&mut self, ok: bool, loc: &[&str], msg: impl Into<String>) {
        if !ok {
            self.fail(loc, msg);
        }
    }

    pub fn done(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    /// `^[a-zA-Z0-9\-_.]+$`, 1 to `max` characters: uids, event types, event ids.
    pub fn name(&mut self, loc: &[&str], s: &str, max: usize) {
        let ok = !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        self.check(
            ok,
            loc,
            format!("must be 1 to {max} characters of a-z, A-Z, 0-9, '-', '_' and '.'"),
        );
    }

    pub fn opt_name(&mut self, loc: &[&str], s: Option<&String>, max: usize) {
        if let Some(s) = s {
            self.name(loc, s, max);
        }
    }

    /// Channels: `^[a-zA-Z0-9\-_.:+]+$`, at most 128 characters, at most 10 of them.
    pub fn channels(&mut self, loc: &[&str], chans: Option<&Vec<String>>) {
        let Some(chans) = chans else { return };
        self.check(chans.len() <= 10, loc, "at most 10 channels");
        for c in chans {
            let ok = !c.is_empty()
                && c.len() <= 128
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:+".contains(&b));
            self.check(
                ok,
                loc,
                format!("invalid channel {c:?}: 1 to 128 characters of a-z, A-Z, 0-9, '-_.:+'"),
            );
        }
    }

    /// Endpoint URLs: http or https, with a host, no user-info, at most 65536
    /// characters; placeholders such as `{eventType}` may stand after the host.
    /// Or `relay://NAME`, whose deliveries go to `hookd listen` (`delivery::relay`),
    /// or `poller://NAME`, whose messages are read (`delivery::poller`).
    pub fn url(&mut self, loc: &[&str], s: &str) {
        if crate::delivery::relay::is_relay(s) || crate::delivery::poller::is_poller(s) {
            let name = s.split_once("://").map_or("", |(_, n)| n);
            return self.name(loc, name, 200);
        }
        if s.len() > 65536 {
            return self.fail(loc, "URL longer than 65536 characters");
        }
        if crate::delivery::brokers::is_broker(s) {
            if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return self.fail(loc, "URL with whitespace or control characters");
            }
            static FORM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                regex::Regex::new(super::openapi_rules::BROKER_URL).expect("a valid pattern")
            });
            return match crate::delivery::brokers::Destination::parse(s) {
                Err(e) => self.fail(loc, e),
                Ok(_) if !FORM.is_match(s) => self.fail(
                    loc,
                    "a broker URL takes the form nats://HOST/SUBJECT, mqtt://HOST/TOPIC?qos=1, \
                     amqp://USER:PASS@HOST/VHOST?exchange=X&routingKey=K or redis://HOST/DB?stream=KEY&maxlen=N",
                ),
                Ok(_) if !url::Url::parse(s).is_ok_and(|u| host_is_plain(&u)) => self.fail(
                    loc,
                    "URL host must be a DNS name (its last label starting with a letter) or an IP address",
                ),
                Ok(_) => {}
            };
        }
        let mut filled = s.to_owned();
        for p in crate::routing::URL_PLACEHOLDERS {
            filled = filled.replace(p, "x");
        }
        if filled.contains(['{', '}']) {
            return self.fail(
                loc,
                "unknown placeholder: use {eventType}, {msgId}, {eventId} or {appId}",
            );
        }
        let host_of = |u: &str| url::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_owned));
        if s != filled && host_of(s) != host_of(&filled) {
            return self.fail(loc, "placeholders may stand only after the host");
        }
        if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return self.fail(loc, "URL with whitespace or control characters");
        }
        match url::Url::parse(&filled) {
            Err(e) => self.fail(loc, format!("invalid URL: {e}")),
            Ok(u) if !host_is_plain(&u) => self.fail(
                loc,
                "URL host must be a DNS name (its last label starting with a letter) or an IP address",
            ),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => self.fail(loc, "URL scheme must be http or https"),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => self.fail(loc, "URL must have a host"),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                self.fail(loc, "URL must not carry a user name or password")
            }
            Ok(_) => {}
        }
    }

    /// Secrets as Svix takes them: an optional prefix and 32 to 100 base64 characters.
    pub fn secret(&mut self, loc: &[&str], s: &str) {
        let body = ["whsec_", "whsk_", "whsk1_", "whpk_", "whpk1_"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .unwrap_or(s);
        let ok =
            (32..=100).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        self.check(
            ok,
            loc,
            "secret must be an optional whsec_ prefix and 32 to 100 base64 characters",
        );
    }

    /// Tags: `^[a-zA-Z0-9\-_./\\#]+$`, 1 to 128 characters.
    pub fn tag(&mut self, loc: &[&str], t: &str) {
        let ok =
            !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./\\#".contains(&b));
        self.check(
            ok,
            loc,
            format!("invalid tag {t:?}: 1 to 128 characters of a-z, A-Z, 0-9, '-_./\\#'"),
        );
    }

    /// A class of status codes: 0 (no answer), 100, 200, 300, 400 or 500.
    pub fn status_code_class(&mut self, loc: &[&str], class: Option<i64>) {
        let ok = class.is_none_or(|c| [0, 100, 200, 300, 400, 500].contains(&c));
        self.check(ok, loc, "must be 0, 100, 200, 300, 400 or 500");
    }

    pub fn throttle(&mut self, loc: &[&str], rate: Option<i64>) {
        if let Some(r) = rate {
            self.check((1..=65535).contains(&r), loc, "must be between 1 and 65535");
        }
    }
}

/// A DNS name of letters, digits and hyphens (no `*`, `_` or other marks the
/// URL parser lets through), its last label starting with a letter; or an IP.
fn host_is_plain(u: &url::Url) -> bool {
    match u.host() {
        // A URL of a scheme the parser does not know (`nats://`) keeps its host as written.
        Some(url::Host::Domain(d)) if d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok() => true,
        Some(url::Host::Domain(d)) => {
            let labels: Vec<&str> = d.split('.').collect();
            let label_ok = |l: &&str| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
            };
            labels.iter().all(label_ok) && labels.last().is_some_and(|l| l.as_bytes()[0].is_ascii_alphabetic())
        }
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
        None => false,
    }
}
