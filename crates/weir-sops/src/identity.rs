//! age identities as SOPS and Flux read them: one per line, empty lines and `#` comments skipped
//! (the format `age-keygen` writes, a `SOPS_AGE_KEY` value, or a `*.agekey` entry of Flux's
//! decryption Secret).

use std::fmt;

/// A set of age X25519 identities. `Debug` shows how many, never the keys.
#[derive(Default, Clone)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} age key(s))", self.keys.len())
    }
}

/// Why a key file could not be read. Never carries the line's text (it is key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// An age plugin identity (`AGE-PLUGIN-…`): it needs the plugin binary; weir does not run plugins.
    #[error(
        "line {line}: age plugin identities (AGE-PLUGIN-…) are not supported (use an X25519 key, AGE-SECRET-KEY-1…)"
    )]
    Plugin { line: usize },
    /// A post-quantum hybrid identity (`AGE-SECRET-KEY-PQ-1…`), which weir does not support yet.
    #[error(
        "line {line}: post-quantum age identities (AGE-SECRET-KEY-PQ-1…) are not supported (use an X25519 key, AGE-SECRET-KEY-1…)"
    )]
    PostQuantum { line: usize },
    /// The line is not an age identity at all (a recipient, a PGP key, garbage).
    #[error(
        "line {line}: not an age identity (expected AGE-SECRET-KEY-1…; a public key age1… cannot decrypt)"
    )]
    NotAnIdentity { line: usize },
}

impl Identities {
    /// Parses a key file's text: one identity per line; empty lines and lines starting with `#`
    /// are skipped (surrounding whitespace and `\r` are ignored).
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let mut ids = Identities::default();
        ids.add(text)?;
        Ok(ids)
    }

    /// Adds the identities of another key file's text (Flux reads every `*.agekey` entry of the
    /// decryption Secret into one set).
    pub fn add(&mut self, text: &str) -> Result<(), IdentityError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let s = raw.trim();
            if s.is_empty() || s.starts_with('#') {
                continue;
            }
            if s.starts_with("AGE-PLUGIN-") {
                return Err(IdentityError::Plugin { line });
            }
            if s.starts_with("AGE-SECRET-KEY-PQ-1") {
                return Err(IdentityError::PostQuantum { line });
            }
            let key = s
                .parse::<age::x25519::Identity>()
                .map_err(|_| IdentityError::NotAnIdentity { line })?;
            self.keys.push(key);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public recipients (`age1…`) of these identities, for messages ("the key for
    /// age1… is not among them").
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    pub(crate) fn as_age(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k as &dyn age::Identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-1CHFAH5A9XZPFVPYF7L32JMXVRGGFJCRUWKLJCPAAH0N49TRY6WMSSVNFNW";
    const RECIPIENT: &str = "age1zml2n6axljkjklahkkhes3r59vdcgkl69052wun04dzvwu2x0seskrj6rc";

    #[test]
    fn key_files_skip_comments_and_blank_lines() {
        let ids = Identities::parse(&format!(
            "# created: today\n# public key: {RECIPIENT}\n\n  {KEY}  \r\n"
        ))
        .expect("parses");
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.recipients(), vec![RECIPIENT.to_string()]);
        assert!(Identities::parse("").expect("empty is fine").is_empty());
    }

    #[test]
    fn errors_name_the_line_never_its_text() {
        let err = Identities::parse(&format!("{KEY}\n{RECIPIENT}\n")).unwrap_err();
        assert_eq!(err, IdentityError::NotAnIdentity { line: 2 });
        assert!(!err.to_string().contains(RECIPIENT));
        let broken = format!("{}X", &KEY[..KEY.len() - 1]);
        let err = Identities::parse(&broken).unwrap_err();
        assert!(!err.to_string().contains(&broken[20..]));
        assert_eq!(
            Identities::parse("AGE-PLUGIN-YUBIKEY-1XYZ").unwrap_err(),
            IdentityError::Plugin { line: 1 }
        );
        assert_eq!(
            Identities::parse("\nAGE-SECRET-KEY-PQ-1XYZ").unwrap_err(),
            IdentityError::PostQuantum { line: 2 }
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let ids = Identities::parse(KEY).expect("parses");
        let shown = format!("{ids:?}");
        assert_eq!(shown, "Identities(1 age key(s))");
    }
}
