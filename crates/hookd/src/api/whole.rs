//! Integer fields of request bodies: JSON Schema counts `157.0` as the
//! integer 157 (and generators such as schemathesis send it), serde does not.
//! `#[serde(default, deserialize_with = "whole::opt")]` takes either.

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Number;

fn integer<E: Error, T: TryFrom<i64>>(n: Number) -> Result<T, E> {
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    });
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| E::custom(format!("expected a whole number in range, got {n}")))
}

pub fn req<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    integer(Number::deserialize(d)?)
}

pub fn opt<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Number>::deserialize(d)?.map(integer).transpose()
}

/// For PATCH bodies, as `extract::nullable`: absent, `null`, or a value.
pub fn nullable<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    opt(d).map(Some)
}
