//! A DNS name as the user typed it, checked against the limits of the wire format (RFC 1035:
//! 63 octets a label, 255 octets on the wire, i.e. 253 characters written without the root
//! dot), so a bad name is refused with one clear line before anything is sent.
use std::fmt;

use super::DnsError;

/// The longest name written without its trailing dot.
pub const MAX_NAME_LEN: usize = 253;
/// The longest label.
pub const MAX_LABEL_LEN: usize = 63;

/// A valid DNS name; `absolute` when it was written with a trailing dot (no search domains).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsName {
    /// Without the trailing dot.
    text: String,
    absolute: bool,
}

impl DnsName {
    pub fn parse(input: &str) -> Result<Self, DnsError> {
        let bad = |reason: String| DnsError::BadName { name: input.into(), reason };
        let (text, absolute) = match input.strip_suffix('.') {
            Some(t) => (t, true),
            None => (input, false),
        };
        if text.is_empty() {
            return Err(bad("it is empty".into()));
        }
        if text.len() > MAX_NAME_LEN {
            return Err(bad(format!(
                "it is {} characters long, DNS allows at most {MAX_NAME_LEN}",
                text.len()
            )));
        }
        for label in text.split('.') {
            if label.is_empty() {
                return Err(bad("it has an empty label (two dots in a row, or a leading dot)".into()));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(bad(format!(
                    "its label '{label}' is {} characters long, DNS allows at most {MAX_LABEL_LEN}",
                    label.len()
                )));
            }
            if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
                return Err(bad(format!("'{c}' cannot appear in a DNS name")));
            }
        }
        Ok(Self { text: text.to_string(), absolute })
    }

    /// The name without its trailing dot.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Written with a trailing dot: queried as is, never with a search domain.
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    /// Dots inside the name (the trailing one not counted), compared with `ndots`.
    pub fn dots(&self) -> usize {
        self.text.matches('.').count()
    }

    /// The name with a search domain appended (`db` + `corp.example` = `db.corp.example`);
    /// an error when the result exceeds DNS's limits. A root domain (`.`) adds nothing.
    pub fn with_domain(&self, domain: &str) -> Result<Self, DnsError> {
        let domain = domain.trim_end_matches('.');
        if domain.is_empty() {
            return Ok(Self { text: self.text.clone(), absolute: true });
        }
        let joined = Self::parse(&format!("{}.{domain}.", self.text))?;
        Ok(joined)
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        DnsName::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn accepts_ordinary_names() {
        let n = DnsName::parse("xxxx-xxxx.mysql.rds.aliyuncs.com").unwrap();
        assert_eq!(n.dots(), 4);
        assert!(!n.is_absolute());
        let a = DnsName::parse("db.example.").unwrap();
        assert!(a.is_absolute());
        assert_eq!(a.as_str(), "db.example");
        assert_eq!(a.dots(), 1);
        assert_eq!(DnsName::parse("_srv-x.example").unwrap().as_str(), "_srv-x.example");
    }

    #[test]
    fn limits_are_the_wire_formats() {
        let label63 = "a".repeat(63);
        assert!(DnsName::parse(&label63).is_ok());
        let e = err(&"a".repeat(64));
        assert!(e.contains("64 characters long") && e.contains("at most 63"), "{e}");
        // 4 labels of 62 plus 3 dots = 251, plus ".b" = 253: the longest allowed.
        let long = [&"x".repeat(62)[..]; 4].join(".") + ".b";
        assert_eq!(long.len(), 253);
        assert!(DnsName::parse(&long).is_ok());
        assert!(DnsName::parse(&format!("{long}.")).is_ok(), "the root dot does not count");
        let e = err(&format!("{long}c"));
        assert!(e.contains("254 characters long") && e.contains("at most 253"), "{e}");
    }

    #[test]
    fn rejects_malformed_names_in_one_line() {
        for s in ["", ".", "a..b", ".a", "a b", "a/b", "ä.example"] {
            let e = err(s);
            assert!(e.starts_with(&format!("'{s}' is not a valid DNS name")), "{s}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn search_domains_are_appended() {
        let n = DnsName::parse("db").unwrap();
        let j = n.with_domain("corp.example").unwrap();
        assert_eq!(j.as_str(), "db.corp.example");
        assert!(j.is_absolute());
        assert_eq!(n.with_domain(".").unwrap().as_str(), "db");
        let long = DnsName::parse(&"x".repeat(63)).unwrap();
        let domain = [&"y".repeat(63)[..]; 3].join(".");
        assert!(long.with_domain(&domain).is_err(), "64*4-1 = 255 characters is too long");
    }
}
