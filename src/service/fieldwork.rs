//! The technician's day on site (issue 21): starting an intervention, writing its report and
//! finishing it (the workflow of [`interventions::Status`]), photos taken on site and the
//! customer's signature. Photos and signatures are documents of the request, decoded and
//! re-encoded here (a photo at most [`PHOTO_SIDE`] pixels on its longest side, as JPEG; a
//! signature as a flat PNG), so that a phone on a slow connection never downloads the 12
//! megapixels its camera took, and a file that is not a JPEG or PNG image is refused.
//!
//! Who may do it: a technician of the intervention, or a user whose scope covers its request
//! (a support agent of the branch); someone who only sees the request through another
//! intervention of it may look, not work ([`for_work`]).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::documents::{self, Storage};
use super::interventions::{self, Intervention, InterventionInput, Status, REPORT_MAX};
use crate::access::{Actor, Visibility};
use crate::audit;
use crate::clock::Millis;
use crate::db::{Db, Sql};
use crate::error::{Error, FieldErrors, Result};

/// The longest side of a stored photo, in pixels.
pub const PHOTO_SIDE: u32 = 1600;
/// The longest side of a stored signature, in pixels.
pub const SIGNATURE_SIDE: u32 = 1200;
/// The JPEG quality photos are stored at.
const PHOTO_QUALITY: u8 = 80;
/// The longest name of a signer.
pub const SIGNER_MAX: usize = 200;
/// The largest image decoded (pixels a side): a bigger one is refused, not decoded.
const DECODE_SIDE_MAX: u32 = 12_000;

/// The intervention `id` if the user may work on it (see the module): `NotFound` if they do
/// not see it, `Forbidden` if they see it without being its technician or covering it.
pub async fn for_work(db: &Db, vis: &Visibility, id: i64) -> Result<Intervention> {
    let i = interventions::get_visible(db, vis, id).await?.ok_or(Error::NotFound)?;
    if i.technicians.iter().any(|t| t.id == vis.user_id) || vis.sees_all() {
        return Ok(i);
    }
    let mut q = Sql::new("SELECT COUNT(*) FROM service_requests r WHERE r.id = ");
    q.bind(i.request_id).push(" AND ").append(vis.filter("r.owner_id", "r.branch_id"));
    let n: i64 = q.query_scalar().fetch_one(&db.pool).await?;
    if n > 0 {
        Ok(i)
    } else {
        Err(Error::Forbidden)
    }
}

/// Whether the user may work on `i` (the same rule as [`for_work`], for a page already holding it).
pub async fn may_work(db: &Db, vis: &Visibility, i: &Intervention) -> Result<bool> {
    match for_work(db, vis, i.id).await {
        Ok(_) => Ok(true),
        Err(Error::Forbidden | Error::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The input of `i` as it stands, to change one thing of it through [`interventions::update`].
fn input_of(i: &Intervention) -> InterventionInput {
    InterventionInput {
        start_at: i.start_at,
        end_at: i.end_at,
        place: i.place.clone(),
        technician_ids: i.technicians.iter().map(|t| t.id).collect(),
        status: i.status,
        report_work: i.report_work.clone(),
        report_minutes: i.report_minutes,
    }
}

/// "Start": planned → in progress (audited, like any change of status).
pub async fn start(db: &Db, actor: &Actor, now: Millis, i: &Intervention) -> Result<Intervention> {
    let mut input = input_of(i);
    input.status = Status::EnCours;
    interventions::update(db, actor, now, i.id, &input).await
}

/// The report as typed on the phone; `finish` also closes the intervention (a report needed).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportForm {
    #[serde(default)]
    pub report_work: String,
    /// Time spent, in minutes.
    #[serde(default)]
    pub report_minutes: Option<i64>,
    /// Finish the intervention with this report.
    #[serde(default)]
    pub finish: bool,
}

/// Saves the report (and finishes the intervention when asked).
pub async fn report(db: &Db, actor: &Actor, now: Millis, i: &Intervention, f: &ReportForm) -> Result<Intervention> {
    let mut errs = FieldErrors::new();
    let text = f.report_work.trim();
    if text.chars().count() > REPORT_MAX {
        errs.add("report_work", "error.too_long");
    }
    if f.report_minutes.is_some_and(|m| !(0..=100_000).contains(&m)) {
        errs.add("report_minutes", "error.out_of_range");
    }
    errs.into_result()?;
    let mut input = input_of(i);
    input.report_work = text.to_string();
    input.report_minutes = f.report_minutes;
    if f.finish {
        input.status = Status::Terminee;
    }
    interventions::update(db, actor, now, i.id, &input).await
}

/// A cancelled intervention takes no photo and no signature.
fn check_open(i: &Intervention) -> Result<()> {
    if i.status == Status::Annulee {
        return Err(Error::InvalidState { reason: "error.intervention_cancelled" });
    }
    Ok(())
}

fn not_an_image() -> Error {
    Error::validation("file", "error.not_an_image")
}

/// Decodes a JPEG or PNG (its EXIF orientation applied); anything else is refused.
fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| not_an_image())?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(not_an_image());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(DECODE_SIDE_MAX);
    limits.max_image_height = Some(DECODE_SIDE_MAX);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| not_an_image())?;
    let orientation = decoder.orientation().map_err(|_| not_an_image())?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| not_an_image())?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Image work (decoding a camera's photo, resizing, encoding) off the server's async threads,
/// where it would hold up the other requests of the thread for its duration.
async fn off_thread<T: Send + 'static>(bytes: &[u8], work: fn(&[u8]) -> Result<T>) -> Result<T> {
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || work(&bytes)).await.map_err(|e| Error::Internal(format!("image work: {e}")))?
}

