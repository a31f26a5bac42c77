//! A small statement builder: SQL text with `$n` placeholders, which both
//! SQLite and PostgreSQL accept, and the values bound to them.

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

use crate::store::Backend;

#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Int(i64),
    NullText,
    NullInt,
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(v as i64)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        v.map_or(Arg::NullText, Arg::Text)
    }
}
impl From<Option<&String>> for Arg {
    fn from(v: Option<&String>) -> Self {
        v.map_or(Arg::NullText, |s| Arg::Text(s.clone()))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Arg::NullText | Arg::NullInt => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

#[derive(Default, Debug, Clone)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// A whole statement whose placeholders `$1`…`$n` take `args` in order.
    pub fn fixed(text: &str, args: Vec<Arg>) -> Self {
        Sql {
            text: text.to_owned(),
            args,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn bind(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.args.push(v.into());
        self.text.push('$');
        self.text.push_str(itoa::Buffer::new().format(self.args.len()));
        self
    }

    /// Appends `(v1, v2, …)` as placeholders, padded with repeats of the last
    /// value to a power of two, so that the database sees few distinct
    /// statements and can reuse their prepared forms.
    pub fn bind_list<T: Into<Arg> + Clone>(&mut self, vs: &[T]) -> &mut Self {
        self.push("(");
        let padded = vs.len().next_power_of_two();
        for i in 0..padded {
            if i > 0 {
                self.push(", ");
            }
            self.bind(vs[i.min(vs.len() - 1)].clone());
        }
        self.push(")")
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The text with `$n` written `?n`, which SQLite binds by number directly
    /// (it looks a `$n` up by name among all of a statement's parameters).
    pub fn numbered_text(&self) -> String {
        let mut text = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let numbered = rest[..digits]
                .parse::<usize>()
                .is_ok_and(|n| (1..=self.args.len()).contains(&n));
            text.push(if numbered { '?' } else { '$' });
        }
        text.push_str(rest);
        text
    }

    /// For SQLite's group commits: an `INSERT` becomes `INSERT OR ROLLBACK`, so a
    /// conflict ends the whole transaction (as any other error there does).
    /// With the embedded schema's deferred foreign keys, no statement can then
    /// fail alone, and SQLite keeps no statement journal: a copy of every page a
    /// multi-row statement touches, which was a fifth of the writer's time in a
    /// large fan-out.
    pub fn rollback_on_conflict(mut self) -> Sql {
        if let Some(rest) = self.text.strip_prefix("INSERT INTO ") {
            self.text = format!("INSERT OR ROLLBACK INTO {rest}");
        }
        self
    }

    /// The same statement under `EXPLAIN`, with the same arguments.
    /// The statement's plan, as each database describes it.
    pub fn explain(&self, backend: Backend) -> Sql {
        let explain = match backend {
            Backend::Sqlite => "EXPLAIN QUERY PLAN",
            Backend::Postgres => "EXPLAIN",
        };
        Sql {
            text: format!("{explain} {}", self.text),
            args: self.args.clone(),
        }
    }

    pub fn query(&self) -> Query<'static, Any, AnyArguments> {
        self.clone().into_query()
    }

    /// As [`Sql::into_query`], in the placeholder style that costs `backend`
    /// least: SQLite looks every `$n` up by a linear scan of all of a
    /// statement's parameters, once when preparing and again when binding, so a
    /// statement with thousands of them takes quadratic time there. Its
    /// anonymous `?` costs nothing to look up; each use binds its value again.
    pub fn into_query_for(self, backend: Backend) -> Query<'static, Any, AnyArguments> {
        match backend {
            Backend::Sqlite => self.positional().into_query(),
            Backend::Postgres => self.into_query(),
        }
    }

    /// `$n` placeholders turned into `?`, with the values in order of use.
    fn positional(self) -> Sql {
        let mut uses = vec![0usize; self.args.len()];
        let mut order = Vec::with_capacity(self.args.len());
        let mut text = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse::<usize>() {
                Ok(n) if (1..=uses.len()).contains(&n) => {
                    text.push('?');
                    uses[n - 1] += 1;
                    order.push(n - 1);
                    rest = &rest[digits..];
                }
                _ => text.push('$'),
            }
        }
        text.push_str(rest);
        let mut values: Vec<Option<Arg>> = self.args.into_iter().map(Some).collect();
        let args = order
            .into_iter()
            .map(|i| {
                uses[i] -= 1;
                // The last use takes the value; earlier ones copy it.
                if uses[i] == 0 {
                    values[i].take().expect("taken at its last use only")
                } else {
                    values[i].clone().expect("taken at its last use only")
                }
            })
            .collect();
        Sql { text, args }
    }

