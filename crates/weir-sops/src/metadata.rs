//! The `sops:` block: which keys hold the data key, which values are encrypted, the MAC.

use regex::Regex;
use serde_json::{Map, Value};

use crate::decrypt::Error;

/// The key services SOPS stores besides age, by their field name and what people call them.
pub(crate) const OTHER_SERVICES: [(&str, &str); 6] = [
    ("pgp", "PGP (pgp)"),
    ("kms", "AWS KMS (kms)"),
    ("gcp_kms", "GCP KMS (gcp_kms)"),
    ("hckms", "Huawei Cloud KMS (hckms)"),
    ("azure_kv", "Azure Key Vault (azure_kv)"),
    ("hc_vault", "HashiCorp Vault (hc_vault)"),
];

/// One key group: the age stanzas, and the other services it also lists.
#[derive(Debug, Default)]
pub(crate) struct KeyGroup {
    /// (recipient, armored age file holding the data key)
    pub age: Vec<(String, String)>,
    pub others: Vec<&'static str>,
}

/// Which values are encrypted (SOPS allows one rule per file; none means `_unencrypted` suffix).
#[derive(Debug)]
pub(crate) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    /// Comment rules: a Kubernetes object has no comments left when Flux decrypts it, so these
    /// decide as they do on a document without comments.
    UnencryptedCommentRegex,
    EncryptedCommentRegex,
}

impl Rule {
    /// SOPS's `shouldBeEncrypted` for a value at `path` (no comments in a JSON document).
    pub(crate) fn encrypts(&self, path: &[&str]) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Rule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
            Rule::UnencryptedCommentRegex => true,
            Rule::EncryptedCommentRegex => false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Metadata {
    pub groups: Vec<KeyGroup>,
    /// The encrypted MAC (`ENC[…]`), empty when the file has none.
    pub mac: String,
    /// `lastmodified` as SOPS formats it for the MAC's additional data (RFC 3339, seconds).
    pub last_modified: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
}

fn bad(field: &'static str, problem: &'static str) -> Error {
    Error::BadMetadata { field, problem }
}

fn text<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, Error> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(field, "is not a string")),
    }
}

fn group_of(m: &Map<String, Value>) -> Result<KeyGroup, Error> {
    let mut g = KeyGroup::default();
    if let Some(list) = m.get("age").filter(|v| !v.is_null()) {
        let list = list.as_array().ok_or(bad("age", "is not a list"))?;
        for entry in list {
            let recipient = entry["recipient"].as_str().unwrap_or_default().to_string();
            let enc = entry["enc"]
                .as_str()
                .ok_or(bad("age[].enc", "is missing or not a string"))?
                .to_string();
            g.age.push((recipient, enc));
        }
    }
    for (field, name) in OTHER_SERVICES {
        if m.get(field)
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty())
        {
            g.others.push(name);
        }
    }
    Ok(g)
}

/// RFC 3339 as Go's `time.Format(time.RFC3339)` prints a parsed timestamp: no fraction, `Z` for
/// a zero offset.
fn normalise_time(s: &str) -> Result<String, Error> {
    let err = || bad("lastmodified", "is not an RFC 3339 timestamp");
    let (date_time, zone) = if let Some(p) = s.strip_suffix(['Z', 'z']) {
        (p, "Z".to_string())
    } else {
        let at = s.rfind(['+', '-']).filter(|&i| i > 10).ok_or_else(err)?;
        let zone = &s[at..];
        let zero = matches!(&zone[1..], "00:00");
        (&s[..at], if zero { "Z".into() } else { zone.to_string() })
    };
    let secs = date_time.split('.').next().ok_or_else(err)?;
    let b = secs.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T' || *c == b't',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(err());
    }
    Ok(format!("{}T{}{zone}", &secs[..10], &secs[11..]))
}