/// The image at most `side` pixels on its longest side, transparent parts on white.
fn fit(img: DynamicImage, side: u32) -> RgbImage {
    let img = if img.width().max(img.height()) > side { img.resize(side, side, image::imageops::FilterType::Triangle) } else { img };
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p.0[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a)) / 255) as u8;
        *o = image::Rgb([blend(p.0[0]), blend(p.0[1]), blend(p.0[2])]);
    }
    out
}

/// A photo as stored: a JPEG at most [`PHOTO_SIDE`] pixels on its longest side.
pub fn photo_jpeg(bytes: &[u8]) -> Result<Vec<u8>> {
    let rgb = fit(decode(bytes)?, PHOTO_SIDE);
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, PHOTO_QUALITY);
    rgb.write_with_encoder(enc).map_err(Error::internal)?;
    Ok(out)
}

/// A signature as stored: a PNG on white, at most [`SIGNATURE_SIDE`] pixels wide or high.
pub fn signature_png(bytes: &[u8]) -> Result<Vec<u8>> {
    let rgb = fit(decode(bytes)?, SIGNATURE_SIDE);
    let mut out = Vec::new();
    rgb.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).map_err(Error::internal)?;
    Ok(out)
}

/// The pixels of a stored signature (for the PDF summary): width, height, RGB bytes.
pub fn signature_pixels(png: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let rgb = fit(decode(png)?, SIGNATURE_SIDE);
    Ok((rgb.width(), rgb.height(), rgb.into_raw()))
}

/// The bytes of a `data:image/png;base64,…` URL (what a canvas gives).
pub fn from_data_url(s: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    let b64 = s
        .trim()
        .strip_prefix("data:image/png;base64,")
        .or_else(|| s.trim().strip_prefix("data:image/jpeg;base64,"))
        .ok_or_else(|| Error::validation("signature", "error.not_an_image"))?;
    base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| Error::validation("signature", "error.not_an_image"))
}

/// The stem of a file name for a stored photo (`IMG_0042.HEIC` → `IMG_0042`), safe as a name.
fn stem(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base);
    let clean: String = stem.chars().filter(|c| !c.is_control()).take(120).collect::<String>().trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        "photo".into()
    } else {
        clean
    }
}

/// Adds a photo taken at the intervention: decoded (a JPEG or PNG, else 422), resized and
/// stored as a JPEG document of the request; both histories say so.
pub async fn add_photo(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    i: &Intervention,
    filename: &str,
    bytes: &[u8],
) -> Result<documents::Document> {
    check_open(i)?;
    if bytes.is_empty() {
        return Err(Error::validation("file", "error.file_empty"));
    }
    let jpeg = off_thread(bytes, photo_jpeg).await?;
    let name = format!("{} {}.jpg", i.number, stem(filename));
    let size = jpeg.len() as i64;
    // Stored before the transaction (a slow storage never holds the write lock), removed if it
    // does not commit.
    let key = documents::put_file(storage, i.request_id, jpeg).await?;
    let res = async {
        let mut tx = db.begin().await?;
        let d = documents::attach_to_intervention(&mut tx, actor, now, i.request_id, i.id, &name, "image/jpeg", size, &key).await?;
        let change = audit::Change { field: "photo".into(), old: None, new: Some(d.filename.clone()) };
        audit::record(&mut tx, actor, now, "intervention", i.id, "photo", &[change]).await?;
        tx.commit().await?;
        Ok::<_, Error>(d)
    }
    .await;
    if res.is_err() {
        documents::remove_file(storage, &key).await;
    }
    res
}

/// Photos taken at an intervention, newest first.
pub async fn photos(db: &Db, intervention_id: i64) -> Result<Vec<documents::Document>> {
    let all = documents::for_intervention(db, intervention_id).await?;
    Ok(all.into_iter().filter(|d| d.content_type == "image/jpeg").collect())
}

