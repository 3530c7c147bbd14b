//! The request summary as a PDF (the document template attached when sending a request by
//! email, seed 004), and sending a request by email: To, Cc, Bcc, Reply-To (the sender by
//! default), the subject pre-filled with the number and date, the message signed with the
//! sender's name; through the outbox, kept on the request.

use pdf_writer::{Content, Filter, Name, Pdf, Rect, Ref, Str};

use super::documents::Storage;
use super::ServiceRequest;
use crate::access::Actor;
use crate::clock::{Millis, Zone};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::mail::compose::{self, Typed};
use crate::mail::{Attachment, Mailbox};

/// Text for the PDF's built-in Helvetica with the Windows-1252 encoding (French accents,
/// quotes and dashes); other characters become `?`.
fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{A0}'..='\u{FF}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            'œ' => 0x9C,
            'Œ' => 0x8C,
            _ => b'?',
        })
        .collect()
}

/// Splits text into lines of at most `width` characters, on spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(line);
    }
    out
}

/// One line of the summary: (size, bold, text).
type Line = (f32, bool, String);

/// A picture on the summary (a customer's signature): its pixels, RGB, 8 bits each.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Picture {
    /// The size drawn, in points: at most 200 wide and 70 high, the ratio kept.
    fn drawn(&self) -> (f32, f32) {
        let (w, h) = (self.width.max(1) as f32, self.height.max(1) as f32);
        let k = (200.0 / w).min(70.0 / h);
        (w * k, h * k)
    }
}

/// What the summary lays out: lines of text, and pictures after some of them.
enum Item<'a> {
    Text(&'a Line),
    Picture(usize, &'a Picture),
}

impl Item<'_> {
    fn height(&self) -> f32 {
        match self {
            Item::Text(l) => l.0 * 1.45,
            Item::Picture(_, p) => p.drawn().1 + 8.0,
        }
    }
}

/// Lays lines out on A4 pages and writes the PDF; `pictures` go after the line of their index
/// (before the first line at 0), as image XObjects (raw RGB, FlateDecode).
fn render(lines: &[Line], pictures: &[(usize, Picture)]) -> Vec<u8> {
    const TOP: f32 = 800.0;
    const BOTTOM: f32 = 50.0;
    let mut items: Vec<Item> = Vec::new();
    for k in 0..=lines.len() {
        for (n, (_, p)) in pictures.iter().enumerate().filter(|(_, (at, _))| *at == k) {
            items.push(Item::Picture(n, p));
        }
        if let Some(l) = lines.get(k) {
            items.push(Item::Text(l));
        }
    }
    let mut pages: Vec<Vec<&Item>> = vec![Vec::new()];
    let mut y = TOP;
    for it in &items {
        let h = it.height();
        if y - h < BOTTOM {
            pages.push(Vec::new());
            y = TOP;
        }
        y -= h;
        if let Some(p) = pages.last_mut() {
            p.push(it);
        }
    }
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let mut next = 5;
    let ids: Vec<(Ref, Ref)> = pages
        .iter()
        .map(|_| {
            let ids = (Ref::new(next), Ref::new(next + 1));
            next += 2;
            ids
        })
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(ids.iter().map(|(p, _)| *p)).count(ids.len() as i32);
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    let picture_ids: Vec<Ref> = pictures
        .iter()
        .map(|(_, p)| {
            let id = Ref::new(next);
            next += 1;
            let packed = deflate(&p.rgb);
            let mut x = pdf.image_xobject(id, &packed);
            x.filter(Filter::FlateDecode);
            x.width(p.width as i32);
            x.height(p.height as i32);
            x.color_space().device_rgb();
            x.bits_per_component(8);
            id
        })
        .collect();
    for (page, (page_id, content_id)) in pages.iter().zip(&ids) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
        p.parent(tree);
        p.contents(*content_id);
        {
            let mut resources = p.resources();
            let mut fonts = resources.fonts();
            fonts.pair(Name(b"F1"), regular);
            fonts.pair(Name(b"F2"), bold);
            drop(fonts);
            let mut objects = resources.x_objects();
            for it in page.iter() {
                if let Item::Picture(n, _) = it {
                    objects.pair(Name(format!("Im{n}").as_bytes()), picture_ids[*n]);
                }
            }
        }
        drop(p);
        let mut c = Content::new();
        let mut y = TOP;
        for it in page {
            y -= it.height();
            match it {
                Item::Text((size, is_bold, text)) => {
                    c.begin_text();
                    c.set_font(Name(if *is_bold { b"F2" } else { b"F1" }), *size);
                    c.next_line(50.0, y);
                    c.show(Str(&winansi(text)));
                    c.end_text();
                }
                Item::Picture(n, pic) => {
                    let (w, h) = pic.drawn();
                    c.save_state();
                    c.transform([w, 0.0, 0.0, h, 60.0, y + 4.0]);
                    c.x_object(Name(format!("Im{n}").as_bytes()));
                    c.restore_state();
                }
            }
        }
        pdf.stream(*content_id, &c.finish());
    }
    pdf.finish()
}

