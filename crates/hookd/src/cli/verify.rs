//! `hookd verify`: checks a delivery's signature offline, as its receiver
//! would, for every scheme hookd signs with.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, ValueEnum};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::client::{CliError, CliResult};
use super::output::{self, GREEN, RED};
use crate::security::hmac_key;
use crate::store::Encoding;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The endpoint's secret: `whsec_…`, an ed25519 `whsk_…` or `whpk_…` key,
    /// or the plain secret of the hmac-sha256 and bearer schemes.
    #[arg(long, env = "HOOKD_VERIFY_SECRET", hide_env_values = true)]
    pub secret: String,
    /// A header of the delivery, `Name: value` (repeat for each).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// A file of headers, one `Name: value` per line (as curl -D writes them).
    #[arg(long)]
    pub headers_file: Option<String>,
    /// The body exactly as received: @file, - for standard input, or the text itself.
    #[arg(long)]
    pub body: String,
    /// Which scheme to check (default: told by the headers present).
    #[arg(long, value_enum, default_value_t = SchemeArg::Auto)]
    pub scheme: SchemeArg,
    /// hmac-sha256: the header that carries the signature.
    #[arg(long, default_value = "X-Hub-Signature-256")]
    pub signature_header: String,
    /// hmac-sha256: what stands before the digest.
    #[arg(long, default_value = "sha256=")]
    pub prefix: String,
    /// hmac-sha256: how the digest is written.
    #[arg(long, value_enum, default_value_t = EncodingArg::Hex)]
    pub encoding: EncodingArg,
    /// Standard Webhooks: also refuse a timestamp further than this many
    /// seconds from now (receivers use 300; off by default, to check old deliveries).
    #[arg(long)]
    pub tolerance: Option<u64>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SchemeArg {
    Auto,
    /// Standard Webhooks (`webhook-signature`: `v1,` HMAC or `v1a,` ed25519).
    StandardWebhooks,
    /// HMAC-SHA256 of the body alone (GitHub's recipe and its kin).
    HmacSha256,
    /// `Authorization: Bearer <secret>`.
    Bearer,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodingArg {
    Hex,
    Base64,
}

/// What the check found: which scheme, and why it passed or failed.
pub struct Verdict {
    pub scheme: &'static str,
    pub valid: bool,
    pub reason: String,
}

pub fn run(args: VerifyArgs) -> CliResult<()> {
    let headers = read_headers(&args)?;
    let body = read_body(&args.body)?;
    let v = verify(&args, &headers, &body, chrono::Utc::now().timestamp());
    if args.json {
        output::print_json(&json!({ "valid": v.valid, "scheme": v.scheme, "reason": v.reason }))?;
    } else if v.valid {
        anstream::println!("{GREEN}valid{GREEN:#} ({}): {}", v.scheme, v.reason);
    } else {
        anstream::println!("{RED}invalid{RED:#} ({}): {}", v.scheme, v.reason);
    }
    match v.valid {
        true => Ok(()),
        false => Err(CliError::Invalid),
    }
}

/// Headers by lower-case name.
fn read_headers(args: &VerifyArgs) -> CliResult<BTreeMap<String, String>> {
    let mut lines: Vec<String> = args.headers.clone();
    if let Some(file) = &args.headers_file {
        let text = std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("cannot read {file}: {e}")))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    let mut out = BTreeMap::new();
    for line in lines {
        // A status line or a blank line of a saved response has no colon.
        if let Some((name, value)) = line.split_once(':') {
            out.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok(out)
}

fn read_body(arg: &str) -> CliResult<Vec<u8>> {
    Ok(match arg {
        "-" => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
        a if a.starts_with('@') => {
            std::fs::read(&a[1..]).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", &a[1..])))?
        }
        a => a.as_bytes().to_vec(),
    })
}

/// Checks one delivery; `now` in seconds since the epoch.
pub fn verify(args: &VerifyArgs, headers: &BTreeMap<String, String>, body: &[u8], now: i64) -> Verdict {
    let get = |names: &[&str]| names.iter().find_map(|n| headers.get(*n).cloned());
    let scheme = match args.scheme {
        SchemeArg::Auto if get(&["webhook-signature", "svix-signature"]).is_some() => SchemeArg::StandardWebhooks,
        SchemeArg::Auto if headers.contains_key(&args.signature_header.to_ascii_lowercase()) => SchemeArg::HmacSha256,
        SchemeArg::Auto if headers.contains_key("authorization") => SchemeArg::Bearer,
        SchemeArg::Auto => {
            return Verdict {
                scheme: "none",
                valid: false,
                reason: "no signature header: give the delivery's headers with --header".into(),
            };
        }
        s => s,
    };
    match scheme {
        SchemeArg::HmacSha256 => {
            let name = args.signature_header.to_ascii_lowercase();
            let Some(given) = headers.get(&name) else {
                return invalid("hmac-sha256", format!("no {} header", args.signature_header));
            };
            let Some(digest) = given.strip_prefix(args.prefix.as_str()) else {
                return invalid(
                    "hmac-sha256",
                    format!("the signature does not start with {:?}", args.prefix),
                );
            };
            let encoding = match args.encoding {
                EncodingArg::Hex => Encoding::Hex,
                EncodingArg::Base64 => Encoding::Base64,
            };
            let expected = crate::delivery::sign::body_hmac(&args.secret, body, encoding);
            match constant_time_eq(expected.as_bytes(), digest.as_bytes()) {
                true => valid("hmac-sha256", "the body's HMAC matches".into()),
                false => invalid("hmac-sha256", "the body's HMAC does not match this secret".into()),
            }
        }
        SchemeArg::Bearer => {
            let expected = format!("Bearer {}", args.secret);
            match headers
                .get("authorization")
                .is_some_and(|a| constant_time_eq(a.as_bytes(), expected.as_bytes()))
            {
                true => valid("bearer", "the Authorization header carries the secret".into()),
                false => invalid("bearer", "the Authorization header does not carry this secret".into()),
            }
        }
        SchemeArg::StandardWebhooks | SchemeArg::Auto => standard(args, &get, body, now),
    }
}

fn standard(args: &VerifyArgs, get: &dyn Fn(&[&str]) -> Option<String>, body: &[u8], now: i64) -> Verdict {
    const SCHEME: &str = "standard-webhooks";
    let (Some(id), Some(ts), Some(sigs)) = (
        get(&["webhook-id", "svix-id"]),
        get(&["webhook-timestamp", "svix-timestamp"]),
        get(&["webhook-signature", "svix-signature"]),
    ) else {
        return invalid(
            SCHEME,
            "webhook-id, webhook-timestamp and webhook-signature are all needed".into(),
        );
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return invalid(SCHEME, format!("the timestamp {ts:?} is not a number of seconds"));
    };
    let age = now - ts;
    if let Some(tol) = args.tolerance
        && age.unsigned_abs() > tol
    {
        return invalid(
            SCHEME,
            format!("the timestamp is {age} s from now, past the tolerance of {tol} s"),
        );
    }
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);
    let matched = sigs.split_whitespace().find_map(|s| {
        let (version, sig) = s.split_once(',')?;
        let sig = STANDARD.decode(sig).ok()?;
        let ok = match version {
            "v1" => {
                let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key(&args.secret)).ok()?;
                mac.update(&content);
                mac.verify_slice(&sig).is_ok()
            }
            "v1a" => public_key(&args.secret).is_some_and(|key| {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                    .verify(&content, &sig)
                    .is_ok()
            }),
            _ => false,
        };
        ok.then_some(version)
    });
    match matched {
        Some(version) => valid(SCHEME, format!("a {version} signature matches (sent {age} s ago)")),
        None => invalid(
            SCHEME,
            "no signature in webhook-signature matches this secret and body".into(),
        ),
    }
}

/// The ed25519 public key of a `whpk_` key, or of a `whsk_` signing key.
fn public_key(secret: &str) -> Option<Vec<u8>> {
    if let Some(public) = secret.strip_prefix("whpk_") {
        return STANDARD.decode(public).ok();
    }
    let pair = crate::security::signing_key(secret)?;
    Some(ring::signature::KeyPair::public_key(&pair).as_ref().to_vec())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn valid(scheme: &'static str, reason: String) -> Verdict {
    Verdict {
        scheme,
        valid: true,
        reason,
    }
}

fn invalid(scheme: &'static str, reason: String) -> Verdict {
    Verdict {
        scheme,
        valid: false,
        reason,
    }
}
