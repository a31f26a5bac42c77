//! Passwords in destination URLs (`amqp://user:pass@host/…`): kept apart
//! from the URL, sealed at rest like secrets, and shown as [`MASK`].

/// What a URL's password is shown as.
pub const MASK: &str = "****";

/// The URL with its password masked, and the password (none: the URL as it is).
pub fn split(url: &str) -> (String, Option<String>) {
    let Ok(mut u) = url::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    let Some(password) = u.password().map(str::to_owned) else {
        return (url.to_owned(), None);
    };
    if u.set_password(Some(MASK)).is_err() {
        return (url.to_owned(), None);
    }
    (u.to_string(), Some(password))
}

/// The URL as shown: its password masked.
pub fn masked(url: &str) -> String {
    split(url).0
}

/// A masked URL with its password put back.
pub fn restore(masked: &str, password: &str) -> String {
    match url::Url::parse(masked) {
        Ok(mut u) if u.password() == Some(MASK) => match u.set_password(Some(password)) {
            Ok(()) => u.to_string(),
            Err(()) => masked.to_owned(),
        },
        _ => masked.to_owned(),
    }
}

/// `new` as given, or `old` when `new` is `old` as shown (a client sending
/// back what it read keeps the password it cannot see).
pub fn keep_unchanged(old: &str, new: String) -> String {
    match split(old) {
        (shown, Some(_)) if shown == new => old.to_owned(),
        _ => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_masked_and_put_back() {
        let url = "amqp://guest:s%40cret@broker.example.com:5672/%2F?exchange=x";
        let (shown, pw) = split(url);
        assert_eq!(shown, "amqp://guest:****@broker.example.com:5672/%2F?exchange=x");
        assert_eq!(pw.as_deref(), Some("s%40cret"));
        assert_eq!(restore(&shown, &pw.unwrap()), url);
        assert_eq!(
            split("https://example.com/hook"),
            ("https://example.com/hook".into(), None)
        );
        assert_eq!(keep_unchanged(url, shown.clone()), url);
        assert_eq!(
            keep_unchanged(url, "amqp://guest:new@broker.example.com".into()),
            "amqp://guest:new@broker.example.com"
        );
    }
}
