//! Flux's postBuild substitution over the rendered objects: each object's YAML goes through
//! [`envsubst`](crate::envsubst) and is read back, unless it opts out with
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` (label or annotation). Substitution is
//! strict (Flux 2.9's default `StrictPostBuildSubstitutions`).

use serde_json::Value;

use crate::envsubst::{self, Error as EvalError};
use crate::variables::Variables;

/// A Kubernetes object is at most about 1.5 MiB in etcd; 8 MiB per object leaves room and still
/// stops amplification (one large value used thousands of times) long before memory does.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 8 << 20;
/// The most substituted YAML one Kustomization may produce.
pub const DEFAULT_MAX_TOTAL_BYTES: usize = 256 << 20;

/// Variable names Flux accepts (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`, ASCII classes).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Output bounds of one Kustomization's substitution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_object_bytes: usize,
    pub max_total_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
        }
    }
}

/// What went wrong in one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    #[error("variable substitution failed: {0}")]
    Eval(#[from] EvalError),
    #[error("the substituted object is not valid YAML: {message}")]
    NotYaml { message: String },
    #[error("the substituted object is not one YAML document")]
    NotOneDocument,
}

impl SubstituteError {
    /// Undefined variables (strict mode).
    pub fn undefined(&self) -> &[String] {
        match self {
            SubstituteError::Eval(EvalError::Undefined { names }) => names,
            _ => &[],
        }
    }
}

/// Where a substitution failed: which object of the build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("post build failed for {object}: {source}")]
pub struct ObjectSubstituteError {
    /// `Kind namespace/name`.
    pub object: String,
    #[source]
    pub source: SubstituteError,
}

/// Why substitution failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A variable name Flux refuses (checked before any object is substituted).
    BadName(String),
    /// The objects that failed (the others are substituted).
    Objects(Vec<ObjectSubstituteError>),
}

/// Substitutes `vars` in every object that does not opt out. Objects whose text references a
/// variable weir cannot know (`Variables::may_define`) are left as they are; every other failure
/// is collected, so one run reports all of them.
pub fn substitute_objects(
    objects: &mut [Value],
    vars: &Variables,
    limits: &Limits,
) -> Result<(), Failure> {
    let mut names_checked = false;
    let mut errors = Vec::new();
    let mut total: usize = 0;
    for obj in objects.iter_mut() {
        if opted_out(obj) {
            continue;
        }
        if !names_checked {
            // Flux validates every variable name the first time it substitutes an object.
            if let Some(bad) = vars
                .values
                .keys()
                .chain(vars.opaque.iter())
                .find(|n| !is_valid_name(n))
            {
                return Err(Failure::BadName(bad.clone()));
            }
            names_checked = true;
        }
        let text = weir_yaml::to_string(obj);
        if !text.contains('$') {
            continue;
        }
        let remaining = limits.max_total_bytes.saturating_sub(total);
        let eval_limits = envsubst::Limits {
            max_output_bytes: limits.max_object_bytes.min(remaining),
            ..envsubst::Limits::default()
        };
        let lookup = |name: &str| match vars.values.get(name) {
            Some(v) => envsubst::Value::Set(v),
            None if vars.may_define(name) => envsubst::Value::Unknown,
            None => envsubst::Value::Unset,
        };
        let result = match envsubst::eval(&text, &lookup, true, &eval_limits) {
            Ok(new_text) => {
                total = total.saturating_add(new_text.len());
                read_back(&new_text)
            }
            Err(EvalError::Unknown { .. }) => continue,
            Err(EvalError::TooLarge { .. }) => Err(SubstituteError::Eval(EvalError::TooLarge {
                limit: if remaining < limits.max_object_bytes {
                    limits.max_total_bytes
                } else {
                    limits.max_object_bytes
                },
            })),
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(v) => *obj = v,
            Err(source) => errors.push(ObjectSubstituteError {
                object: object_label(obj),
                source,
            }),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::Objects(errors))
    }
}