impl Metadata {
    pub(crate) fn parse(sops: &Value) -> Result<Metadata, Error> {
        let m = sops.as_object().ok_or(bad("sops", "is not a map"))?;
        let top = group_of(m)?;
        let groups = if !top.age.is_empty() || !top.others.is_empty() {
            vec![top]
        } else if let Some(list) = m.get("key_groups").and_then(Value::as_array) {
            list.iter()
                .map(|g| {
                    g.as_object()
                        .ok_or(bad("key_groups", "holds a non-map"))
                        .and_then(group_of)
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        if groups.is_empty() {
            return Err(Error::NoKeys);
        }
        let mut rules = Vec::new();
        if let Some(s) = text(m, "unencrypted_suffix")? {
            rules.push(Rule::UnencryptedSuffix(s.into()));
        }
        if let Some(s) = text(m, "encrypted_suffix")? {
            rules.push(Rule::EncryptedSuffix(s.into()));
        }
        let regex = |field: &'static str, s: &str| {
            Regex::new(s).map_err(|_| bad(field, "is not a regular expression weir can read"))
        };
        if let Some(s) = text(m, "unencrypted_regex")? {
            rules.push(Rule::UnencryptedRegex(regex("unencrypted_regex", s)?));
        }
        if let Some(s) = text(m, "encrypted_regex")? {
            rules.push(Rule::EncryptedRegex(regex("encrypted_regex", s)?));
        }
        if text(m, "unencrypted_comment_regex")?.is_some() {
            rules.push(Rule::UnencryptedCommentRegex);
        }
        if text(m, "encrypted_comment_regex")?.is_some() {
            rules.push(Rule::EncryptedCommentRegex);
        }
        if rules.len() > 1 {
            return Err(Error::ConflictingRules);
        }
        let rule = rules
            .pop()
            .unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
        let last_modified =
            normalise_time(text(m, "lastmodified")?.ok_or(bad("lastmodified", "is missing"))?)?;
        let mac_only_encrypted = match m.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("mac_only_encrypted", "is not a boolean")),
        };
        Ok(Metadata {
            groups,
            mac: text(m, "mac")?.unwrap_or_default().to_string(),
            last_modified,
            rule,
            mac_only_encrypted,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_are_formatted_as_go_formats_rfc3339() {
        assert_eq!(
            normalise_time("2026-12-04T18:48:39Z").unwrap(),
            "2026-12-04T18:48:39Z"
        );
        assert_eq!(
            normalise_time("2026-12-04T18:48:39.123456Z").unwrap(),
            "2026-12-04T18:48:39Z"
        );
        assert_eq!(
            normalise_time("2026-12-04T18:48:39+00:00").unwrap(),
            "2026-12-04T18:48:39Z"
        );
        assert_eq!(
            normalise_time("2026-12-04T18:48:39+02:00").unwrap(),
            "2026-12-04T18:48:39+02:00"
        );
        assert!(normalise_time("yesterday").is_err());
    }

    #[test]
    fn one_rule_per_file_and_the_default_suffix() {
        let base = json!({"age": [{"recipient": "age1x", "enc": "x"}], "lastmodified": "2026-01-01T00:00:00Z"});
        let m = Metadata::parse(&base).unwrap();
        assert!(matches!(&m.rule, Rule::UnencryptedSuffix(s) if s == "_unencrypted"));
        assert!(m.rule.encrypts(&["a", "b"]));
        assert!(!m.rule.encrypts(&["a_unencrypted", "b"]));
        let mut two = base.clone();
        two["encrypted_regex"] = json!("^data$");
        two["unencrypted_suffix"] = json!("_x");
        assert!(matches!(
            Metadata::parse(&two),
            Err(Error::ConflictingRules)
        ));
        let mut regex = base.clone();
        regex["encrypted_regex"] = json!("^(data|stringData)$");
        let m = Metadata::parse(&regex).unwrap();
        assert!(m.rule.encrypts(&["stringData", "x"]));
        assert!(!m.rule.encrypts(&["metadata", "name"]));
    }

    #[test]
    fn other_services_and_key_groups_are_seen() {
        let m = Metadata::parse(
            &json!({"pgp": [{"fp": "AB", "enc": "x"}], "lastmodified": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(m.groups[0].others, vec!["PGP (pgp)"]);
        assert!(m.groups[0].age.is_empty());
        let m = Metadata::parse(&json!({"key_groups": [{"age": [{"recipient": "r", "enc": "e"}]}, {"hc_vault": [{"enc": "v"}]}],
            "lastmodified": "2026-01-01T00:00:00Z"})).unwrap();
        assert_eq!(m.groups.len(), 2);
        assert!(matches!(
            Metadata::parse(&json!({"lastmodified": "2026-01-01T00:00:00Z"})),
            Err(Error::NoKeys)
        ));
    }
}
