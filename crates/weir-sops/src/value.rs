//! One encrypted value, `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`: AES-256-GCM with
//! the IV SOPS wrote (32 bytes), the tag appended to the ciphertext, and the value's tree path
//! (`key:key:…:`) as additional data; the plaintext read back as its `type`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm};
use base64::Engine as _;
use serde_json::{Number, Value};

/// Why a value could not be decrypted. Never carries the value itself (the ciphertext of a
/// wrongly encrypted value may be plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("the value is not in SOPS's ENC[AES256_GCM,…] format")]
    NotSopsFormat,
    #[error("the value is a {found}, not an encrypted string")]
    NotAString { found: &'static str },
    #[error("its {part} is not valid base64")]
    BadBase64 { part: &'static str },
    #[error("its IV is {len} bytes (SOPS writes 32)")]
    BadIv { len: usize },
    #[error(
        "authentication failed (the value was changed, moved to another key, or encrypted with another data key)"
    )]
    Authentication,
    #[error("unknown value type {ty:?}")]
    UnknownType { ty: String },
    #[error("the plaintext is not a valid {ty}")]
    BadPlaintext { ty: &'static str },
}

/// A decrypted value, typed as SOPS types it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    /// `time`: kept as the text SOPS encrypted (Go's `MarshalText` of the timestamp).
    Time(String),
    Comment(String),
}

impl Plain {
    /// The bytes the MAC hashes for this value (SOPS's `ToBytes`): integers in decimal, floats in
    /// Go's shortest non-exponent form, booleans as `True`/`False`.
    pub(crate) fn mac_bytes(&self) -> Vec<u8> {
        match self {
            Plain::Str(s) | Plain::Time(s) | Plain::Comment(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => go_float(*f).into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
            Plain::Bytes(b) => b.clone(),
        }
    }

    /// The value as a JSON document shows it after decryption (a float with no fraction comes
    /// back as an integer, as Go's JSON encoding prints it and the API server reads it).
    pub(crate) fn into_json(self) -> Value {
        match self {
            Plain::Str(s) | Plain::Time(s) | Plain::Comment(s) => Value::String(s),
            Plain::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
            Plain::Int(i) => Value::from(i),
            Plain::Bool(b) => Value::Bool(b),
            Plain::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Value::from(f as i64)
                } else {
                    Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
            }
        }
    }
}

/// An unencrypted leaf as the MAC sees it (`None`: not a leaf SOPS hashes, i.e. null).
pub(crate) fn mac_bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Bool(b) => Some(Plain::Bool(*b).mac_bytes()),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string().into_bytes(),
            (None, Some(u), _) => u.to_string().into_bytes(),
            (None, None, Some(f)) => go_float(f).into_bytes(),
            (None, None, None) => n.to_string().into_bytes(),
        }),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back as `f`,
/// never in exponent form. Rust's `Display` for `f64` prints the same digits.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

struct Parsed<'a> {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    ty: &'a str,
}

/// Splits `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` into its decoded parts.
fn parse(s: &str) -> Result<Parsed<'_>, ValueProblem> {
    let body = s
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|b| b.strip_suffix(']'))
        .ok_or(ValueProblem::NotSopsFormat)?;
    let mut fields = body.split(',');
    let mut field = |name: &str| {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix(':'))
            .filter(|f| !f.is_empty())
            .ok_or(ValueProblem::NotSopsFormat)
    };
    let (data, iv, tag, ty) = (field("data")?, field("iv")?, field("tag")?, field("type")?);
    if fields.next().is_some() {
        return Err(ValueProblem::NotSopsFormat);
    }
    let b64 = |part: &'static str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ValueProblem::BadBase64 { part })
    };
    Ok(Parsed {
        data: b64("data", data)?,
        iv: b64("iv", iv)?,
        tag: b64("tag", tag)?,
        ty,
    })
}

/// Decrypts one value with the data key; `aad` is the value's path joined as SOPS joins it.
/// An empty string stays empty (SOPS never encrypts empty values).
pub(crate) fn decrypt(v: &Value, key: &[u8; 32], aad: &str) -> Result<Plain, ValueProblem> {
    let s = match v {
        Value::String(s) => s,
        Value::Null => return Err(ValueProblem::NotAString { found: "null" }),
        Value::Bool(_) => return Err(ValueProblem::NotAString { found: "boolean" }),
        Value::Number(_) => return Err(ValueProblem::NotAString { found: "number" }),
        Value::Array(_) => return Err(ValueProblem::NotAString { found: "list" }),
        Value::Object(_) => return Err(ValueProblem::NotAString { found: "map" }),
    };
    if s.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let p = parse(s)?;
    let mut sealed = p.data;
    sealed.extend_from_slice(&p.tag);
    let payload = Payload {
        msg: &sealed,
        aad: aad.as_bytes(),
    };
    let opened = match p.iv.len() {
        32 => AesGcm::<aes_gcm::aes::Aes256, U32>::new(key.into())
            .decrypt(p.iv.as_slice().into(), payload),
        // The standard GCM nonce size: Go's SOPS opens any IV length it finds.
        12 => Aes256Gcm::new(key.into()).decrypt(p.iv.as_slice().into(), payload),
        len => return Err(ValueProblem::BadIv { len }),
    }
    .map_err(|_| ValueProblem::Authentication)?;
    typed(opened, p.ty)
}