fn read_back(text: &str) -> Result<Value, SubstituteError> {
    match weir_yaml::from_str(text) {
        Ok(mut docs) if docs.len() == 1 => Ok(docs.remove(0)),
        Ok(_) => Err(SubstituteError::NotOneDocument),
        Err(e) => Err(SubstituteError::NotYaml {
            message: e.to_string(),
        }),
    }
}

fn opted_out(obj: &Value) -> bool {
    let meta = &obj["metadata"];
    ["labels", "annotations"].iter().any(|f| {
        meta[f][weir_api::flux::SUBSTITUTE_ANNOTATION].as_str() == Some(weir_api::flux::DISABLED)
    })
}

/// `Kind namespace/name` of an object, for messages.
pub fn object_label(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or("<no name>");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Variables::default()
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": data})
    }

    #[test]
    fn substitutes_objects_and_respects_opt_out() {
        let mut objects = vec![
            cm(json!({"a": "${x}", "b": "$${x}", "c": "cost $$5"})),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d",
                "annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}, "data": {"a": "${x}"}}),
        ];
        substitute_objects(&mut objects, &vars(&[("x", "X")]), &Limits::default())
            .expect("substitutes");
        assert_eq!(
            objects[0]["data"],
            json!({"a": "X", "b": "${x}", "c": "cost $5"})
        );
        assert_eq!(objects[1]["data"]["a"], "${x}");
    }

    #[test]
    fn reports_every_failing_object() {
        let mut objects = vec![
            cm(json!({"a": "${x}"})),
            cm(json!({"a": "${y}"})),
            cm(json!({"a": "${ok:=1}"})),
        ];
        let Err(Failure::Objects(errors)) =
            substitute_objects(&mut objects, &vars(&[("z", "1")]), &Limits::default())
        else {
            panic!("expected failures")
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].source.undefined(), ["x"]);
        assert_eq!(
            errors[1].to_string(),
            "post build failed for ConfigMap ns/c: variable substitution failed: variable not set (strict mode): \"y\""
        );
        // As in Flux, the text is read back as YAML: `a: 1` is a number.
        assert_eq!(objects[2]["data"]["a"], json!(1));
    }

    #[test]
    fn invalid_names_are_refused_like_flux() {
        assert!(is_valid_name("cluster_name"));
        assert!(is_valid_name("_X1"));
        assert!(!is_valid_name("1x"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name("é"));
        assert!(!is_valid_name(""));
        let mut objects = vec![cm(json!({"a": "${x}"}))];
        assert_eq!(
            substitute_objects(&mut objects, &vars(&[("my-key", "1")]), &Limits::default()),
            Err(Failure::BadName("my-key".into()))
        );
    }

    #[test]
    fn unknown_values_leave_the_object_alone() {
        let mut v = vars(&[("a", "A")]);
        v.opaque.insert("secret".into());
        let mut objects = vec![cm(json!({"a": "${a}", "s": "${secret}"}))];
        substitute_objects(&mut objects, &v, &Limits::default()).expect("not an error");
        assert_eq!(objects[0]["data"]["s"], "${secret}");
    }

    #[test]
    fn amplification_fails_cleanly() {
        // Issue 14 item 7: a 200 KB value used 5,000 times.
        let big = "v".repeat(200_000);
        let refs: BTreeMap<String, Value> = (0..5_000)
            .map(|i| (format!("k{i}"), json!("${big}")))
            .collect();
        let mut objects = vec![cm(serde_json::to_value(refs).expect("map"))];
        let Err(Failure::Objects(errors)) =
            substitute_objects(&mut objects, &vars(&[("big", &big)]), &Limits::default())
        else {
            panic!("expected a size error")
        };
        assert_eq!(
            errors[0].source,
            SubstituteError::Eval(EvalError::TooLarge {
                limit: DEFAULT_MAX_OBJECT_BYTES
            })
        );
    }
}
