use crate::db::Sql;

use super::Scope;

/// What part of the sales structure a user sees. Built once per request from the user's
/// role, org unit and the unit's materialised path (`/1/4/9/`).
#[derive(Debug, Clone)]
pub struct Visibility {
    pub scope: Scope,
    pub user_id: i64,
    pub unit_id: Option<i64>,
    pub unit_path: Option<String>,
}

impl Visibility {
    /// The SQL condition limiting a table's rows to what this user may see.
    ///
    /// `owner_col` is the column holding the record's owner (a user id) and `unit_col` the
    /// column holding its org unit. Every list, search, count, export and detail lookup of a
    /// record type with an owner and a unit appends this condition. A user without an org
    /// unit whose scope depends on one falls back to their own records.
    /// Whether [`filter`](Self::filter) keeps only the user's own records (scope own, or a
    /// unit scope without a unit): a few thousand at most, best walked from the owner index.
    pub fn own_only(&self) -> bool {
        !matches!(
            (self.scope, self.unit_id, &self.unit_path),
            (Scope::All, _, _) | (Scope::Unit, Some(_), _) | (Scope::Subtree, _, Some(_))
        )
    }

    pub fn filter(&self, owner_col: &str, unit_col: &str) -> Sql {
        let mut s = Sql::new("(");
        match (self.scope, self.unit_id, &self.unit_path) {
            (Scope::All, _, _) => {
                s.push("1 = 1");
            }
            (Scope::Unit, Some(unit), _) => {
                s.push(unit_col).push(" = ").bind(unit);
            }
            (Scope::Subtree, _, Some(path)) => {
                s.push(unit_col).push(" IN (SELECT id FROM org_units WHERE path LIKE ").bind(format!("{path}%")).push(")");
            }
            _ => {
                s.push(owner_col).push(" = ").bind(self.user_id);
            }
        }
        s.push(")");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vis(scope: Scope) -> Visibility {
        Visibility { scope, user_id: 7, unit_id: Some(4), unit_path: Some("/1/4/".into()) }
    }

    #[test]
    fn each_scope_renders_its_condition() {
        assert_eq!(vis(Scope::All).filter("o", "u").text(), "(1 = 1)");
        assert_eq!(vis(Scope::Own).filter("o", "u").text(), "(o = $1)");
        assert_eq!(vis(Scope::Unit).filter("o", "u").text(), "(u = $1)");
        assert_eq!(vis(Scope::Subtree).filter("o", "u").text(), "(u IN (SELECT id FROM org_units WHERE path LIKE $1))");
        let no_unit = Visibility { scope: Scope::Subtree, user_id: 7, unit_id: None, unit_path: None };
        assert_eq!(no_unit.filter("o", "u").text(), "(o = $1)");
        assert!(no_unit.own_only() && vis(Scope::Own).own_only());
        assert!(!vis(Scope::Unit).own_only() && !vis(Scope::Subtree).own_only() && !vis(Scope::All).own_only());
    }
}