fn typed(bytes: Vec<u8>, ty: &str) -> Result<Plain, ValueProblem> {
    let text = |ty: &'static str| {
        String::from_utf8(bytes.clone()).map_err(|_| ValueProblem::BadPlaintext { ty })
    };
    Ok(match ty {
        "str" => Plain::Str(text("str")?),
        "comment" => Plain::Comment(text("comment")?),
        "time" => Plain::Time(text("time")?),
        "bytes" => Plain::Bytes(bytes),
        "int" => Plain::Int(
            text("int")?
                .parse()
                .map_err(|_| ValueProblem::BadPlaintext { ty: "int" })?,
        ),
        "float" => {
            let f: f64 = text("float")?
                .parse()
                .map_err(|_| ValueProblem::BadPlaintext { ty: "float" })?;
            if !f.is_finite() {
                return Err(ValueProblem::BadPlaintext { ty: "float" });
            }
            Plain::Float(f)
        }
        // Go's strconv.ParseBool.
        "bool" => match text("bool")?.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Plain::Bool(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Plain::Bool(false),
            _ => return Err(ValueProblem::BadPlaintext { ty: "bool" }),
        },
        other => {
            return Err(ValueProblem::UnknownType {
                ty: other.chars().take(16).collect(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_are_not_sops_format() {
        for s in [
            "plain",
            "ENC[AES256_GCM,data:,iv:aa==,tag:aa==,type:str]",
            "ENC[AES256_GCM,data:aa==,iv:aa==,tag:aa==]",
            "ENC[AES256_GCM,data:aa==,iv:aa==,tag:aa==,type:str,extra:1]",
            "ENC[AES256_CBC,data:aa==,iv:aa==,tag:aa==,type:str]",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert_eq!(
            parse("ENC[AES256_GCM,data:%%,iv:aa==,tag:aa==,type:str]").err(),
            Some(ValueProblem::BadBase64 { part: "data" })
        );
    }

    #[test]
    fn types_read_back_as_go_reads_them() {
        assert_eq!(typed(b"42".to_vec(), "int"), Ok(Plain::Int(42)));
        assert_eq!(typed(b"-7".to_vec(), "int"), Ok(Plain::Int(-7)));
        assert_eq!(typed(b"True".to_vec(), "bool"), Ok(Plain::Bool(true)));
        assert_eq!(typed(b"F".to_vec(), "bool"), Ok(Plain::Bool(false)));
        assert!(typed(b"yes".to_vec(), "bool").is_err());
        assert!(typed(b"1.5".to_vec(), "int").is_err());
        assert_eq!(typed(b"0.25".to_vec(), "float"), Ok(Plain::Float(0.25)));
        assert!(typed(b"NaN".to_vec(), "float").is_err());
        assert!(matches!(
            typed(b"x".to_vec(), "uuid"),
            Err(ValueProblem::UnknownType { .. })
        ));
    }

    #[test]
    fn mac_bytes_follow_sops_to_bytes() {
        assert_eq!(Plain::Bool(true).mac_bytes(), b"True");
        assert_eq!(Plain::Bool(false).mac_bytes(), b"False");
        assert_eq!(Plain::Float(2.0).mac_bytes(), b"2");
        assert_eq!(Plain::Float(0.25).mac_bytes(), b"0.25");
        assert_eq!(Plain::Float(1e21).mac_bytes(), b"1000000000000000000000");
        assert_eq!(Plain::Float(1e-7).mac_bytes(), b"0.0000001");
        assert_eq!(Plain::Int(-3).mac_bytes(), b"-3");
        assert_eq!(mac_bytes_of(&Value::Null), None);
        assert_eq!(
            mac_bytes_of(&serde_json::json!(false)),
            Some(b"False".to_vec())
        );
    }

    #[test]
    fn integral_floats_come_back_as_integers() {
        assert_eq!(Plain::Float(2.0).into_json(), serde_json::json!(2));
        assert_eq!(Plain::Float(0.5).into_json(), serde_json::json!(0.5));
    }

    #[test]
    fn empty_values_stay_empty_and_non_strings_are_refused() {
        let key = [7u8; 32];
        assert_eq!(
            decrypt(&Value::String(String::new()), &key, "a:"),
            Ok(Plain::Str(String::new()))
        );
        assert_eq!(
            decrypt(&serde_json::json!(3), &key, "a:"),
            Err(ValueProblem::NotAString { found: "number" })
        );
    }
}
