//! Payload filters: a small JSON expression over a message's payload, in the
//! MongoDB-like style Convoy and Outpost users know.
//!
//! ```json
//! {"client": {"$regex": "^billing-"}, "changes": {"$any": {"name": {"$regex": "Timeout$"}}}}
//! ```
//!
//! A filter is compiled once, when it is read (regexes included); a filter
//! that does not compile is kept with its error, so that the API can say where
//! it is wrong, and never matches.

use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Deepest nesting of objects and arrays a filter may have.
const MAX_DEPTH: usize = 16;
/// Largest filter, as JSON text.
const MAX_BYTES: usize = 16 * 1024;
/// Largest compiled regex (the `regex` crate's own unit, roughly bytes).
const MAX_REGEX: usize = 256 * 1024;

#[derive(Clone)]
pub struct Filter {
    source: Value,
    compiled: Result<Arc<Expr>, FilterError>,
}

/// Where a filter is wrong (the keys leading to the bad part) and why.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    pub path: Vec<String>,
    pub msg: String,
}

impl Filter {
    pub fn new(source: Value) -> Filter {
        let compiled = compile(&source).map(Arc::new);
        Filter { source, compiled }
    }

    /// Why this filter cannot be used, if it cannot.
    pub fn error(&self) -> Option<&FilterError> {
        self.compiled.as_ref().err()
    }

    pub fn matches(&self, payload: &Value) -> bool {
        self.compiled.as_ref().is_ok_and(|e| e.eval(payload))
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Filter::new)
    }
}

enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Field(Vec<String>, Vec<Op>),
}

enum Op {
    Eq(Value),
    Ne(Value),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Regex(Regex),
    Size(usize),
    /// Some element of the array matches.
    Any(Element),
    /// The array is not empty and every element matches.
    All(Element),
    Not(Vec<Op>),
}

/// What `$any` / `$all` ask of each element: operators on the element itself,
/// or a filter over it when the elements are objects.
enum Element {
    Ops(Vec<Op>),
    Doc(Box<Expr>),
}

struct Compiler {
    path: Vec<String>,
}

