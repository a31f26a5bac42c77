//! The address policy for deliveries: only globally routable addresses, unless
//! the operator allows a network. Names are resolved here and the connection
//! goes to the very addresses that were checked, so DNS rebinding cannot slip
//! a private address in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

/// Words every refusal of an address says; the metrics tell refusals from
/// other failed attempts by them.
pub const REFUSED_HINT: &str = "is not public";

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("address {ip} is not public ({why}); an operator can allow it with HOOKD_ALLOW_NETWORKS")]
    NotGlobal { ip: IpAddr, why: &'static str },
    #[error("{host} did not resolve to any address")]
    NoAddress { host: String },
}

#[derive(Clone, Debug, Default)]
pub struct AddressPolicy {
    allow: Arc<Vec<IpNet>>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        AddressPolicy { allow: Arc::new(allow) }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        if self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || canonical(ip).is_some_and(|v4| net.contains(&v4)))
        {
            return Ok(());
        }
        match why_not_global(ip) {
            None => Ok(()),
            Some(why) => Err(Refused::NotGlobal { ip, why }),
        }
    }
}

/// The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any.
fn canonical(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(IpAddr::V4(v4));
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(IpAddr::V4(tail()));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(IpAddr::V4(tail()));
    }
    if s[0] == 0x2002 {
        return Some(IpAddr::V4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        )));
    }
    None
}

fn why_not_global(ip: IpAddr) -> Option<&'static str> {
    if let Some(v4) = canonical(ip) {
        return why_not_global(v4);
    }
    match ip {
        IpAddr::V4(v4) => why_v4(v4),
        IpAddr::V6(v6) => why_v6(v6),
    }
}

fn why_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified or this-network",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        (169, 254, _) => "link-local or cloud metadata",
        (100, 64..=127, _) => "carrier-grade NAT",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (192, 88, 99) => "6to4 relay",
        _ if ip.is_multicast() => "multicast",
        _ if a >= 240 => "reserved or broadcast",
        _ => return None,
    })
}

fn why_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "unique local",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignment (Teredo, benchmarking, ORCHID)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        0x0064 if s[1] == 0xff9b => "local-use NAT64",
        0x0000 => "reserved",
        _ => return None,
    })
}

/// The resolver deliveries use: refuses a name when any of its addresses is refused.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

type ResolveError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs = check_resolved(&policy, &host, addrs).map_err(Box::new)?;
            Ok(addrs.into_iter())
        })
    }
}

/// What the resolver answered for `host`, if every address may be reached:
/// one private address among public ones refuses the name.
pub fn check_resolved(policy: &AddressPolicy, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
    if addrs.is_empty() {
        return Err(Refused::NoAddress { host: host.to_owned() });
    }
    for a in &addrs {
        policy.check(a.ip())?;
    }
    Ok(addrs)
}

/// Checks a URL's host when it is a literal address (the resolver never sees those).
pub fn check_literal(policy: &AddressPolicy, url: &url::Url) -> Result<(), Refused> {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => policy.check(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => policy.check(IpAddr::V6(v6)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        AddressPolicy::default().check(s.parse().unwrap()).is_err()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    /// URLs whose host is a literal address, in the spellings attackers use.
    #[test]
    fn hostile_literal_urls_are_refused() {
        let policy = AddressPolicy::default();
        let hostile = [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://127.000.000.001/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0x0.0x0.0x1/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://0/",
            "http://0.0.0.0:8080/",
            "http://[::1]/",
            "http://[::]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://10.0.0.1/",
            "http://10.1/",
            "http://0x0a.0x00.0x00.0x01/",
            "http://172.16.5.4/",
            "http://172.31.255.255/",
            "http://192.168.0.1/",
            "http://192.168.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.64.1.1/",
            "http://198.18.0.1/",
            "http://192.0.2.5/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://[ff02::1]/",
            "https://[2001:db8::1]/",
        ];
        assert!(hostile.len() >= 30);
        for u in hostile {
            let url = url::Url::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"));
            assert!(check_literal(&policy, &url).is_err(), "{u} should be refused");
        }
        for u in [
            "https://93.184.216.34/",
            "https://1.1.1.1/x",
            "http://[2606:4700:4700::1111]/",
            "https://example.com/",
        ] {
            assert!(
                check_literal(&policy, &url::Url::parse(u).unwrap()).is_ok(),
                "{u} should be allowed"
            );
        }
    }

    /// Names whose resolver answers hold a private address anywhere are refused (DNS rebinding, split answers).
    #[test]
    fn hostile_resolver_answers_are_refused() {
        let policy = AddressPolicy::default();
        let at = |ips: &[&str]| {
            ips.iter()
                .map(|i| SocketAddr::new(i.parse().unwrap(), 443))
                .collect::<Vec<_>>()
        };
        let hostile: [&[&str]; 10] = [
            &["127.0.0.1"],
            &["93.184.216.34", "10.0.0.5"],
            &["169.254.169.254"],
            &["::1"],
            &["1.1.1.1", "::ffff:192.168.0.1"],
            &["fd00::1"],
            &["100.100.100.200"],
            &["0.0.0.0"],
            &["64:ff9b::7f00:1"],
            &[],
        ];
        for ips in hostile {
            assert!(
                check_resolved(&policy, "evil.example", at(ips)).is_err(),
                "{ips:?} should be refused"
            );
        }
        let ok = at(&["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]);
        assert_eq!(check_resolved(&policy, "example.com", ok.clone()).unwrap(), ok);
        let allowed = AddressPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(check_resolved(&allowed, "internal", at(&["10.0.0.5"])).is_ok());
        assert!(check_resolved(&allowed, "internal", at(&["10.0.0.5", "127.0.0.1"])).is_err());
    }

    #[test]
    fn allow_list_opens_a_network() {
        let p = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(p.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("10.0.0.1".parse().unwrap()).is_err());
    }
}
