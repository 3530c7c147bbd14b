//! The agents' lead screen.

use super::*;

// ------------------------------------------------------------------ the lead screen

#[derive(Template)]
#[template(path = "sales/lead.html")]
struct LeadPage {
    c: PageCtx,
    form: LeadForm,
    f: FormErrors,
    lead_types: Vec<ListItem>,
    /// The customers recognised from the phone or email typed, with their open files.
    known: Vec<(crate::customers::store::Match, bool, Vec<OpenFile>)>,
    checked: bool,
    /// The branches a new customer's lead may be routed to.
    branches: Vec<OrgUnit>,
}

impl LeadPage {
    fn lead_is(&self, code: &str) -> bool {
        self.form.lead_type.as_deref() == Some(code)
    }
    fn branch_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
}

async fn lead_page(
    st: &AppState,
    c: &Ctx,
    form: LeadForm,
    f: FormErrors,
    checked: bool,
    notice: Option<&str>,
) -> Result<Response, HttpError> {
    // Before handling a lead the agent sees the customer's other open files, in every department.
    let mut known = Vec::new();
    let region = crate::customers::store::region_of(&st.db).await?;
    let mut errs = crate::error::FieldErrors::new();
    let email = crate::customers::opt_email(&mut errs, "email", &form.email);
    let phone = crate::customers::opt_phone(&mut errs, "phone", &form.phone, &region);
    if email.is_some() || phone.is_some() {
        let mut conn = st.db.pool.acquire().await?;
        let phones: Vec<&str> = phone.iter().map(|p| p.as_str()).collect();
        let matches = crate::customers::store::lookup(&mut conn, email.as_ref().map(|e| e.as_str()), &phones, None).await?;
        drop(conn);
        for m in matches {
            let visible = crate::customers::store::get_visible(&st.db, &c.p.visibility, m.id).await?.is_some();
            let files = crate::http::api::sales::open_files_for(st, c, m.id).await?;
            known.push((m, visible, files));
        }
    }
    let errors = f.any();
    let mut resp = render(LeadPage {
        c: PageCtx::new(c, "/opportunities", "leads.new").with_notice(notice),
        form,
        f,
        lead_types: lists::items(&st.db, "lead_type", false).await?,
        known,
        checked,
        branches: units::tree(&st.db).await?.into_iter().filter(|u| u.kind == crate::org::units::UnitKind::Branch).collect(),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn lead_form(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let form = LeadForm { lead_type: Some("phone_up".into()), ..Default::default() };
    lead_page(&st, &c, form, FormErrors::none(), false, q.notice.as_deref()).await
}

/// The agent's lead: "check" shows who the customer is and their open files; "take the
/// lead" merges or opens the opportunity.
pub async fn lead_submit(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let p = FormPairs::parse(&body);
    let f = LeadForm {
        first_name: p.text("first_name"),
        last_name: p.text("last_name"),
        email: p.text("email"),
        phone: p.text("phone"),
        message: p.text("message"),
        source: p.text("source"),
        stock_number: p.text("stock_number"),
        lead_type: p.get("lead_type").map(str::to_string),
        branch_id: p.id("branch_id"),
    };
    let check = p.carries("check");
    let region = crate::customers::store::region_of(&st.db).await?;
    let input = match f.parse(&region) {
        Ok(i) => i,
        Err(e) => {
            let fe = form_error(&c, e)?;
            return lead_page(&st, &c, f, fe, false, None).await;
        }
    };
    if check {
        return lead_page(&st, &c, f, FormErrors::none(), true, None).await;
    }
    let defaults = leads::Defaults { branch_id: c.p.visibility.home_unit_id(), owner_id: None };
    match leads::intake(&st.db, &c.actor(), st.now(), &input, None, defaults).await {
        Ok(r) => {
            let notice = if r.outcome == leads::Outcome::Merged { "notice.lead_merged" } else { "notice.lead_created" };
            // A lead for a file the agent may not open (another branch's customer) went there
            // and its owner was told: the agent stays on the lead screen.
            Ok(match r.answer_for(&st.db, &c.p.visibility).await?.opportunity_id {
                Some(id) => redirect_notice(&format!("/opportunities/{id}"), notice),
                None => redirect_notice("/leads/new", notice),
            })
        }
        Err(e) => {
            let fe = form_error(&c, e)?;
            lead_page(&st, &c, f, fe, false, None).await
        }
    }
}
