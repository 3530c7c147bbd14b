use crate::db::Sql;

use super::Scope;

/// What part of the sales structure a user sees, and what they take part in. Built once per
/// request from the user's role, org unit and the unit's materialised path (`/1/4/9/`).
///
/// Two rules, one filter:
/// - **Scope** (the role's): own records; the user's *home unit* and every unit below it (a
///   team member's home unit is the branch the team belongs to, so a branch's support agent
///   sees the requests filed under the branch and under its teams); the user's unit subtree;
///   or everything. Whatever the scope, a user always sees the records they own.
/// - **Taking part** (whatever the scope): opportunities with a meeting or a call of theirs
///   (as the meeting's rep, a participant, directly or through a group, or the call's owner);
///   requests with an intervention they are a technician on; and, read only, the customer
///   behind any opportunity or request they may see.
#[derive(Debug, Clone)]
pub struct Visibility {
    pub scope: Scope,
    pub user_id: i64,
    pub unit_id: Option<i64>,
    pub unit_path: Option<String>,
    /// The path of the user's home unit: the branch above (or at) their unit, else the unit.
    pub home_path: Option<String>,
}

/// The ways a user takes part in an opportunity (each a query of opportunity ids, to be
/// followed by the user's id): the meeting's rep, a participant (directly or by a group), the
/// owner of a call.
const TAKING_PART: [&str; 4] = [
    "SELECT vm.opportunity_id FROM meetings vm WHERE vm.owner_id = ",
    "SELECT vm.opportunity_id FROM meeting_participants vp JOIN meetings vm ON vm.id = vp.meeting_id WHERE vp.kind = 'user' AND vp.ref_id = ",
    "SELECT vm.opportunity_id FROM user_group_members vg JOIN meeting_participants vp ON vp.kind = 'group' AND vp.ref_id = vg.group_id \
     JOIN meetings vm ON vm.id = vp.meeting_id WHERE vg.user_id = ",
    "SELECT vk.opportunity_id FROM calls vk WHERE vk.opportunity_id IS NOT NULL AND vk.owner_id = ",
];

/// The ways a user takes part in a service request (each a query of request ids, to be
/// followed by the user's id): a technician on one of its interventions, the owner of a call.
const TAKING_PART_REQUESTS: [&str; 2] = [
    "SELECT vi.request_id FROM intervention_technicians vt JOIN interventions vi ON vi.id = vt.intervention_id WHERE vt.user_id = ",
    "SELECT vk.request_id FROM calls vk WHERE vk.request_id IS NOT NULL AND vk.owner_id = ",
];

impl Visibility {
    /// Everything, for work done on the system's behalf (the demo company's loader).
    pub fn everything(user_id: i64) -> Visibility {
        Visibility { scope: Scope::All, user_id, unit_id: None, unit_path: None, home_path: None }
    }

    /// Whether [`filter`](Self::filter) keeps only the user's own records (scope own, or a
    /// unit scope without a unit): a few thousand at most, best walked from the owner index.
    pub fn own_only(&self) -> bool {
        !matches!(
            (self.scope, &self.home_path, &self.unit_path),
            (Scope::All, _, _) | (Scope::Unit, Some(_), _) | (Scope::Subtree, _, Some(_))
        )
    }

    /// The id of the user's home unit (the last segment of its materialised path): the unit
    /// a record they create goes to when they name none.
    pub fn home_unit_id(&self) -> Option<i64> {
        self.home_path.as_deref()?.trim_end_matches('/').rsplit('/').next()?.parse().ok()
    }

    /// Whether the user's scope covers the unit at `path` (and so the units below it): for a
    /// unit picker (reports). Own-only users cover none.
    pub fn covers_unit(&self, path: &str) -> bool {
        match self.scope_path() {
            _ if self.sees_all() => true,
            Some(p) => path.starts_with(p),
            None => false,
        }
    }

    /// Whether the user sees every record (no condition needed).
    pub fn sees_all(&self) -> bool {
        self.scope == Scope::All
    }

    /// The SQL condition limiting a table's rows to the user's scope: what they may see *and
    /// change* by their place in the sales structure (participation aside).
    ///
    /// `owner_col` is the column holding the record's owner (a user id) and `unit_col` the
    /// column holding its org unit. A user without an org unit whose scope depends on one
    /// falls back to their own records.
    pub fn filter(&self, owner_col: &str, unit_col: &str) -> Sql {
        let mut s = Sql::new("(");
        for (i, arm) in self.scope_arms(owner_col, unit_col).into_iter().enumerate() {
            s.push(if i == 0 { "" } else { " OR " }).append(arm);
        }
        s.push(")");
        s
    }