fn compile(source: &Value) -> Result<Expr, FilterError> {
    let mut c = Compiler { path: Vec::new() };
    if source.to_string().len() > MAX_BYTES {
        return Err(c.err(format!("a filter is at most {MAX_BYTES} bytes of JSON")));
    }
    if depth(source) > MAX_DEPTH {
        return Err(c.err(format!("a filter nests at most {MAX_DEPTH} levels")));
    }
    c.doc(source)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Compiler {
    fn err(&self, msg: impl Into<String>) -> FilterError {
        FilterError {
            path: self.path.clone(),
            msg: msg.into(),
        }
    }

    fn within<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> Result<T, FilterError>) -> Result<T, FilterError> {
        self.path.push(key.to_owned());
        let r = f(self);
        self.path.pop();
        r
    }

    /// A document filter: combinators and field paths, all of which must match.
    fn doc(&mut self, v: &Value) -> Result<Expr, FilterError> {
        let Value::Object(map) = v else {
            return Err(self.err("must be an object of field paths and conditions"));
        };
        let mut all = Vec::with_capacity(map.len());
        for (key, value) in map {
            all.push(self.within(key, |c| match key.as_str() {
                "$and" | "$all" => c.list(value).map(Expr::And),
                "$or" | "$any" => c.list(value).map(Expr::Or),
                "$not" => c.doc(value).map(|e| Expr::Not(Box::new(e))),
                "$nor" => c.list(value).map(|l| Expr::Not(Box::new(Expr::Or(l)))),
                k if k.starts_with('$') => Err(c.err(format!(
                    "unknown combinator {k}: use $and (or $all), $or (or $any), $not or $nor"
                ))),
                path => {
                    let path = c.field_path(path)?;
                    Ok(Expr::Field(path, c.condition(value)?))
                }
            })?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Expr::And(all)
        })
    }

    fn list(&mut self, v: &Value) -> Result<Vec<Expr>, FilterError> {
        let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
            return Err(self.err("must be a non-empty array of filters"));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(self.within(&i.to_string(), |c| c.doc(item))?);
        }
        Ok(out)
    }

    fn field_path(&self, path: &str) -> Result<Vec<String>, FilterError> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) || segments.len() > 32 {
            return Err(self.err("a field path is 1 to 32 non-empty names joined by '.'"));
        }
        Ok(segments)
    }

    /// A field's condition: an object of operators, or a value it must equal.
    fn condition(&mut self, v: &Value) -> Result<Vec<Op>, FilterError> {
        match v {
            Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => {
                if m.keys().any(|k| !k.starts_with('$')) {
                    return Err(self.err("mixes operators ($…) with field names"));
                }
                let mut ops = Vec::with_capacity(m.len());
                for (k, arg) in m {
                    ops.push(self.within(k, |c| c.op(k, arg))?);
                }
                Ok(ops)
            }
            other => Ok(vec![Op::Eq(other.clone())]),
        }
    }

    fn op(&mut self, name: &str, arg: &Value) -> Result<Op, FilterError> {
        let ordered = |c: &Self, arg: &Value| {
            if arg.is_number() || arg.is_string() {
                Ok(arg.clone())
            } else {
                Err(c.err("compares with a number or a string"))
            }
        };
        Ok(match name {
            "$eq" => Op::Eq(arg.clone()),
            "$ne" | "$neq" => Op::Ne(arg.clone()),
            "$gt" => Op::Gt(ordered(self, arg)?),
            "$gte" => Op::Gte(ordered(self, arg)?),
            "$lt" => Op::Lt(ordered(self, arg)?),
            "$lte" => Op::Lte(ordered(self, arg)?),
            "$in" | "$nin" => {
                let Some(items) = arg.as_array() else {
                    return Err(self.err("takes an array of values"));
                };
                if name == "$in" {
                    Op::In(items.clone())
                } else {
                    Op::Nin(items.clone())
                }
            }
            "$exists" | "$exist" => Op::Exists(arg.as_bool().ok_or_else(|| self.err("takes true or false"))?),
            "$regex" => {
                let pattern = arg
                    .as_str()
                    .ok_or_else(|| self.err("takes a regular expression as a string"))?;
                let re = regex::RegexBuilder::new(pattern)
                    .size_limit(MAX_REGEX)
                    .build()
                    .map_err(|e| self.err(format!("invalid regular expression: {e}")))?;
                Op::Regex(re)
            }
            "$size" => Op::Size(
                (arg.as_u64())
                    .or_else(|| arg.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                    .ok_or_else(|| self.err("takes a whole number"))?
                    .try_into()
                    .unwrap_or(usize::MAX),
            ),
            "$any" | "$elemMatch" => Op::Any(self.element(arg)?),
            "$all" => Op::All(self.element(arg)?),
            "$not" => match arg {
                Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.starts_with('$')) => {
                    Op::Not(self.condition(arg)?)
                }
                _ => return Err(self.err("takes an object of operators")),
            },
            other => {
                return Err(self.err(format!(
                    "unknown operator {other}: use $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists, \
                     $regex, $size, $any (or $elemMatch), $all or $not"
                )));
            }
        })
    }

    fn element(&mut self, arg: &Value) -> Result<Element, FilterError> {
        match arg {
            Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.starts_with('$') && !is_combinator(k)) => {
                self.condition(arg).map(Element::Ops)
            }
            Value::Object(m) if !m.is_empty() => self.doc(arg).map(|e| Element::Doc(Box::new(e))),
            _ => Err(self.err("takes a filter over each element, or an object of operators")),
        }
    }
}

fn is_combinator(k: &str) -> bool {
    matches!(k, "$and" | "$or" | "$nor" | "$any" | "$all")
}

impl Expr {
    fn eval(&self, doc: &Value) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.eval(doc)),
            Expr::Or(any) => any.iter().any(|e| e.eval(doc)),
            Expr::Not(e) => !e.eval(doc),
            Expr::Field(path, ops) => {
                let found = resolve(doc, path);
                ops.iter().all(|op| op.eval(&found))
            }
        }
    }
}