    /// As [`Sql::query`], handing over the text and values rather than copying
    /// them (a fan-out's inserts hold many thousands of values).
    pub fn into_query(self) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(v) => q.bind(v),
                Arg::NullText => q.bind(None::<String>),
                Arg::NullInt => q.bind(None::<i64>),
            };
        }
        q
    }
}

/// Splits rows for multi-row statements into chunks whose sizes are powers of
/// two, at most `max`: few distinct statement shapes, each prepared once.
pub fn chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    chunk_ranges(rows.len(), max).into_iter().map(move |r| &rows[r])
}

/// The index ranges of [`chunks`], for callers that own their rows.
pub fn chunk_ranges(len: usize, max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let n = max.min(1 << (len - start).ilog2());
        out.push(start..start + n);
        start += n;
    }
    out
}

/// Builds `SELECT cols FROM … WHERE … AND key >/< after ORDER BY key LIMIT n`.
pub fn paginate(sql: &mut Sql, key: &str, page: &crate::store::Page) {
    if let Some(after) = &page.after {
        sql.push(" AND ")
            .push(key)
            .push(if page.descending { " < " } else { " > " })
            .bind(after);
    }
    sql.push(" ORDER BY ")
        .push(key)
        .push(if page.descending { " DESC" } else { " ASC" });
    sql.push(" LIMIT ").bind(page.limit);
}

/// A `LIKE` pattern that finds `"value"` inside a JSON array of strings.
pub fn json_array_contains(sql: &mut Sql, column: &str, value: &str) {
    let escaped = value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    sql.push(" AND ")
        .push(column)
        .push(" LIKE ")
        .bind(format!("%\"{escaped}\"%"))
        .push(" ESCAPE '\\'");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_anonymous_ones_in_order_of_use() {
        let mut a = Sql::new("UPDATE t SET x = ");
        a.bind(1)
            .push(" WHERE id = ")
            .bind("a")
            .push(" OR parent = $1 OR cost = '$5'");
        let p = a.positional();
        assert_eq!(p.text, "UPDATE t SET x = ? WHERE id = ? OR parent = ? OR cost = '$5'");
        let shown: Vec<String> = p.args.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(shown, ["Int(1)", "Text(\"a\")", "Int(1)"]);
    }

    #[test]
    fn numbered_placeholders_keep_their_numbers() {
        let mut a = Sql::new("UPDATE t SET x = ");
        a.bind(1)
            .push(" WHERE id = ")
            .bind("a")
            .push(" OR parent = $1 OR cost = '$5'");
        assert_eq!(
            a.numbered_text(),
            "UPDATE t SET x = ?1 WHERE id = ?2 OR parent = ?1 OR cost = '$5'"
        );
    }

    #[test]
    fn chunks_are_powers_of_two() {
        let rows: Vec<u32> = (0..203).collect();
        let sizes: Vec<usize> = chunks(&rows, 64).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![64, 64, 64, 8, 2, 1]);
        assert_eq!(chunks(&rows[..0], 64).count(), 0);
        let mut sql = Sql::new("x IN ");
        sql.bind_list(&["a", "b", "c"]);
        assert_eq!(sql.text, "x IN ($1, $2, $3, $4)");
    }
}