    /// The conditions whose `OR` is [`filter`](Self::filter), each read from an index of its
    /// own: the scope's units (`unit_col IN (…)`) and the user's own records (`owner_col = me`);
    /// `1 = 1` alone for those who see everything.
    fn scope_arms(&self, owner_col: &str, unit_col: &str) -> Vec<Sql> {
        let mut own = Sql::new(owner_col);
        own.push(" = ").bind(self.user_id);
        match (self.scope, &self.home_path, &self.unit_path) {
            (Scope::All, _, _) => vec![Sql::new("1 = 1")],
            (Scope::Unit, Some(path), _) | (Scope::Subtree, _, Some(path)) => {
                let mut units = Sql::new(unit_col);
                units.push(" IN (SELECT id FROM org_units WHERE path LIKE ").bind(format!("{path}%")).push(")");
                vec![units, own]
            }
            _ => vec![own],
        }
    }

    /// Opportunities (alias `o`) the user may see: their scope, plus those they take part in
    /// through a meeting (rep or participant, directly or by group) or a call.
    pub fn opportunities(&self, o: &str) -> Sql {
        let mut s = Sql::new("(");
        s.append(self.filter(&format!("{o}.owner_id"), &format!("{o}.branch_id")));
        if !self.sees_all() {
            for way in TAKING_PART {
                s.push(" OR ").push(o).push(".id IN (").push(way).bind(self.user_id).push(")");
            }
        }
        s.push(")");
        s
    }

    /// [`opportunities`](Self::opportunities) as arms whose union is the same rows, for a query
    /// wanting the first rows of each status (the board): each scope arm (the user's own, the
    /// scope's units) is an index walk of its own (`opportunities_owner`, `opportunities_branch`),
    /// and [`taking_part_ids`](Self::taking_part_ids) a few ids read by primary key, where the
    /// `OR` of them all walked each status backwards testing every row. `None` for those who
    /// see everything (no condition to split).
    pub fn opportunity_arms(&self, o: &str) -> Option<Vec<Sql>> {
        if self.sees_all() {
            return None;
        }
        Some(self.scope_arms(&format!("{o}.owner_id"), &format!("{o}.branch_id")))
    }

    /// The ids of the opportunities the user takes part in (a `SELECT`, for an `IN`): the
    /// union of the ways of taking part.
    pub fn taking_part_ids(&self) -> Sql {
        let mut s = Sql::new("");
        for (i, way) in TAKING_PART.iter().enumerate() {
            s.push(if i == 0 { "" } else { " UNION " }).push(way).bind(self.user_id);
        }
        s
    }

    /// Opportunities (alias `o`) the user sees only by taking part, outside their scope: what
    /// figures counted by owner and unit leave out (none for those who see everything). One
    /// `IN` over the union of the ways of taking part, so that the few ids drive the lookup.
    pub fn opportunities_taking_part_only(&self, o: &str) -> Sql {
        if self.sees_all() {
            return Sql::new("(1 = 0)");
        }
        let mut s = Sql::new("(");
        s.push(o).push(".id IN (").append(self.taking_part_ids()).push(")");
        s.push(" AND CASE WHEN ").append(self.filter(&format!("{o}.owner_id"), &format!("{o}.branch_id"))).push(" THEN 0 ELSE 1 END = 1)");
        s
    }

    /// Service requests (alias `r`) the user may see: their scope, plus those with an
    /// intervention the user is a technician on or a call they own.
    pub fn requests(&self, r: &str) -> Sql {
        let mut s = Sql::new("(");
        s.append(self.filter(&format!("{r}.owner_id"), &format!("{r}.branch_id")));
        if !self.sees_all() {
            for way in TAKING_PART_REQUESTS {
                s.push(" OR ").push(r).push(".id IN (").push(way).bind(self.user_id).push(")");
            }
        }
        s.push(")");
        s
    }

    /// [`requests`](Self::requests) as arms whose union is the same rows, each row in exactly
    /// one arm (so that a `UNION ALL` of them needs no deduplication): the scope's arms (the
    /// scope's units, then the user's own requests outside them), each read from an index of
    /// its own, then the requests they take part in
    /// ([`taking_part_request_ids`](Self::taking_part_request_ids), by id) outside their
    /// scope. An arm leaves out the rows of those before it with `CASE WHEN … THEN 0 ELSE 1
    /// END = 1`, which keeps a row whose condition is unknown (a request without a unit), as
    /// the arm before it did not take it. `None` for those who see everything.
    pub fn request_arms(&self, r: &str) -> Option<Vec<Sql>> {
        if self.sees_all() {
            return None;
        }
        let scope = self.scope_arms(&format!("{r}.owner_id"), &format!("{r}.branch_id"));
        let mut taking_part = Sql::new(r);
        taking_part.push(".id IN (").append(self.taking_part_request_ids()).push(")");
        let mut arms: Vec<Sql> = Vec::with_capacity(scope.len() + 1);
        for (k, arm) in scope.iter().cloned().chain([taking_part]).enumerate() {
            let mut c = Sql::new("(");
            c.append(arm);
            for before in &scope[..k.min(scope.len())] {
                c.push(" AND CASE WHEN ").append(before.clone()).push(" THEN 0 ELSE 1 END = 1");
            }
            c.push(")");
            arms.push(c);
        }
        Some(arms)
    }

