//! Creating and editing an opportunity (with its customer), the trash.

use super::*;
use crate::money;

// ------------------------------------------------------------------ the forms

#[derive(Template)]
#[template(path = "sales/form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: OpportunityForm,
    stock_numbers: String,
    /// The amount as typed.
    amount: String,
    currency: String,
    customer: Option<Customer>,
    new_customer: CustomerForm,
    f: FormErrors,
    lead_types: Vec<ListItem>,
    units: Vec<OrgUnit>,
    owners: Vec<Staff>,
    find: String,
    found: Vec<Customer>,
    duplicates: Vec<crate::customers::store::Match>,
    can_force: bool,
}

impl FormPage {
    fn lead_is(&self, code: &str) -> bool {
        self.form.lead_type.as_deref() == Some(code)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
    fn owner_is(&self, id: &i64) -> bool {
        self.form.owner_id == Some(*id)
    }
}

struct FormState {
    form: OpportunityForm,
    stock_numbers: String,
    amount: String,
    new_customer: CustomerForm,
    f: FormErrors,
    find: String,
    duplicates: Vec<crate::customers::store::Match>,
}

async fn form_page(st: &AppState, c: &Ctx, id: Option<i64>, s: FormState) -> Result<Response, HttpError> {
    let customer = match s.form.customer_id {
        Some(cid) => crate::customers::store::get_visible(&st.db, &c.p.visibility, cid).await?,
        None => None,
    };
    let found = if s.find.trim().is_empty() || id.is_some() {
        Vec::new()
    } else {
        let filter = crate::customers::store::Filter { q: Some(s.find.clone()), ..Default::default() };
        crate::customers::store::list(&st.db, &c.p.visibility, &filter, &PageReq::first(10)).await?.items
    };
    let mut pc = PageCtx::new(c, "/opportunities", if id.is_some() { "sales.edit" } else { "sales.new" });
    if id.is_some() {
        pc.title = s.form.name.clone();
    }
    let errors = s.f.any() || !s.duplicates.is_empty();
    let lead_type: Vec<&str> = s.form.lead_type.iter().map(String::as_str).collect();
    let lead_types = lists::choices(&st.db, "lead_type", &lead_type).await?;
    // The directory the user sees, and the owner the record has (not one typed in a refused post).
    let kept = match id {
        Some(id) => visible(st, c, id).await?.owner_id,
        None => None,
    };
    let owners = users::pickable(&st.db, &c.p.visibility, &kept.into_iter().collect::<Vec<_>>()).await?;
    let mut resp = render(FormPage {
        c: pc,
        id,
        form: s.form,
        stock_numbers: s.stock_numbers,
        amount: s.amount,
        currency: crate::settings::get(&st.db, "sales.currency").await?,
        customer,
        new_customer: s.new_customer,
        f: s.f,
        lead_types,
        units: units::tree(&st.db).await?,
        owners,
        find: s.find,
        found,
        duplicates: s.duplicates,
        can_force: c.p.can(Right::CustomersCreateDuplicate),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    customer_id: Option<i64>,
    find: Option<String>,
}

pub async fn new_form(State(st): State<AppState>, c: Ctx, Query(q): Query<NewQuery>) -> Result<Response, HttpError> {
    let form = OpportunityForm {
        customer_id: q.customer_id,
        owner_id: Some(c.p.user_id),
        branch_id: c.p.visibility.home_unit_id(),
        lead_type: Some("phone_up".into()),
        ..Default::default()
    };
    let new_customer = CustomerForm { kind: "person".into(), ..Default::default() };
    let s = FormState {
        form,
        stock_numbers: String::new(),
        amount: String::new(),
        new_customer,
        f: FormErrors::none(),
        find: q.find.unwrap_or_default(),
        duplicates: Vec::new(),
    };
    form_page(&st, &c, None, s).await
}

/// The posted form; `amount` and `expected_close_on` keep `base`'s values when the form does
/// not carry them. Returns the form, the stock numbers and the amount as typed, the new
/// customer, "create anyway".
fn read_form(body: &str, base: Option<&Opportunity>) -> (OpportunityForm, String, String, CustomerForm, bool) {
    let p = FormPairs::parse(body);
    let amount = if p.carries("amount") {
        p.text("amount")
    } else {
        base.and_then(|o| o.amount_cents).map(money::format_amount).unwrap_or_default()
    };
    let f = OpportunityForm {
        name: p.text("name"),
        customer_id: p.id("customer_id"),
        lead_type: p.opt_text("lead_type"),
        owner_id: p.id("owner_id"),
        branch_id: p.id("branch_id"),
        expected_close_on: if p.carries("expected_close_on") {
            p.opt_text("expected_close_on")
        } else {
            base.and_then(|o| o.expected_close_on.clone())
        },
        ..Default::default()
    };
    let nc = CustomerForm {
        kind: "person".into(),
        first_name: p.text("c_first_name"),
        last_name: p.text("c_last_name"),
        email: p.text("c_email"),
        phone: p.text("c_phone"),
        ..Default::default()
    };
    (f, p.text("stock_numbers"), amount, nc, p.flag("create_anyway"))
}

/// The amount typed in the form, in cents (empty: none).
fn typed_amount(amount: &str) -> Result<Option<i64>, Error> {
    if amount.trim().is_empty() {
        return Ok(None);
    }
    money::parse_amount(amount).map(Some).ok_or_else(|| Error::validation("amount", "error.invalid_amount"))
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let (mut form, stock_numbers, amount, nc, force) = read_form(&body, None);
    let state = |form: OpportunityForm, f: FormErrors, duplicates| FormState {
        form,
        stock_numbers: stock_numbers.clone(),
        amount: amount.clone(),
        new_customer: nc.clone(),
        f,
        find: String::new(),
        duplicates,
    };
    let res: Result<Opportunity, Error> = async {
        form.stock_unit_ids = stock::ids_of_numbers(&st.db, "stock_numbers", &stock_numbers).await?;
        form.amount_cents = typed_amount(&amount)?;
        match form.customer_id {
            Some(cid) => {
                crate::customers::store::get_visible(&st.db, &c.p.visibility, cid)
                    .await?
                    .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
                let input = form.parse()?;
                users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
                store::create(&st.db, &c.actor(), st.now(), &input).await
            }
            None => {
                if !c.p.can(Right::CustomersCreate) {
                    return Err(Error::validation("customer_id", "error.required"));
                }
                let region = crate::customers::store::region_of(&st.db).await?;
                let ci = nc.parse(&region).map_err(|e| match e {
                    Error::Validation(f) => {
                        let mut out = crate::error::FieldErrors::new();
                        for x in f.0 {
                            out.add(format!("c_{}", x.field), x.reason);
                        }
                        Error::Validation(out)
                    }
                    e => e,
                })?;
                let input = OpportunityForm { customer_id: Some(0), ..form.clone() }.parse()?;
                users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
                let allow = force && c.p.can(Right::CustomersCreateDuplicate);
                store::create_with_customer(&st.db, &c.actor(), st.now(), &ci, allow, &input).await
            }
        }
    }
    .await;
    match res {
        Ok(o) => Ok(redirect_notice(&format!("/opportunities/{}", o.id), "notice.opportunity_created")),
        Err(Error::Conflict(_)) => {
            // The new customer's phone or email is known: show who, offer to use them.
            let region = crate::customers::store::region_of(&st.db).await?;
            let mut duplicates = Vec::new();
            if let Ok(ci) = nc.parse(&region) {
                let mut conn = st.db.pool.acquire().await?;
                let phones: Vec<&str> = ci.phone.iter().map(|p| p.as_str()).collect();
                duplicates = crate::customers::store::lookup(&mut conn, ci.email.as_ref().map(|e| e.as_str()), &phones, None).await?;
            }
            form_page(&st, &c, None, state(form, FormErrors::none(), duplicates)).await
        }
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, None, state(form, fe, Vec::new())).await
        }
    }
}

pub async fn edit_form(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let stock_numbers = o.stock_units.iter().map(|s| s.stock_number.clone()).collect::<Vec<_>>().join(", ");
    let s = FormState {
        form: OpportunityForm::from_opportunity(&o),
        stock_numbers,
        amount: o.amount_cents.map(money::format_amount).unwrap_or_default(),
        new_customer: CustomerForm::default(),
        f: FormErrors::none(),
        find: String::new(),
        duplicates: Vec::new(),
    };
    form_page(&st, &c, Some(id), s).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let (mut form, stock_numbers, amount, _, _) = read_form(&body, Some(&o));
    form.customer_id = Some(o.customer_id);
    let res: Result<Opportunity, Error> = async {
        form.stock_unit_ids = stock::ids_of_numbers(&st.db, "stock_numbers", &stock_numbers).await?;
        form.amount_cents = typed_amount(&amount)?;
        let input = form.parse()?;
        users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, o.owner_id).await?;
        store::update(&st.db, &c.actor(), st.now(), id, &input).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let s = FormState {
                form,
                stock_numbers,
                amount,
                new_customer: CustomerForm::default(),
                f: fe,
                find: String::new(),
                duplicates: Vec::new(),
            };
            form_page(&st, &c, Some(id), s).await
        }
    }
}

// ------------------------------------------------------------------ the trash

#[derive(Template)]
#[template(path = "sales/trash.html")]
struct TrashPage {
    c: PageCtx,
    l: Labels,
    items: Vec<Opportunity>,
}

pub async fn trash(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let filter = Filter { trash: true, ..Default::default() };
    let res = store::list(&st.db, &c.p.visibility, &filter, &PageReq::first(200)).await?;
    let pc = PageCtx::new(&c, "/opportunities", "sales.trash").with_notice(q.notice.as_deref());
    Ok(render(TrashPage { c: pc, l: Labels::load(&st, &c).await?, items: res.items }))
}

pub async fn restore(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    store::get_visible_trashed(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    store::restore(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.restored"))
}
