//! Patch and replacement target selection, as kustomize's `types.Selector` and `resWrangler.Select`.
//!
//! `group`, `version`, `kind`, `name` and `namespace` are regular expressions anchored at both ends
//! (`db` does not select `db-replica`); an empty or absent field selects everything. Names and
//! namespaces match the object's current **or** original id (before prefixes, suffixes and the
//! namespace transformer), namespaces by their "effective" value: no namespace is `default`, and
//! cluster-scoped kinds have none. `labelSelector` and `annotationSelector` use the Kubernetes label
//! selector syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::patch_meta::patch_meta;

/// A selector that could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `group`/`version`/`kind`/`name`/`namespace` field is not a valid regular expression.
    #[error("selector field {field} {pattern:?} is not a valid regular expression")]
    InvalidRegex {
        field: &'static str,
        pattern: String,
        source: regex::Error,
    },
    /// A label or annotation selector does not parse.
    #[error("invalid {field} {selector:?}: {problem}")]
    InvalidLabelSelector {
        field: &'static str,
        selector: String,
        problem: String,
    },
}

/// kustomize's `types.Selector`: a resource id pattern plus label and annotation selectors.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group regex (`apps`; the core group is the empty string).
    pub group: Option<String>,
    /// API version regex (`v1`).
    pub version: Option<String>,
    /// Kind regex (`Deployment|StatefulSet`).
    pub kind: Option<String>,
    /// Name regex, matched against the current and the original name.
    pub name: Option<String>,
    /// Namespace regex, matched against the current and the original effective namespace.
    pub namespace: Option<String>,
    /// Kubernetes label selector over `metadata.labels`.
    pub label_selector: Option<String>,
    /// Kubernetes label selector syntax over `metadata.annotations`.
    pub annotation_selector: Option<String>,
}

impl Selector {
    /// Compiles the regular expressions and label selectors once, for matching many objects.
    pub fn compile(&self) -> Result<CompiledSelector, Error> {
        Ok(CompiledSelector {
            group: anchored("group", &self.group)?,
            version: anchored("version", &self.version)?,
            kind: anchored("kind", &self.kind)?,
            name: anchored("name", &self.name)?,
            namespace: anchored("namespace", &self.namespace)?,
            labels: LabelSelector::parse("labelSelector", self.label_selector.as_deref())?,
            annotations: LabelSelector::parse(
                "annotationSelector",
                self.annotation_selector.as_deref(),
            )?,
        })
    }

    /// Whether the object is selected, by its current id only (see [`CompiledSelector`]).
    pub fn matches(&self, res: &Value) -> Result<bool, Error> {
        Ok(self.compile()?.matches(res))
    }
}

fn anchored(field: &'static str, pattern: &Option<String>) -> Result<Option<Regex>, Error> {
    match pattern.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Regex::new(&format!("^(?:{p})$"))
            .map(Some)
            .map_err(|source| Error::InvalidRegex {
                field,
                pattern: p.to_string(),
                source,
            }),
    }
}

/// A compiled [`Selector`].
#[derive(Clone, Debug)]
pub struct CompiledSelector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: LabelSelector,
    annotations: LabelSelector,
}

/// An object's identity: group, version, kind, name and namespace (kustomize's `ResId`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResId {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The id of an object from its `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`.
    pub fn of(res: &Value) -> ResId {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = text(res.get("apiVersion"));
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version),
        };
        ResId {
            group,
            version,
            kind: text(res.get("kind")),
            name: text(res.pointer("/metadata/name")),
            namespace: text(res.pointer("/metadata/namespace")),
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// kustomize's `EffectiveNamespace`: `_non_namespaceable_` for cluster-scoped kinds, `default`
    /// for an empty namespace.
    pub fn effective_namespace(&self) -> &str {
        if patch_meta().is_cluster_scoped(&self.api_version(), &self.kind) {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }
}

impl CompiledSelector {
    /// Whether the object is selected, by its current id.
    pub fn matches(&self, res: &Value) -> bool {
        self.matches_with_origin(res, None)
    }

    /// Whether the object is selected; `origin` is its id when it was first loaded (kustomize's
    /// `OrgId`), whose name and namespace select it as well as the current ones.
    pub fn matches_with_origin(&self, res: &Value, origin: Option<&ResId>) -> bool {
        let current = ResId::of(res);
        let matches = |re: &Option<Regex>, text: &str| re.as_ref().is_none_or(|r| r.is_match(text));
        let ns_ok = matches(&self.namespace, current.effective_namespace())
            || origin.is_some_and(|o| matches(&self.namespace, o.effective_namespace()));
        let name_ok = matches(&self.name, &current.name)
            || origin.is_some_and(|o| matches(&self.name, &o.name));
        ns_ok
            && name_ok
            && matches(&self.group, &current.group)
            && matches(&self.version, &current.version)
            && matches(&self.kind, &current.kind)
            && self.labels.matches(res.pointer("/metadata/labels"))
            && self
                .annotations
                .matches(res.pointer("/metadata/annotations"))
    }
}

/// A parsed Kubernetes label selector (k8s.io/apimachinery `labels.Parse`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Not,
    NotEquals,
    Equals,
    DoubleEquals,
    Open,
    Close,
    Comma,
    Greater,
    Less,
}

fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::NotEquals);
                } else {
                    tokens.push(Token::Not);
                }
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::DoubleEquals);
                } else {
                    tokens.push(Token::Equals);
                }
            }
            '(' | ')' | ',' | '>' | '<' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    '>' => Token::Greater,
                    _ => Token::Less,
                });
            }
            _ => {
                let mut ident = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "!=(),<>".contains(c) {
                        break;
                    }
                    ident.push(c);
                    chars.next();
                }
                tokens.push(Token::Ident(ident));
            }
        }
    }
    tokens
}

impl LabelSelector {
    /// Parses a selector; `None` or an empty string selects everything.
    pub fn parse(field: &'static str, selector: Option<&str>) -> Result<LabelSelector, Error> {
        let text = selector.unwrap_or("");
        let fail = |problem: String| Error::InvalidLabelSelector {
            field,
            selector: text.to_string(),
            problem,
        };
        let tokens = lex(text);
        let mut pos = 0;
        let mut requirements = Vec::new();
        if tokens.is_empty() {
            return Ok(LabelSelector::default());
        }
        loop {
            let negated = tokens.get(pos) == Some(&Token::Not);
            if negated {
                pos += 1;
            }
            let key = match tokens.get(pos) {
                Some(Token::Ident(k)) => k.clone(),
                other => return Err(fail(format!("expected a key, found {}", describe(other)))),
            };
            validate_key(&key).map_err(&fail)?;
            pos += 1;
            if negated {
                requirements.push(Requirement {
                    key,
                    op: Op::DoesNotExist,
                    values: Vec::new(),
                });
            } else {
                let next = tokens.get(pos);
                let requirement = match next {
                    None | Some(Token::Comma) => Requirement {
                        key,
                        op: Op::Exists,
                        values: Vec::new(),
                    },
                    Some(Token::Equals | Token::DoubleEquals | Token::NotEquals) => {
                        let op = if next == Some(&Token::NotEquals) {
                            Op::NotIn
                        } else {
                            Op::In
                        };
                        pos += 1;
                        let value = match tokens.get(pos) {
                            Some(Token::Ident(v)) => {
                                pos += 1;
                                v.clone()
                            }
                            None | Some(Token::Comma) => String::new(),
                            other => {
                                return Err(fail(format!(
                                    "expected a value, found {}",
                                    describe(other)
                                )));
                            }
                        };
                        validate_value(&value).map_err(&fail)?;
                        Requirement {
                            key,
                            op,
                            values: vec![value],
                        }
                    }
                    Some(Token::Greater | Token::Less) => {
                        let op = if next == Some(&Token::Greater) {
                            Op::GreaterThan
                        } else {
                            Op::LessThan
                        };
                        pos += 1;
                        let value = match tokens.get(pos) {
                            Some(Token::Ident(v)) if v.parse::<i64>().is_ok() => v.clone(),
                            other => {
                                return Err(fail(format!(
                                    "expected an integer, found {}",
                                    describe(other)
                                )));
                            }
                        };
                        pos += 1;
                        Requirement {
                            key,
                            op,
                            values: vec![value],
                        }
                    }
                    Some(Token::Ident(word)) if word == "in" || word == "notin" => {
                        let op = if word == "in" { Op::In } else { Op::NotIn };
                        pos += 1;
                        if tokens.get(pos) != Some(&Token::Open) {
                            return Err(fail(format!("expected '(' after {word}")));
                        }
                        pos += 1;
                        let mut values = Vec::new();
                        loop {
                            let value = match tokens.get(pos) {
                                Some(Token::Ident(v)) => {
                                    pos += 1;
                                    v.clone()
                                }
                                Some(Token::Comma | Token::Close) => String::new(),
                                other => {
                                    return Err(fail(format!(
                                        "expected a value, found {}",
                                        describe(other)
                                    )));
                                }
                            };
                            validate_value(&value).map_err(&fail)?;
                            values.push(value);
                            match tokens.get(pos) {
                                Some(Token::Comma) => pos += 1,
                                Some(Token::Close) => {
                                    pos += 1;
                                    break;
                                }
                                other => {
                                    return Err(fail(format!(
                                        "expected ',' or ')', found {}",
                                        describe(other)
                                    )));
                                }
                            }
                        }
                        Requirement { key, op, values }
                    }
                    other => {
                        return Err(fail(format!(
                            "expected an operator, found {}",
                            describe(other)
                        )));
                    }
                };
                requirements.push(requirement);
            }
            match tokens.get(pos) {
                None => break,
                Some(Token::Comma) => pos += 1,
                other => return Err(fail(format!("expected ',', found {}", describe(other)))),
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether a `metadata.labels` (or `annotations`) map satisfies every requirement.
    pub fn matches(&self, map: Option<&Value>) -> bool {
        if self.requirements.is_empty() {
            return true;
        }
        let set: BTreeMap<&str, String> = map
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str(), crate::smp::scalar_text(v)))
                    .collect()
            })
            .unwrap_or_default();
        self.requirements.iter().all(|r| {
            let value = set.get(r.key.as_str());
            match r.op {
                Op::In => value.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::GreaterThan | Op::LessThan => {
                    let (Some(have), Some(want)) = (
                        value.and_then(|v| v.parse::<i64>().ok()),
                        r.values.first().and_then(|v| v.parse::<i64>().ok()),
                    ) else {
                        return false;
                    };
                    if r.op == Op::GreaterThan {
                        have > want
                    } else {
                        have < want
                    }
                }
            }
        })
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of input".into(),
        Some(Token::Ident(s)) => format!("{s:?}"),
        Some(t) => format!("{t:?}"),
    }
}