    /// A derived table (in parentheses, to alias) of the rows `each` selects for each way the
    /// user sees a service request on `r`: one `SELECT` with [`requests`](Self::requests) for
    /// those who see everything, else a `UNION ALL` over [`request_arms`](Self::request_arms)
    /// (each request in one arm). `each` gets the condition and returns the `SELECT`.
    pub fn request_rows(&self, r: &str, each: impl Fn(Sql) -> Sql) -> Sql {
        let arms = self.request_arms(r).unwrap_or_else(|| vec![self.requests(r)]);
        let mut q = Sql::new("(");
        for (k, seen) in arms.into_iter().enumerate() {
            if k > 0 {
                q.push(" UNION ALL ");
            }
            q.append(each(seen));
        }
        q.push(")");
        q
    }

    /// The ids of the service requests the user takes part in (a `SELECT`, for an `IN`): the
    /// union of the ways of taking part.
    pub fn taking_part_request_ids(&self) -> Sql {
        let mut s = Sql::new("");
        for (i, way) in TAKING_PART_REQUESTS.iter().enumerate() {
            s.push(if i == 0 { "" } else { " UNION " }).push(way).bind(self.user_id);
        }
        s
    }

    /// The unit path a unit-based scope covers (`None` for own and all).
    fn scope_path(&self) -> Option<&str> {
        match (self.scope, &self.home_path, &self.unit_path) {
            (Scope::Unit, Some(p), _) | (Scope::Subtree, _, Some(p)) => Some(p),
            _ => None,
        }
    }