/// Every value a dotted path reaches. Through an array, a name applies to each
/// element (`changes.name` is every change's name) and a number to one element.
fn resolve<'a>(doc: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut current = vec![doc];
    for seg in path {
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(m) => next.extend(m.get(seg)),
                Value::Array(items) => match seg.parse::<usize>() {
                    Ok(i) => next.extend(items.get(i)),
                    Err(_) => next.extend(items.iter().filter_map(|item| item.get(seg))),
                },
                _ => {}
            }
        }
        current = next;
    }
    current
}

impl Op {
    /// Whether the values a path reached satisfy this operator. As in MongoDB,
    /// a value test passes when any reached value, or any element of a reached
    /// array, passes it; `$ne` and `$nin` pass when none does.
    fn eval(&self, found: &[&Value]) -> bool {
        let each = |test: &dyn Fn(&Value) -> bool| {
            found.iter().any(|v| {
                test(v)
                    || match v {
                        Value::Array(items) => items.iter().any(test),
                        _ => false,
                    }
            })
        };
        match self {
            Op::Eq(want) => each(&|v| json_eq(v, want)),
            Op::Ne(want) => !each(&|v| json_eq(v, want)),
            Op::Gt(b) => each(&|v| compare(v, b).is_some_and(|o| o.is_gt())),
            Op::Gte(b) => each(&|v| compare(v, b).is_some_and(|o| o.is_ge())),
            Op::Lt(b) => each(&|v| compare(v, b).is_some_and(|o| o.is_lt())),
            Op::Lte(b) => each(&|v| compare(v, b).is_some_and(|o| o.is_le())),
            Op::In(set) => each(&|v| set.iter().any(|w| json_eq(v, w))),
            Op::Nin(set) => !each(&|v| set.iter().any(|w| json_eq(v, w))),
            Op::Exists(want) => found.is_empty() != *want,
            Op::Regex(re) => each(&|v| v.as_str().is_some_and(|s| re.is_match(s))),
            Op::Size(n) => found.iter().any(|v| v.as_array().is_some_and(|a| a.len() == *n)),
            Op::Any(el) => found
                .iter()
                .any(|v| v.as_array().is_some_and(|a| a.iter().any(|x| el.eval(x)))),
            Op::All(el) => found.iter().any(|v| {
                v.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|x| el.eval(x)))
            }),
            Op::Not(ops) => !ops.iter().all(|op| op.eval(found)),
        }
    }
}

impl Element {
    fn eval(&self, v: &Value) -> bool {
        match self {
            Element::Ops(ops) => ops.iter().all(|op| op.eval(&[v])),
            Element::Doc(e) => e.eval(v),
        }
    }
}

