//! Stock units.

use super::*;

// ------------------------------------------------------------------ stock units

#[derive(Template)]
#[template(path = "sales/stock.html")]
struct StockPage {
    c: PageCtx,
    items: Vec<StockUnit>,
    q: String,
    next: Option<String>,
    form: StockForm,
    f: FormErrors,
    units: Vec<OrgUnit>,
    can_manage: bool,
}

impl StockPage {
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
}

#[derive(Deserialize, Default)]
pub struct StockQuery {
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

async fn stock_page(st: &AppState, c: &Ctx, q: StockQuery, form: StockForm, f: FormErrors) -> Result<Response, HttpError> {
    let page = PageReq::parse(Some(100), q.after.as_deref())?;
    let res = stock::list(&st.db, q.q.as_deref(), None, &page).await?;
    let qs = q.q.clone().unwrap_or_default();
    let next = res.next.map(|n| format!("q={}&after={}", crate::http::auth::urlencode(&qs), n.encode()));
    let errors = f.any();
    let mut resp = render(StockPage {
        c: PageCtx::new(c, "/opportunities", "stock.title").with_notice(q.notice.as_deref()),
        items: res.items,
        q: qs,
        next,
        form,
        f,
        units: units::tree(&st.db).await?,
        can_manage: c.p.can(Right::StockManage),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn stock_list(State(st): State<AppState>, c: Ctx, Query(q): Query<StockQuery>) -> Result<Response, HttpError> {
    stock_page(&st, &c, q, StockForm::default(), FormErrors::none()).await
}

fn read_stock(body: &str) -> StockForm {
    let p = FormPairs::parse(body);
    StockForm {
        stock_number: p.text("stock_number"),
        description: p.text("description"),
        status: p.text("status"),
        branch_id: p.id("branch_id"),
    }
}

pub async fn stock_create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let form = read_stock(&body);
    let res = match form.parse() {
        Ok(i) => stock::create(&st.db, &c.actor(), st.now(), &i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/stock", "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            stock_page(&st, &c, StockQuery::default(), form, fe).await
        }
    }
}

pub async fn stock_update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let form = read_stock(&body);
    let res = match form.parse() {
        Ok(i) => stock::update(&st.db, &c.actor(), st.now(), id, &i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/stock", "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            stock_page(&st, &c, StockQuery::default(), form, fe).await
        }
    }
}
