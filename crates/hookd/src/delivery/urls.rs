//! Endpoint URLs parsed once, not at every attempt: parsing one (scheme,
//! host, path normalisation) was about a twentieth of a delivery thread's time.

use std::collections::HashMap;
use std::sync::Mutex;

use url::Url;

/// More distinct URLs than this (templated ones, a churn of endpoints) and the
/// cache starts over, so that it never grows without bound.
const AT_MOST: usize = 4096;

#[derive(Default)]
pub struct Urls(Mutex<HashMap<String, Url>>);

impl Urls {
    pub fn parse(&self, text: &str) -> Result<Url, url::ParseError> {
        if let Some(url) = self.0.lock().expect("urls lock").get(text) {
            return Ok(url.clone());
        }
        let url = Url::parse(text)?;
        let mut known = self.0.lock().expect("urls lock");
        if known.len() >= AT_MOST {
            known.clear();
        }
        known.insert(text.to_owned(), url.clone());
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_url_does_and_stays_bounded() {
        let urls = Urls::default();
        for i in 0..AT_MOST + 10 {
            let text = format!("https://example.com/hook/{i}");
            assert_eq!(urls.parse(&text).unwrap(), Url::parse(&text).unwrap());
            assert_eq!(
                urls.parse(&text).unwrap().as_str(),
                text,
                "a second look gives the same URL"
            );
        }
        assert!(urls.0.lock().unwrap().len() <= AT_MOST);
        assert!(urls.parse("not a url").is_err());
    }
}
