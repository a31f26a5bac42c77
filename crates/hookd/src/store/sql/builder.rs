//! A small statement builder: SQL text, the values bound to it, and where
//! each goes, rendered for SQLite or PostgreSQL.

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
impl From<crate::store::DeliveryStatus> for Arg {
    fn from(v: crate::store::DeliveryStatus) -> Self {
        Arg::Int(v.code())
    }
}
impl From<crate::store::Trigger> for Arg {
    fn from(v: crate::store::Trigger) -> Self {
        Arg::Int(v.code())
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

/// A statement and the values bound to it. The text holds no placeholders:
/// `bind` records where each value goes, and the text is rendered for one
/// database at the end, `$1`, `$2`, … for PostgreSQL and `?` for SQLite (which
/// binds `?` by position, where it looks `$n` up by name among all of a
/// statement's parameters). Every value is bound where it is used, once.
#[derive(Default, Debug, Clone)]
pub struct Sql {
    text: String,
    /// Where in `text` each placeholder goes, in order.
    holes: Vec<usize>,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            ..Sql::default()
        }
    }

    /// A whole PostgreSQL statement whose placeholders `$1`…`$n`, written in
    /// its text, take `args` in order.
    pub fn postgres(text: &str, args: Vec<Arg>) -> Self {
        Sql {
            text: text.to_owned(),
            holes: Vec::new(),
            args,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn bind(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.holes.push(self.text.len());
        self.args.push(v.into());
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

    /// Appends another statement (its text and its values), e.g. as a subquery.
    pub fn append(&mut self, other: Sql) -> &mut Self {
        let at = self.text.len();
        self.text.push_str(&other.text);
        self.holes.extend(other.holes.iter().map(|h| h + at));
        self.args.extend(other.args);
        self
    }

    /// The text without its placeholders.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The text with each placeholder written as `backend` takes it.
    pub fn render(&self, backend: Backend) -> String {
        let mut out = String::with_capacity(self.text.len() + 4 * self.holes.len());
        let mut from = 0;
        for (i, &at) in self.holes.iter().enumerate() {
            out.push_str(&self.text[from..at]);
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(itoa::Buffer::new().format(i + 1));
                }
            }
            from = at;
        }
        out.push_str(&self.text[from..]);
        out
    }

    /// The statement's plan, as each database describes it, with the same arguments.
    pub fn explain(&self, backend: Backend) -> Sql {
        let explain = match backend {
            Backend::Sqlite => "EXPLAIN QUERY PLAN ",
            Backend::Postgres => "EXPLAIN ",
        };
        Sql {
            text: format!("{explain}{}", self.text),
            holes: self.holes.iter().map(|at| at + explain.len()).collect(),
            args: self.args.clone(),
        }
    }

    /// The rendered text and the values, handed over rather than copied (a
    /// fan-out's inserts hold many thousands of values).
    pub fn into_parts(self, backend: Backend) -> (String, Vec<Arg>) {
        (self.render(backend), self.args)
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

/// `LIKE` patterns that find any of `values` (as `"value"`) inside a JSON
/// array of strings.
pub fn json_array_contains(sql: &mut Sql, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    sql.push(" AND (");
    for (i, value) in values.iter().enumerate() {
        let escaped = value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        sql.push(if i == 0 { "" } else { " OR " })
            .push(column)
            .push(" LIKE ")
            .bind(format!("%\"{escaped}\"%"))
            .push(" ESCAPE '\\'");
    }
    sql.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rendered_for_each_database() {
        let mut a = Sql::new("UPDATE t SET x = ");
        a.bind(1).push(" WHERE id = ").bind("a").push(" AND cost = '$5?'");
        assert_eq!(
            a.render(Backend::Sqlite),
            "UPDATE t SET x = ? WHERE id = ? AND cost = '$5?'"
        );
        assert_eq!(
            a.render(Backend::Postgres),
            "UPDATE t SET x = $1 WHERE id = $2 AND cost = '$5?'"
        );
        assert_eq!(
            a.explain(Backend::Postgres).render(Backend::Postgres),
            "EXPLAIN UPDATE t SET x = $1 WHERE id = $2 AND cost = '$5?'"
        );
        let shown: Vec<String> = a.args().iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(shown, ["Int(1)", "Text(\"a\")"]);
    }

    #[test]
    fn chunks_are_powers_of_two() {
        let rows: Vec<u32> = (0..203).collect();
        let sizes: Vec<usize> = chunks(&rows, 64).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![64, 64, 64, 8, 2, 1]);
        assert_eq!(chunks(&rows[..0], 64).count(), 0);
        let mut sql = Sql::new("x IN ");
        sql.bind_list(&["a", "b", "c"]);
        assert_eq!(sql.render(Backend::Postgres), "x IN ($1, $2, $3, $4)");
    }
}