/// Zlib-compressed bytes (a PDF stream's FlateDecode).
fn deflate(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec does not fail.
    let _ = z.write_all(raw);
    z.finish().unwrap_or_default()
}

/// The customer's signature of an intervention, from its stored PNG (none if it is gone).
async fn signature(db: &Db, storage: &Storage, i: &super::interventions::Intervention) -> Result<Option<Picture>> {
    let Some(doc_id) = i.signature_document_id else { return Ok(None) };
    let Some(d) = super::documents::get(db, doc_id).await? else { return Ok(None) };
    let png = super::documents::content(storage, &d).await?;
    let (width, height, rgb) = super::fieldwork::signature_pixels(&png)?;
    Ok(Some(Picture { width, height, rgb }))
}

/// The summary of a request: what a customer or a partner needs to know about it, with the
/// customer's signature under each signed intervention.
pub async fn pdf(db: &Db, storage: &Storage, r: &ServiceRequest, zone: Zone, lang: crate::i18n::Lang, now: Millis) -> Result<Vec<u8>> {
    use crate::i18n::t;
    let label = |list: &str, code: &str| {
        let list = list.to_string();
        let code = code.to_string();
        async move {
            let v: Option<(String, String)> =
                sqlx::query_as("SELECT label_fr, label_en FROM value_list_items WHERE list_code = $1 AND code = $2")
                    .bind(&list)
                    .bind(&code)
                    .fetch_optional(&db.pool)
                    .await?;
            Ok::<String, Error>(v.map(|(fr, en)| if lang == crate::i18n::Lang::En { en } else { fr }).unwrap_or(code))
        }
    };
    let mut pictures: Vec<(usize, Picture)> = Vec::new();
    let mut lines: Vec<Line> = vec![
        (18.0, true, format!("{} {}", t(lang, "pdf.request"), r.number)),
        (9.0, false, format!("{} {}", t(lang, "pdf.generated"), zone.format(now))),
        (10.0, false, String::new()),
    ];
    let mut field = |k: &str, v: String| lines.push((10.0, false, format!("{} : {v}", t(lang, k))));
    field("sales.customer", r.customer_name.clone());
    field("sales.status", t(lang, &format!("service.status_{}", r.status.code())));
    field("service.type", label("request_type", &r.request_type).await?);
    if let Some(s) = &r.symptom {
        field("service.symptom", label("symptom", s).await?);
    }
    field("service.source", t(lang, &format!("service.source_{}", r.source)));
    field("sales.created", zone.format(r.created_at));
    for (k, c) in [("service.role_requester", &r.requester), ("service.role_user", &r.user)] {
        if let Some(c) = c {
            let mut v = c.name.clone();
            for x in [&c.email, &c.phone, &c.mobile].into_iter().flatten() {
                v.push_str(&format!(" · {x}"));
            }
            field(k, v);
        }
    }
    if !r.description.is_empty() {
        lines.push((10.0, false, String::new()));
        lines.push((12.0, true, t(lang, "meetings.description")));
        lines.extend(wrap(&r.description, 95).into_iter().map(|l| (10.0, false, l)));
    }
    let mut conn = db.pool.acquire().await?;
    let eq = super::equipment::lines(&mut conn, r.id).await?;
    drop(conn);
    if !eq.is_empty() {
        lines.push((10.0, false, String::new()));
        lines.push((12.0, true, t(lang, "service.equipment")));
        for e in eq {
            let symptom = match &e.symptom {
                Some(s) => format!(" — {}", label("symptom", s).await?),
                None => String::new(),
            };
            lines.push((10.0, false, format!("• {} {}{symptom}", e.serial_number, e.model)));
        }
    }
    let ivs = super::interventions::for_request(db, r.id).await?;
    if !ivs.is_empty() {
        lines.push((10.0, false, String::new()));
        lines.push((12.0, true, t(lang, "service.interventions")));
        for i in ivs {
            let techs = i.technicians.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
            lines.push((
                10.0,
                false,
                format!(
                    "• {} {}–{} · {} · {techs}",
                    i.number,
                    zone.format(i.start_at),
                    zone.time(i.end_at),
                    t(lang, &format!("intervention.status_{}", i.status.code()))
                ),
            ));
            if let (Some(at), Some(pic)) = (i.signed_at, signature(db, storage, &i).await?) {
                lines.push((9.0, false, format!("{} {} · {}", t(lang, "fieldwork.signed_by"), i.signed_by, zone.format(at))));
                pictures.push((lines.len(), pic));
            }
        }
    }
    let updates = super::store::updates(db, r.id).await?;
    if !updates.is_empty() {
        lines.push((10.0, false, String::new()));
        lines.push((12.0, true, t(lang, "service.updates")));
        for u in updates.iter().rev() {
            lines.push((10.0, true, format!("{} · {}", zone.format(u.created_at), t(lang, &format!("service.status_{}", u.status)))));
            lines.extend(wrap(&u.message, 95).into_iter().map(|l| (10.0, false, l)));
        }
    }
    Ok(render(&lines, &pictures))
}