/// The customer's signature, as typed and drawn on the phone.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureForm {
    /// Who signed (the customer's name as they give it).
    #[serde(default)]
    pub signer_name: String,
    /// The drawing: `data:image/png;base64,…` (a canvas's `toDataURL()`).
    #[serde(default)]
    pub signature: String,
}

/// Records the customer's signature: the drawing stored as a PNG document of the request, the
/// signer's name and the time on the intervention (audited). Signing again replaces it.
pub async fn sign(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    i: &Intervention,
    signer: &str,
    drawing: &[u8],
) -> Result<Intervention> {
    check_open(i)?;
    let mut errs = FieldErrors::new();
    let signer = signer.trim();
    if signer.is_empty() {
        errs.add("signer_name", "error.required");
    } else if signer.chars().count() > SIGNER_MAX || signer.chars().any(char::is_control) {
        errs.add("signer_name", "error.too_long");
    }
    let png = if drawing.is_empty() {
        errs.add("signature", "error.signature_required");
        None
    } else {
        match off_thread(drawing, signature_png).await {
            Ok(p) => Some(p),
            Err(_) => {
                errs.add("signature", "error.not_an_image");
                None
            }
        }
    };
    errs.into_result()?;
    let png = png.ok_or_else(|| Error::validation("signature", "error.signature_required"))?;
    let name = format!("{} signature.png", i.number);
    let size = png.len() as i64;
    let key = documents::put_file(storage, i.request_id, png).await?;
    let res = async {
        let mut tx = db.begin().await?;
        // Two signings at once: one after the other, each reading what the previous one wrote.
        crate::db::lock(&mut tx, now, &[format!("intervention:{}", i.id)]).await?;
        let old = interventions::get(&mut tx, i.id).await?.ok_or(Error::NotFound)?;
        check_open(&old)?;
        let d = documents::attach_to_intervention(&mut tx, actor, now, i.request_id, i.id, &name, "image/png", size, &key).await?;
        sqlx::query("UPDATE interventions SET signature_document_id = $1, signed_by = $2, signed_at = $3, updated_at = $3 WHERE id = $4")
            .bind(d.id)
            .bind(signer)
            .bind(now)
            .bind(i.id)
            .execute(&mut *tx)
            .await?;
        let new = interventions::get(&mut tx, i.id).await?.ok_or(Error::NotFound)?;
        audit::updated(&mut tx, actor, now, i.id, &old, &new).await?;
        tx.commit().await?;
        Ok::<Intervention, Error>(new)
    }
    .await;
    if res.is_err() {
        documents::remove_file(storage, &key).await;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Vec::new();
        img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn photos_are_resized_and_reencoded() {
        let jpeg = photo_jpeg(&png(3200, 1000)).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!(image::guess_format(&jpeg).unwrap(), ImageFormat::Jpeg);
        assert_eq!((back.width(), back.height()), (1600, 500), "the longest side at 1600, the ratio kept");
        let small = image::load_from_memory(&photo_jpeg(&png(40, 30)).unwrap()).unwrap();
        assert_eq!((small.width(), small.height()), (40, 30), "a small photo is not enlarged");
    }

    #[test]
    fn only_images_are_accepted() {
        assert!(matches!(photo_jpeg(b"%PDF-1.4 not an image"), Err(Error::Validation(_))));
        assert!(matches!(photo_jpeg(b"GIF89a......"), Err(Error::Validation(_))), "GIF is not taken");
        let mut broken = png(10, 10);
        broken.truncate(40);
        assert!(matches!(photo_jpeg(&broken), Err(Error::Validation(_))));
    }

    #[test]
    fn signatures_are_flattened_on_white() {
        let mut rgba = image::RgbaImage::new(4, 2);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 255]));
        let mut raw = Vec::new();
        rgba.write_with_encoder(image::codecs::png::PngEncoder::new(&mut raw)).unwrap();
        let (w, h, px) = signature_pixels(&signature_png(&raw).unwrap()).unwrap();
        assert_eq!((w, h), (4, 2));
        assert_eq!(&px[0..6], &[0, 0, 0, 255, 255, 255], "ink stays, the transparent background becomes white");
    }

    #[test]
    fn data_urls_and_names() {
        assert_eq!(from_data_url("data:image/png;base64,aGk=").unwrap(), b"hi");
        assert!(from_data_url("javascript:alert(1)").is_err());
        assert_eq!(stem("IMG_0042.HEIC"), "IMG_0042");
        assert_eq!(stem("../../etc/passwd"), "passwd");
        assert_eq!(stem(".jpg"), "photo");
    }
}