/// A qualified name: `[prefix/]name`, name at most 63 characters of `[A-Za-z0-9-_.]` starting and
/// ending alphanumeric, prefix a DNS subdomain.
fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let ok = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(format!("invalid key prefix {p:?}"));
        }
    }
    if name.is_empty() || name.len() > 63 || !name_chars_ok(name) {
        return Err(format!("invalid key {key:?}"));
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]` starting and ending alphanumeric.
fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || (value.len() <= 63 && name_chars_ok(value)) {
        Ok(())
    } else {
        Err(format!("invalid value {value:?}"))
    }
}

fn name_chars_ok(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.chars().all(|c| alnum(c) || "-_.".contains(c))
        && s.chars().next().is_some_and(alnum)
        && s.chars().last().is_some_and(alnum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, ns: Option<&str>, labels: Value) -> Value {
        let api = if kind == "Deployment" {
            "apps/v1"
        } else {
            "v1"
        };
        let mut meta = json!({"name": name, "labels": labels, "annotations": {"team": "web"}});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": api, "kind": kind, "metadata": meta})
    }

    fn sel(v: Value) -> Selector {
        serde_json::from_value(v).expect("selector")
    }

    #[test]
    fn ids_should_match_as_anchored_regexes() {
        let db = obj("Deployment", "db", None, json!({}));
        let replica = obj("Deployment", "db-replica", Some("prod"), json!({}));
        let cases = [
            (json!({"name": "db"}), true, false),
            (json!({"name": "db.*"}), true, true),
            (json!({"kind": "Deploy"}), false, false),
            (
                json!({"kind": "Deployment", "version": "v1", "group": "apps"}),
                true,
                true,
            ),
            (json!({"namespace": "default"}), true, false),
            (json!({"namespace": "prod"}), false, true),
            (json!({}), true, true),
        ];
        for (s, want_db, want_replica) in cases {
            let c = sel(s.clone()).compile().expect("compiles");
            assert_eq!(c.matches(&db), want_db, "{s} on db");
            assert_eq!(c.matches(&replica), want_replica, "{s} on db-replica");
        }
    }

    #[test]
    fn origin_ids_should_select_too() {
        let renamed = obj("Deployment", "pre-app", Some("other"), json!({}));
        let origin = ResId {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            name: "app".into(),
            namespace: String::new(),
        };
        let c = sel(json!({"name": "app", "namespace": "default"}))
            .compile()
            .expect("compiles");
        assert!(!c.matches(&renamed));
        assert!(c.matches_with_origin(&renamed, Some(&origin)));
    }

    #[test]
    fn cluster_scoped_kinds_should_have_no_namespace() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        assert!(
            !sel(json!({"namespace": "default"}))
                .matches(&ns)
                .expect("compiles")
        );
    }

    #[test]
    fn label_selectors_should_follow_kubernetes_syntax() {
        let o = obj(
            "Service",
            "s",
            None,
            json!({"app": "web", "tier": "front", "n": "5"}),
        );
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("missing notin (a)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=back", false),
            ("n>3", true),
            ("n<3", false),
            ("", true),
        ];
        for (s, want) in cases {
            let c = sel(json!({"labelSelector": s})).compile().expect(s);
            assert_eq!(c.matches(&o), want, "{s}");
        }
        let c = sel(json!({"annotationSelector": "team=web"}))
            .compile()
            .expect("compiles");
        assert!(c.matches(&o));
    }

    #[test]
    fn invalid_selectors_should_fail_to_compile() {
        for s in [
            json!({"name": "("}),
            json!({"labelSelector": "app in web"}),
            json!({"labelSelector": "=x"}),
            json!({"labelSelector": "a=b c"}),
            json!({"labelSelector": "n>x"}),
        ] {
            assert!(sel(s.clone()).compile().is_err(), "{s}");
        }
    }
}
