//! What of an email reply goes into the conversation: the new text, without the quoted
//! history and the signature. The common clients' markers: Gmail's "On … wrote:" (and the
//! French "Le … a écrit :"), Outlook's "-----Original Message-----" or a "From:" header block
//! followed by "Sent:", "> " quotes (Apple Mail, Thunderbird), and the "-- " signature
//! separator. The full original stays available as the `.eml` document.

/// The reply's own text: everything before the first quote marker, trailing blank lines
/// removed. When nothing is left (a reply that is all quote), the whole text, trimmed.
pub fn reply_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let cut = cut_at(&lines);
    let kept = lines[..cut].join("\n");
    let kept = kept.trim();
    if kept.is_empty() {
        text.trim().to_string()
    } else {
        kept.to_string()
    }
}

/// The index of the first line that starts the quoted history or the signature.
fn cut_at(lines: &[&str]) -> usize {
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        let t = line.trim();
        // The signature separator: "-- " (RFC 3676), often trimmed to "--" by clients.
        if line == "-- " || line == "--" {
            return i;
        }
        // A quote block ("> " lines); its attribution line just above goes with it.
        if t.starts_with('>') {
            return attribution_above(lines, i);
        }
        let lower = t.to_lowercase();
        if is_original_marker(&lower) {
            return i;
        }
        // Gmail / Apple: "On Mon, 23 Nov 2026 at 10:00, Name <a@b> wrote:", possibly wrapped
        // over two lines; French: "Le lun. 23 nov. 2026 à 10:00, Name <a@b> a écrit :".
        if (lower.starts_with("on ") || lower.starts_with("le ")) && ends_attribution(&lower) {
            return i;
        }
        if (lower.starts_with("on ") || lower.starts_with("le "))
            && lines.get(i + 1).is_some_and(|next| ends_attribution(&next.trim().to_lowercase()))
        {
            return i;
        }
        // Outlook: a "From:" header block with "Sent:" (or "Date:") within the next lines.
        if is_header(&lower, &["from:", "de :", "de:"])
            && lines[i + 1..]
                .iter()
                .take(4)
                .any(|l| is_header(&l.trim().to_lowercase(), &["sent:", "envoyé :", "envoyé:", "date:", "date :"]))
        {
            // A rule line just above ("____…") goes too.
            return if i > 0 && lines[i - 1].trim().starts_with("____") { i - 1 } else { i };
        }
    }
    lines.len()
}

fn is_original_marker(lower: &str) -> bool {
    let t = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    lower.starts_with("-----") && ["original message", "message d'origine", "forwarded message", "message transféré"].contains(&t)
}

fn ends_attribution(lower: &str) -> bool {
    lower.ends_with("wrote:") || lower.ends_with("a écrit :") || lower.ends_with("a écrit:")
}

fn is_header(lower: &str, names: &[&str]) -> bool {
    names.iter().any(|n| lower.starts_with(n))
}

/// Where a quote block at `i` starts with its attribution ("On … wrote:") and the blank
/// lines between.
fn attribution_above(lines: &[&str], i: usize) -> usize {
    let mut j = i;
    while j > 0 && lines[j - 1].trim().is_empty() {
        j -= 1;
    }
    if j > 0 && ends_attribution(&lines[j - 1].trim().to_lowercase()) {
        let mut k = j - 1;
        // A wrapped attribution: its first line starts with "On " / "Le ".
        if k > 0 {
            let prev = lines[k - 1].trim().to_lowercase();
            if (prev.starts_with("on ") || prev.starts_with("le ")) && !prev.is_empty() && !ends_attribution(&prev) {
                k -= 1;
            }
        }
        return k;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(eml: &str) -> String {
        let m = mail_parser::MessageParser::default().parse(eml.as_bytes()).expect("parses");
        reply_text(&m.body_text(0).expect("text"))
    }

    #[test]
    fn the_common_clients_quotes_are_stripped() {
        for (name, eml) in [
            ("gmail", include_str!("../../tests/fixtures/mail/gmail.eml")),
            ("outlook", include_str!("../../tests/fixtures/mail/outlook.eml")),
            ("apple", include_str!("../../tests/fixtures/mail/apple.eml")),
        ] {
            let b = body(eml);
            assert!(b.starts_with("Bonjour"), "{name}: {b}");
            assert!(b.contains("toujours en panne"), "{name}: {b}");
            assert!(!b.contains("QUOTED-HISTORY"), "{name}: the quote is left: {b}");
            assert!(!b.contains("SIGNATURE-LINE"), "{name}: the signature is left: {b}");
        }
    }

    #[test]
    fn markers() {
        assert_eq!(reply_text("Oui.\n\nOn Mon, 23 Nov 2026 at 10:00, Carnet <reply@x.fr>\nwrote:\n> old"), "Oui.");
        assert_eq!(reply_text("Merci\n-- \nJean"), "Merci");
        assert_eq!(reply_text("D'accord\n-----Original Message-----\nFrom: a"), "D'accord");
        assert_eq!(reply_text("Ok\nLe lun. 23 nov. 2026 à 10:00, Carnet a écrit :\n> x"), "Ok");
        assert_eq!(reply_text("Texte sans citation\nsur deux lignes"), "Texte sans citation\nsur deux lignes");
        assert_eq!(reply_text("> only a quote"), "> only a quote", "nothing of its own: kept whole");
        assert_eq!(reply_text("On time, as planned.\nThanks"), "On time, as planned.\nThanks", "not an attribution");
    }
}
