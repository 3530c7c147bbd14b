//! Posted HTML forms read as their pairs, in order: what a form with repeated fields
//! (checkbox groups, multiple selects) and empty selects needs, which `Form<T>` cannot say.
//! A scalar field takes its last value; [`FormPairs::all`] gives every value of a repeated
//! one. The `set_*` methods write a field onto a stored record's form only when the form
//! carries it, so that an edit keeps what the form does not show.

/// The `application/x-www-form-urlencoded` pairs of a posted body (none when malformed).
#[derive(Debug, Default, Clone)]
pub struct FormPairs(Vec<(String, String)>);

impl FormPairs {
    pub fn parse(body: &str) -> FormPairs {
        FormPairs(serde_urlencoded::from_str(body).unwrap_or_default())
    }

    /// Whether the form carries the field (even empty).
    pub fn carries(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The field's last value, when carried.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated field, in order (empty ones included).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The field's value, or empty when not carried.
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_string()
    }

    /// The field's value when carried and not empty (a select's "—" is empty).
    pub fn opt_text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// An id from a select: `None` for "—" (empty), anything not a number, or no field.
    pub fn id(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// Every id of a repeated field (checkbox group, multiple select), skipping what is not one.
    pub fn ids(&self, key: &str) -> Vec<i64> {
        self.all(key).filter_map(|v| v.parse().ok()).collect()
    }

    /// A checkbox: checked when its last value is `on`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("on")
    }

    /// Onto a stored form: the field's value when carried, else unchanged.
    pub fn set(&self, key: &str, field: &mut String) {
        if let Some(v) = self.get(key) {
            *field = v.to_string();
        }
    }

    /// Onto a stored form: the value (`None` when empty) when carried, else unchanged.
    pub fn set_opt(&self, key: &str, field: &mut Option<String>) {
        if self.carries(key) {
            *field = self.opt_text(key);
        }
    }

    /// Onto a stored form: the id (`None` for "—") when carried, else unchanged.
    pub fn set_id(&self, key: &str, field: &mut Option<i64>) {
        if self.carries(key) {
            *field = self.id(key);
        }
    }

    /// Onto a stored form: a checkbox group's checked values, when carried. The group follows
    /// a hidden empty input of the same name, so that "none checked" (only the empty value)
    /// differs from "not in the form"; empty values are dropped.
    pub fn set_list(&self, key: &str, field: &mut Vec<String>) {
        if self.carries(key) {
            *field = self.all(key).filter(|v| !v.is_empty()).map(str::to_string).collect();
        }
    }
}

/// A posted form that may carry files: its text fields, and the files of one field.
pub struct FormWithFiles {
    pub pairs: FormPairs,
    /// (name as sent, bytes) of each file chosen.
    pub files: Vec<(String, Vec<u8>)>,
}

impl FormWithFiles {
    /// Reads an urlencoded form (no files) or a multipart one, whose files come in the parts
    /// named `file_field` (an empty file input, with neither name nor bytes, is skipped). Text
    /// with control characters is refused naming its field; a body over the limit is refused
    /// on `file_field`.
    pub async fn read(req: axum::extract::Request, file_field: &str) -> Result<FormWithFiles, crate::error::Error> {
        use crate::error::Error;
        use axum::extract::FromRequest;
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let bytes = axum::body::Bytes::from_request(req, &()).await.map_err(|_| Error::validation(file_field, "error.too_large"))?;
            return Ok(FormWithFiles { pairs: FormPairs::parse(&String::from_utf8_lossy(&bytes)), files: Vec::new() });
        }
        let too_large = || Error::validation(file_field.to_string(), "error.too_large");
        let mut mp = axum::extract::Multipart::from_request(req, &()).await.map_err(|_| too_large())?;
        let (mut pairs, mut files) = (Vec::new(), Vec::new());
        while let Some(field) = mp.next_field().await.map_err(|_| too_large())? {
            let name = field.name().unwrap_or_default().to_string();
            if name == file_field {
                let filename = field.file_name().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(|_| too_large())?;
                if !(filename.is_empty() && bytes.is_empty()) {
                    files.push((filename, bytes.to_vec()));
                }
                continue;
            }
            let text = field.text().await.map_err(|_| Error::validation(name.clone(), "error.invalid_choice"))?;
            if crate::http::request::has_control_char(&text) {
                return Err(Error::validation(name, "error.control_char"));
            }
            pairs.push((name, text));
        }
        Ok(FormWithFiles { pairs: FormPairs(pairs), files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_take_the_last_value_and_repeated_fields_every_one() {
        let p = FormPairs::parse("a=1&tag=x&a=2&tag=&tag=y%20z&on=on&off=yes");
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.all("tag").collect::<Vec<_>>(), vec!["x", "", "y z"]);
        assert_eq!(p.text("missing"), "");
        assert_eq!(p.get("missing"), None);
        assert!(p.carries("tag") && !p.carries("missing"));
        assert!(p.flag("on"));
        assert!(!p.flag("off") && !p.flag("missing"));
    }

    #[test]
    fn ids_and_empty_selects() {
        let p = FormPairs::parse("owner_id=&branch_id=12&bad=x&t=3&t=&t=4");
        assert_eq!(p.id("owner_id"), None, "the select's — is no id");
        assert_eq!(p.id("branch_id"), Some(12));
        assert_eq!(p.id("bad"), None);
        assert_eq!(p.id("missing"), None);
        assert_eq!(p.ids("t"), vec![3, 4]);
        assert_eq!(p.opt_text("owner_id"), None);
        assert_eq!(p.opt_text("branch_id").as_deref(), Some("12"));
    }

    #[test]
    fn set_writes_only_what_the_form_carries() {
        let p = FormPairs::parse("name=New&owner_id=&symptom=&parts=&kept_list=a&kept_list=");
        let (mut name, mut other) = ("Old".to_string(), "Kept".to_string());
        p.set("name", &mut name);
        p.set("other", &mut other);
        assert_eq!((name.as_str(), other.as_str()), ("New", "Kept"));
        let (mut owner, mut branch) = (Some(1), Some(2));
        p.set_id("owner_id", &mut owner);
        p.set_id("branch_id", &mut branch);
        assert_eq!((owner, branch), (None, Some(2)), "an empty select clears, an absent one keeps");
        let (mut symptom, mut civility) = (Some("s".to_string()), Some("mme".to_string()));
        p.set_opt("symptom", &mut symptom);
        p.set_opt("civility", &mut civility);
        assert_eq!((symptom, civility.as_deref()), (None, Some("mme")));
        let (mut parts, mut kept, mut absent) = (vec!["x".to_string()], vec![], vec!["y".to_string()]);
        p.set_list("parts", &mut parts);
        p.set_list("kept_list", &mut kept);
        p.set_list("absent", &mut absent);
        assert!(parts.is_empty(), "only the hidden empty input: none checked");
        assert_eq!(kept, vec!["a".to_string()]);
        assert_eq!(absent, vec!["y".to_string()], "not in the form: kept");
    }
}
