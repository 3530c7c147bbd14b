//! Plain text written by people (conversation messages), shown as HTML: every character
//! escaped, line breaks kept (by the `prewrap` class), and web addresses (`http://`,
//! `https://`) made links that open apart from Carnet. Nothing written is ever taken as HTML.

/// `s` escaped for HTML text or a quoted attribute.
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape(&mut out, s);
    out
}

/// Escapes `s` for HTML text or a quoted attribute (the entities askama writes).
fn escape(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&#38;"),
            '<' => out.push_str("&#60;"),
            '>' => out.push_str("&#62;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Where the web address starting at `start` ends: at a space or a character that cannot be in
/// one, without the punctuation that ends a sentence, nor a closing parenthesis it did not open.
fn address_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let mut end = rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`')).unwrap_or(rest.len());
    loop {
        let candidate = &rest[..end];
        let Some(last) = candidate.chars().last() else { break };
        let unbalanced = last == ')' && candidate.matches('(').count() < candidate.matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | ']' | '}') || unbalanced {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    start + end
}

/// The text as HTML: escaped, with its web addresses as links.
pub fn with_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let lower = text.to_ascii_lowercase();
    let mut pos = 0;
    while pos < text.len() {
        let next = ["https://", "http://"].iter().filter_map(|p| lower[pos..].find(p).map(|i| (pos + i, p.len()))).min();
        let Some((start, scheme)) = next else { break };
        let end = address_end(text, start);
        if end <= start + scheme {
            escape(&mut out, &text[pos..start + scheme]);
            pos = start + scheme;
            continue;
        }
        escape(&mut out, &text[pos..start]);
        let url = &text[start..end];
        out.push_str("<a href=\"");
        escape(&mut out, url);
        out.push_str("\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
        escape(&mut out, url);
        out.push_str("</a>");
        pos = end;
    }
    escape(&mut out, &text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::with_links;

    #[test]
    fn addresses_become_links_and_nothing_else_is_html() {
        assert_eq!(with_links("Voici <b>la photo</b> & \"tout\""), "Voici &#60;b&#62;la photo&#60;/b&#62; &#38; &#34;tout&#34;");
        assert_eq!(
            with_links("Voir https://exemple.fr/notice.pdf."),
            "Voir <a href=\"https://exemple.fr/notice.pdf\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://exemple.fr/notice.pdf</a>."
        );
        assert!(with_links("(voir http://a.fr/x_(y))").contains(">http://a.fr/x_(y)</a>)"));
        assert!(with_links("HTTPS://A.FR, merci").contains("href=\"HTTPS://A.FR\""));
        // Quotes end an address: no way out of the attribute.
        let h = with_links("https://a.fr/\"onmouseover=\"x");
        assert!(h.contains("href=\"https://a.fr/\"") && !h.contains("\"onmouseover"), "{h}");
        // Other schemes stay text.
        assert_eq!(with_links("javascript:alert(1) data:text/html,x"), "javascript:alert(1) data:text/html,x");
        assert_eq!(with_links("https:// rien"), "https:// rien");
        assert_eq!(with_links("école https://é.fr/à?q=1&r=2 fin"), "école <a href=\"https://é.fr/à?q=1&#38;r=2\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://é.fr/à?q=1&#38;r=2</a> fin");
    }
}