/// JSON equality in which numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers with numbers, strings with strings; anything else does not compare.
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Filter;

    fn check(filter: serde_json::Value, payload: serde_json::Value) -> bool {
        let f = Filter::new(filter);
        assert!(f.error().is_none(), "{:?}", f.error());
        f.matches(&payload)
    }

    #[test]
    fn equality_paths_and_arrays() {
        let p = json!({"client": "billing-api", "n": 3, "user": {"tier": "gold"}, "tags": ["a", "b"],
                       "changes": [{"name": "Timeout", "value": 30}, {"name": "Retries", "value": 2}]});
        assert!(check(json!({}), p.clone()));
        assert!(check(json!({"client": "billing-api"}), p.clone()));
        assert!(!check(json!({"client": "other"}), p.clone()));
        assert!(check(json!({"user.tier": "gold"}), p.clone()));
        assert!(check(json!({"n": 3.0}), p.clone()), "numbers compare by value");
        assert!(check(json!({"tags": "b"}), p.clone()), "a value in an array matches");
        assert!(check(json!({"changes.name": "Retries"}), p.clone()));
        assert!(check(json!({"changes.1.name": "Retries"}), p.clone()));
        assert!(!check(json!({"changes.0.name": "Retries"}), p.clone()));
        assert!(!check(json!({"missing.path": "x"}), p));
    }

    #[test]
    fn operators() {
        let p = json!({"amount": 4200, "currency": "EUR", "client": "billing-api", "items": [1, 2, 3]});
        assert!(check(json!({"amount": {"$gte": 4200, "$lt": 5000}}), p.clone()));
        assert!(!check(json!({"amount": {"$gt": 4200}}), p.clone()));
        assert!(check(json!({"currency": {"$in": ["EUR", "USD"]}}), p.clone()));
        assert!(check(json!({"currency": {"$nin": ["GBP"]}}), p.clone()));
        assert!(check(json!({"currency": {"$ne": "GBP"}}), p.clone()));
        assert!(
            check(json!({"absent": {"$ne": "GBP"}}), p.clone()),
            "$ne holds for a missing field"
        );
        assert!(check(json!({"client": {"$regex": "^billing-"}}), p.clone()));
        assert!(!check(json!({"client": {"$regex": "(?i)^BILLING$"}}), p.clone()));
        assert!(check(
            json!({"client": {"$exists": true}, "nope": {"$exists": false}}),
            p.clone()
        ));
        assert!(check(json!({"items": {"$size": 3}}), p.clone()));
        assert!(check(json!({"items": {"$any": {"$gt": 2}}}), p.clone()));
        assert!(check(json!({"items": {"$all": {"$gt": 0}}}), p.clone()));
        assert!(!check(json!({"items": {"$all": {"$gt": 1}}}), p.clone()));
        assert!(check(json!({"amount": {"$not": {"$lt": 100}}}), p.clone()));
        assert!(
            !check(json!({"amount": {"$gt": "4000"}}), p),
            "a number never compares with a string"
        );
    }

    #[test]
    fn combinators_and_element_filters() {
        // Fig: a setting client matching one regex, and a changed setting matching another.
        let fig =
            json!({"clientName": "Billing.Api", "changedSettings": [{"name": "DbTimeout"}, {"name": "LogLevel"}]});
        let f = json!({"$and": [
            {"clientName": {"$regex": "^Billing\\."}},
            {"changedSettings": {"$any": {"name": {"$regex": "Timeout$"}}}}
        ]});
        assert!(check(f, fig.clone()));
        assert!(!check(
            json!({"changedSettings": {"$any": {"name": "Nope"}}}),
            fig.clone()
        ));
        assert!(check(
            json!({"$or": [{"clientName": "x"}, {"clientName": "Billing.Api"}]}),
            fig.clone()
        ));
        assert!(check(
            json!({"$any": [{"clientName": "x"}, {"clientName": "Billing.Api"}]}),
            fig.clone()
        ));
        assert!(!check(json!({"$not": {"clientName": "Billing.Api"}}), fig.clone()));
        assert!(check(json!({"$nor": [{"clientName": "x"}, {"clientName": "y"}]}), fig));
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            (json!([1]), vec![], "must be an object"),
            (json!({"a..b": 1}), vec!["a..b"], "field path"),
            (
                json!({"a": {"$regex": "("}}),
                vec!["a", "$regex"],
                "invalid regular expression",
            ),
            (json!({"a": {"$bogus": 1}}), vec!["a", "$bogus"], "unknown operator"),
            (json!({"$xor": []}), vec!["$xor"], "unknown combinator"),
            (
                json!({"$or": [{"a": {"$in": 3}}]}),
                vec!["$or", "0", "a", "$in"],
                "array",
            ),
            (json!({"a": {"$gt": 1, "b": 2}}), vec!["a"], "mixes"),
            (
                json!({"l": {"$any": {"name": {"$regex": "["}}}}),
                vec!["l", "$any", "name", "$regex"],
                "regular expression",
            ),
        ];
        for (filter, path, msg) in cases {
            let f = Filter::new(filter.clone());
            let e = f.error().unwrap_or_else(|| panic!("{filter} compiles"));
            assert_eq!(e.path, path, "{filter}");
            assert!(e.msg.contains(msg), "{filter}: {}", e.msg);
            assert!(!f.matches(&json!({})), "a broken filter never matches");
        }
        let deep = (0..20).fold(json!(1), |v, _| json!({"a": v}));
        assert!(Filter::new(deep).error().is_some());
    }
}
