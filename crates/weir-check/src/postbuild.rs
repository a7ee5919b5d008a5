//! Flux's postBuild variable substitution (`spec.postBuild`), on the YAML text of each object.
//!
//! Flux runs a bash-like `envsubst` over each rendered object: `${var}`, `${var:=default}`,
//! `${var:-default}`, `${var=default}`, `${var-default}`, `${var:+alt}`, `${var+alt}`; `$${var}` is an
//! escape for a literal `${var}`; a bare `$var` is left alone. weir substitutes in strict mode (Flux's
//! `StrictPostBuildSubstitutions`, the default since Flux 2.9): a variable without a value or a
//! default is an error, and every such variable is reported at once rather than the first only.

use std::collections::BTreeMap;

use crate::object_label;

/// Variable names Flux accepts (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    #[error("undefined variable{} {}", if .names.len() == 1 { "" } else { "s" }, .names.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", "))]
    Undefined { names: Vec<String> },
    #[error("unterminated variable reference at byte {offset}: missing `}}`")]
    Unterminated { offset: usize },
    #[error("invalid variable reference `${{{expr}}}`")]
    BadExpression { expr: String },
}

/// Substitutes variables in `text`. `vars` holds the values (newlines already removed, as Flux does).
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    let mut undefined: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        // `$${` is the escape for a literal `${`.
        if bytes.get(i + 1) == Some(&b'$') && bytes.get(i + 2) == Some(&b'{') {
            out.push_str(&text[last..i]);
            out.push('$');
            i += 2;
            // Copy the escaped reference verbatim up to its closing brace.
            match text[i..].find('}') {
                Some(end) => {
                    out.push_str(&text[i..=i + end]);
                    i += end + 1;
                    last = i;
                }
                None => return Err(SubstituteError::Unterminated { offset: i - 2 }),
            }
            continue;
        }
        if bytes.get(i + 1) != Some(&b'{') {
            i += 1;
            continue;
        }
        let Some(end) = text[i + 2..].find('}') else {
            return Err(SubstituteError::Unterminated { offset: i });
        };
        let expr = &text[i + 2..i + 2 + end];
        out.push_str(&text[last..i]);
        match evaluate(expr, vars)? {
            Some(v) => out.push_str(&v),
            None => {
                let name = expr.to_string();
                if !undefined.contains(&name) {
                    undefined.push(name);
                }
            }
        }
        i += 2 + end + 1;
        last = i;
    }
    out.push_str(&text[last..]);
    if undefined.is_empty() {
        Ok(out)
    } else {
        Err(SubstituteError::Undefined { names: undefined })
    }
}

/// `Ok(None)` when the variable is undefined and has no default.
fn evaluate(
    expr: &str,
    vars: &BTreeMap<String, String>,
) -> Result<Option<String>, SubstituteError> {
    let name_end = expr
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_end);
    if !is_valid_name(name) {
        return Err(SubstituteError::BadExpression { expr: expr.into() });
    }
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let result = match op {
        "" => value.cloned(),
        _ if op.starts_with(":-") || op.starts_with(":=") => Some(if set_nonempty {
            value.cloned().unwrap_or_default()
        } else {
            op[2..].to_string()
        }),
        _ if op.starts_with('-') || op.starts_with('=') => {
            Some(value.cloned().unwrap_or_else(|| op[1..].to_string()))
        }
        _ if op.starts_with(":+") => Some(if set_nonempty {
            op[2..].to_string()
        } else {
            String::new()
        }),
        _ if op.starts_with('+') => Some(if value.is_some() {
            op[1..].to_string()
        } else {
            String::new()
        }),
        _ => return Err(SubstituteError::BadExpression { expr: expr.into() }),
    };
    Ok(result)
}

/// Where a substitution failed: which object of the build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {source}")]
pub struct ObjectSubstituteError {
    pub object: String,
    #[source]
    pub source: SubstituteError,
}

/// Applies substitution to every object that does not opt out with
/// `kustomize.toolkit.fluxcd.io/substitute: disabled` (label or annotation). Each object is written
/// as YAML, substituted, and read back, as Flux does. Errors of all objects are collected.
pub fn substitute_objects(
    objects: &mut [serde_json::Value],
    vars: &BTreeMap<String, String>,
) -> Result<(), Vec<ObjectSubstituteError>> {
    let mut errors = Vec::new();
    for obj in objects.iter_mut() {
        if opted_out(obj) {
            continue;
        }
        let text = weir_yaml::to_string(obj);
        if !text.contains("${") {
            continue;
        }
        match substitute(&text, vars) {
            Ok(new_text) => match weir_yaml::from_str(&new_text) {
                Ok(mut docs) if docs.len() == 1 => *obj = docs.remove(0),
                Ok(_) => errors.push(ObjectSubstituteError {
                    object: object_label(obj),
                    source: SubstituteError::BadExpression {
                        expr: "substitution produced an empty document".into(),
                    },
                }),
                Err(e) => errors.push(ObjectSubstituteError {
                    object: object_label(obj),
                    source: SubstituteError::BadExpression {
                        expr: format!("result is not valid YAML: {e}"),
                    },
                }),
            },
            Err(source) => errors.push(ObjectSubstituteError {
                object: object_label(obj),
                source,
            }),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn opted_out(obj: &serde_json::Value) -> bool {
    let meta = &obj["metadata"];
    ["labels", "annotations"].iter().any(|f| {
        meta[f][weir_api::flux::SUBSTITUTE_ANNOTATION].as_str() == Some(weir_api::flux::DISABLED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_every_operator() {
        let v = vars(&[("a", "A"), ("empty", "")]);
        let cases = [
            ("x ${a} y", "x A y"),
            ("${missing:=d}", "d"),
            ("${missing:-d}", "d"),
            ("${empty:-d}", "d"),
            ("${empty-d}", ""),
            ("${missing-d}", "d"),
            ("${a:+alt}", "alt"),
            ("${missing:+alt}", ""),
            ("${empty+alt}", "alt"),
            ("$a stays", "$a stays"),
            ("$${a} escaped", "${a} escaped"),
            ("cost: $5", "cost: $5"),
            ("${a}${a}", "AA"),
            ("${missing:=with space}", "with space"),
        ];
        for (input, want) in cases {
            assert_eq!(substitute(input, &v).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn strict_mode_names_all_undefined_variables() {
        let err = substitute("${x} ${y} ${x}", &vars(&[])).unwrap_err();
        assert_eq!(
            err,
            SubstituteError::Undefined {
                names: vec!["x".into(), "y".into()]
            }
        );
        assert_eq!(err.to_string(), "undefined variables ${x}, ${y}");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(matches!(
            substitute("${a", &vars(&[])),
            Err(SubstituteError::Unterminated { .. })
        ));
        assert!(matches!(
            substitute("${1abc}", &vars(&[])),
            Err(SubstituteError::BadExpression { .. })
        ));
        assert!(matches!(
            substitute("${a^^}", &vars(&[("a", "x")])),
            Err(SubstituteError::BadExpression { .. })
        ));
    }

    #[test]
    fn names_are_validated_like_flux() {
        assert!(is_valid_name("cluster_name"));
        assert!(is_valid_name("_X1"));
        assert!(!is_valid_name("1x"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        let v = vars(&[("a", "1")]);
        for s in ["$", "${", "$${", "${}", "é${a}é", "$$", "${a:", "}${a}{"] {
            let _ = substitute(s, &v);
        }
    }
}