/// An email typed on the request's "send by email" form.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendForm {
    /// Addresses separated by commas (`Name <a@b.fr>` or `a@b.fr`).
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub cc: String,
    #[serde(default)]
    pub bcc: String,
    /// Defaults to the sender.
    #[serde(default)]
    pub reply_to: String,
    /// Defaults to "Demande DEM-… du …".
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub message: String,
    /// Attach the request's PDF summary.
    #[serde(default)]
    pub attach_summary: bool,
}

/// The subject a send-by-email form starts with.
pub fn default_subject(r: &ServiceRequest, zone: Zone, lang: crate::i18n::Lang, now: Millis) -> String {
    crate::i18n::t(lang, "service.mail_subject").replace("{number}", &r.number).replace("{date}", &zone.date(now))
}

/// Sends a request by email through the outbox; the email is kept on the request and the
/// request's history says so. `sender` is the user sending (name and address).
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &Db,
    actor: &Actor,
    sender: &Mailbox,
    now: Millis,
    r: &ServiceRequest,
    f: &SendForm,
    storage: &Storage,
    zone: Zone,
    lang: crate::i18n::Lang,
) -> Result<i64> {
    let typed = Typed { to: &f.to, cc: &f.cc, bcc: &f.bcc, reply_to: &f.reply_to, subject: &f.subject, message: &f.message };
    let w = compose::check(sender, &typed, || default_subject(r, zone, lang, now))?;
    let mut attachments = Vec::new();
    if f.attach_summary {
        let content = pdf(db, storage, r, zone, lang, now).await?;
        attachments.push(Attachment { filename: format!("{}.pdf", r.number), content_type: "application/pdf".into(), content });
    }
    let mut tx = db.begin().await?;
    let id = compose::queue_about(&mut tx, actor, now, "service_request", r.id, "request_email", w, attachments).await?;
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_encoding_and_wrapping() {
        assert_eq!(winansi("Été — « ok » €"), vec![0xC9, b't', 0xE9, b' ', 0x97, b' ', 0xAB, b' ', b'o', b'k', b' ', 0xBB, b' ', 0x80]);
        assert_eq!(winansi("日本"), b"??".to_vec());
        assert_eq!(wrap("un deux trois quatre", 9), vec!["un deux", "trois", "quatre"]);
        let pdf = render(&[(12.0, true, "Demande DEM-2026-000001".into()), (10.0, false, "Équipement".into())], &[]);
        assert!(pdf.starts_with(b"%PDF-"));
        let many: Vec<Line> = (0..200).map(|i| (10.0, false, format!("ligne {i}"))).collect();
        let pdf = render(&many, &[]);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 4"), "200 lines make 4 pages");
    }

    #[test]
    fn pictures_are_image_xobjects() {
        let pic = Picture { width: 3, height: 1, rgb: vec![0, 0, 0, 255, 255, 255, 0, 0, 0] };
        let pdf = render(&[(10.0, false, "Signé".into())], &[(1, pic)]);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Subtype /Image") && text.contains("/FlateDecode") && text.contains("/Im0 Do"), "{text}");
        assert!(text.contains("/XObject"), "the page names it in its resources");
    }
}