    /// Customers (alias `c`) the user may *read*: their scope, plus the customer behind any
    /// opportunity or request they may see. Changing a customer needs [`filter`](Self::filter).
    ///
    /// Each way of seeing a file is its own `IN` over an indexed path (an owner, a unit, a
    /// meeting, a participant, a call, a technician), so that every subquery reads only the
    /// user's own rows instead of walking all opportunities through an `OR`.
    pub fn customers(&self, c: &str) -> Sql {
        let mut s = Sql::new("(");
        s.append(self.filter(&format!("{c}.owner_id"), &format!("{c}.branch_id")));
        if !self.sees_all() {
            let me = self.user_id;
            let any = |sub: &str, arg: crate::db::sql::Arg, s: &mut Sql| {
                s.push(" OR ").push(c).push(".id IN (").push(sub).bind(arg).push(")");
            };
            if let Some(path) = self.scope_path() {
                let like = format!("{path}%");
                any(
                    "SELECT vo.customer_id FROM opportunities vo WHERE vo.trashed = 0 AND vo.branch_id IN \
                     (SELECT id FROM org_units WHERE path LIKE ",
                    like.clone().into(),
                    &mut s,
                );
                s.push(")");
                any(
                    "SELECT vr.customer_id FROM service_requests vr WHERE vr.branch_id IN (SELECT id FROM org_units WHERE path LIKE ",
                    like.into(),
                    &mut s,
                );
                s.push(")");
            }
            for sub in [
                "SELECT vo.customer_id FROM opportunities vo WHERE vo.trashed = 0 AND vo.owner_id = ",
                "SELECT vo.customer_id FROM meetings vm JOIN opportunities vo ON vo.id = vm.opportunity_id WHERE vo.trashed = 0 AND vm.owner_id = ",
                "SELECT vo.customer_id FROM meeting_participants vp JOIN meetings vm ON vm.id = vp.meeting_id \
                 JOIN opportunities vo ON vo.id = vm.opportunity_id WHERE vo.trashed = 0 AND vp.kind = 'user' AND vp.ref_id = ",
                "SELECT vo.customer_id FROM user_group_members vg JOIN meeting_participants vp ON vp.kind = 'group' AND vp.ref_id = vg.group_id \
                 JOIN meetings vm ON vm.id = vp.meeting_id JOIN opportunities vo ON vo.id = vm.opportunity_id \
                 WHERE vo.trashed = 0 AND vg.user_id = ",
                "SELECT vo.customer_id FROM calls vk JOIN opportunities vo ON vo.id = vk.opportunity_id WHERE vo.trashed = 0 AND vk.owner_id = ",
                "SELECT vr.customer_id FROM service_requests vr WHERE vr.owner_id = ",
                "SELECT vr.customer_id FROM intervention_technicians vt JOIN interventions vi ON vi.id = vt.intervention_id \
                 JOIN service_requests vr ON vr.id = vi.request_id WHERE vt.user_id = ",
                "SELECT vr.customer_id FROM calls vk JOIN service_requests vr ON vr.id = vk.request_id WHERE vk.owner_id = ",
            ] {
                any(sub, me.into(), &mut s);
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
        Visibility { scope, user_id: 7, unit_id: Some(9), unit_path: Some("/1/4/9/".into()), home_path: Some("/1/4/".into()) }
    }

    #[test]
    fn each_scope_renders_its_condition() {
        assert_eq!(vis(Scope::All).filter("o", "u").text(), "(1 = 1)");
        assert_eq!(vis(Scope::Own).filter("o", "u").text(), "(o = $1)");
        let unit = vis(Scope::Unit).filter("o", "u");
        assert_eq!(unit.text(), "(u IN (SELECT id FROM org_units WHERE path LIKE $1) OR o = $2)");
        assert!(matches!(&unit.args()[0], crate::db::sql::Arg::Text(Some(p)) if p == "/1/4/%"), "unit scope covers the home unit");
        let sub = vis(Scope::Subtree).filter("o", "u");
        assert!(matches!(&sub.args()[0], crate::db::sql::Arg::Text(Some(p)) if p == "/1/4/9/%"), "subtree scope covers the unit's subtree");
        let no_unit = Visibility { scope: Scope::Subtree, user_id: 7, unit_id: None, unit_path: None, home_path: None };
        assert_eq!(no_unit.filter("o", "u").text(), "(o = $1)");
        assert!(no_unit.own_only() && vis(Scope::Own).own_only());
        assert!(!vis(Scope::Unit).own_only() && !vis(Scope::Subtree).own_only() && !vis(Scope::All).own_only());
        assert_eq!(vis(Scope::Own).home_unit_id(), Some(4));
        assert_eq!(no_unit.home_unit_id(), None);
    }

    #[test]
    fn the_arms_are_the_scope_split_and_the_ways_of_taking_part() {
        assert!(vis(Scope::All).opportunity_arms("o").is_none());
        let own: Vec<String> = vis(Scope::Own).opportunity_arms("o").unwrap().iter().map(|a| a.text().to_string()).collect();
        assert_eq!(own, ["o.owner_id = $1"]);
        let unit: Vec<String> = vis(Scope::Unit).opportunity_arms("o").unwrap().iter().map(|a| a.text().to_string()).collect();
        assert_eq!(unit, ["o.branch_id IN (SELECT id FROM org_units WHERE path LIKE $1)", "o.owner_id = $1"]);
        let req: Vec<String> = vis(Scope::Unit).request_arms("r").unwrap().iter().map(|a| a.text().to_string()).collect();
        assert_eq!(req.len(), 3, "the units, the own ones outside them, the ones taken part in outside both");
        assert_eq!(req[0], "(r.branch_id IN (SELECT id FROM org_units WHERE path LIKE $1))");
        assert_eq!(
            req[1],
            "(r.owner_id = $1 AND CASE WHEN r.branch_id IN (SELECT id FROM org_units WHERE path LIKE $2) THEN 0 ELSE 1 END = 1)"
        );
        assert!(req[2].starts_with("(r.id IN (SELECT vi.request_id") && req[2].matches("THEN 0 ELSE 1 END = 1").count() == 2, "{}", req[2]);
        assert!(vis(Scope::All).request_arms("r").is_none());
        assert_eq!(vis(Scope::Own).request_arms("r").unwrap().len(), 2);
        let rows = |s: Scope| {
            vis(s).request_rows("r", |seen| {
                let mut q = Sql::new("SELECT r.id FROM service_requests r WHERE ");
                q.append(seen);
                q
            })
        };
        assert_eq!(rows(Scope::Unit).text().matches(" UNION ALL ").count(), 2, "one SELECT per arm");
        assert_eq!(rows(Scope::All).text(), "(SELECT r.id FROM service_requests r WHERE ((1 = 1)))");
        let ids = vis(Scope::Own).taking_part_ids();
        assert_eq!(ids.text().matches(" UNION ").count(), TAKING_PART.len() - 1);
        assert_eq!(ids.args().len(), TAKING_PART.len());
    }

    #[test]
    fn participation_is_added_below_all() {
        assert_eq!(vis(Scope::All).opportunities("o").text(), "((1 = 1))");
        assert_eq!(vis(Scope::All).customers("c").text(), "((1 = 1))");
        let own = vis(Scope::Own).opportunities("o").text().to_string();
        assert!(own.contains("meeting_participants") && own.contains("calls vk") && own.contains("user_group_members"));
        let req = vis(Scope::Own).requests("r").text().to_string();
        assert!(req.contains("intervention_technicians") && req.contains("calls vk"));
        let cust = vis(Scope::Own).customers("c").text().to_string();
        assert!(cust.contains("opportunities vo") && cust.contains("service_requests vr"));
    }
}
