//! The few API calls weir-apply makes, as raw requests on the caller's kube client: server-side apply
//! (real or dry-run), get, list, delete and the managed-fields patch of arbitrary objects as
//! `serde_json::Value`, each counted in the [`Tally`] of the step that makes it.

use std::fmt;

use http::{Method, Request, StatusCode};
use kube::client::Body;
use serde_json::Value;

use weir_api::ObjectRef;

use crate::requests::{RequestStats, Tally};
use crate::resolve::Resource;

/// An error answer from the API server, or a failure to reach it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error status.
    #[error("{0}")]
    Api(ApiError),
    /// The request did not get an answer.
    #[error("request failed")]
    Transport(#[source] kube::Error),
    /// The answer was not JSON.
    #[error("unreadable answer from the API server")]
    Decode(#[source] serde_json::Error),
}

/// The `Status` the API server answers errors with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason, e.g. `Invalid`, `NotFound`, `Conflict`.
    pub reason: String,
    /// The server's message (already names the object and the fields).
    pub message: String,
    /// Fields the server blamed, with why.
    pub causes: Vec<(String, String)>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = if self.reason.is_empty() {
            "Error"
        } else {
            &self.reason
        };
        write!(f, "{reason} ({}): {}", self.code, self.message)
    }
}

impl ApiError {
    fn from_body(code: StatusCode, body: &[u8]) -> ApiError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let causes = v
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let s =
                            |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (s("field"), s("message"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut message = text("/message");
        if message.is_empty() {
            message = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(500)
                .collect();
        }
        ApiError {
            code: code.as_u16(),
            reason: text("/reason"),
            message,
            causes,
        }
    }

    /// The server refused a change to a field that cannot change after creation.
    pub fn is_immutable(&self) -> bool {
        self.code == 422
            && (self.message.contains("immutable")
                || self.causes.iter().any(|(_, m)| m.contains("immutable")))
    }

    /// The object (or its namespace) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }
}

impl CallError {
    /// The API error, when the server answered.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            CallError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// What an apply request answered: whether it created the object, and the object.
pub(crate) struct Applied {
    /// True when the object did not exist before (HTTP 201).
    pub(crate) created: bool,
    /// The object as the server stored it (or would store it, for a dry-run).
    pub(crate) object: Value,
}

/// The caller's kube client, bound to a field manager, counting the requests of one step.
pub(crate) struct Cluster<'a> {
    client: &'a kube::Client,
    field_manager: &'a str,
    tally: Tally,
}

fn path(res: &Resource, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut p = if res.group.is_empty() {
        format!("/api/{}", res.version)
    } else {
        format!("/apis/{}/{}", res.group, res.version)
    };
    if let (true, Some(ns)) = (res.namespaced, namespace) {
        p.push_str("/namespaces/");
        p.push_str(ns);
    }
    p.push('/');
    p.push_str(&res.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
    }
    p
}

/// Percent-encodes a query value (label selectors carry `/`, `=` and `,`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl<'a> Cluster<'a> {
    /// Wraps `client`; every apply is made as `field_manager`; the count starts at zero.
    pub(crate) fn new(client: &'a kube::Client, field_manager: &'a str) -> Self {
        Cluster {
            client,
            field_manager,
            tally: Tally::default(),
        }
    }

    /// Requests made through this value.
    pub(crate) fn requests(&self) -> RequestStats {
        self.tally.stats()
    }

    async fn call(
        &self,
        method: Method,
        uri: String,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<(StatusCode, Value), CallError> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Accept", "application/json");
        let body = match body {
            Some((bytes, content_type)) => {
                req = req.header("Content-Type", content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let req = req
            .body(body)
            .expect("method, uri and headers are valid by construction");
        self.tally.record(req.method(), req.uri().query());
        let res = self.client.send(req).await.map_err(CallError::Transport)?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect_bytes()
            .await
            .map_err(CallError::Transport)?;
        if status.is_client_error() || status.is_server_error() {
            return Err(CallError::Api(ApiError::from_body(status, &bytes)));
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(CallError::Decode)?
        };
        Ok((status, value))
    }

    /// A GET of `uri` (discovery documents); `None` on 404.
    pub(crate) async fn get_path(&self, uri: String) -> Result<Option<Value>, CallError> {
        match self.call(Method::GET, uri, None).await {
            Ok((_, v)) => Ok(Some(v)),
            Err(CallError::Api(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `metadata.managedFields` of the object (a JSON patch, as Flux's ssa package does to
    /// hand fields from one manager to another).
    pub(crate) async fn replace_managed_fields(
        &self,
        res: &Resource,
        obj: &ObjectRef,
        entries: Vec<Value>,
    ) -> Result<(), CallError> {
        let uri = path(res, obj.namespace.as_deref(), Some(&obj.name));
        let patch = serde_json::json!([
            {"op": "replace", "path": "/metadata/managedFields", "value": entries},
        ]);
        let body = serde_json::to_vec(&patch).expect("a serde_json::Value always serialises");
        self.call(
            Method::PATCH,
            uri,
            Some((body, "application/json-patch+json")),
        )
        .await
        .map(|_| ())
    }

    /// The live object, or `None` when it does not exist.
    pub(crate) async fn get(
        &self,
        res: &Resource,
        obj: &ObjectRef,
    ) -> Result<Option<Value>, CallError> {
        let uri = path(res, obj.namespace.as_deref(), Some(&obj.name));
        match self.call(Method::GET, uri, None).await {
            Ok((_, v)) => Ok(Some(v)),
            Err(CallError::Api(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object of `res` in `namespace` (all namespaces for `None`) matching `selector`, each with
    /// `apiVersion` and `kind` filled in (list items lack them).
    pub(crate) async fn list(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, CallError> {
        let uri = format!(
            "{}?labelSelector={}",
            path(res, namespace, None),
            encode(selector)
        );
        let (_, mut list) = self.call(Method::GET, uri, None).await?;
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .map(|mut item| {
                if let Some(map) = item.as_object_mut() {
                    map.insert("apiVersion".into(), Value::String(res.api_version()));
                    map.insert("kind".into(), Value::String(res.kind.clone()));
                }
                item
            })
            .collect())
    }

    /// Server-side apply of `manifest`, taking ownership of conflicting fields (as Flux does).
    pub(crate) async fn apply(
        &self,
        res: &Resource,
        obj: &ObjectRef,
        manifest: &Value,
        dry_run: bool,
    ) -> Result<Applied, CallError> {
        let mut uri = path(res, obj.namespace.as_deref(), Some(&obj.name));
        uri.push_str("?fieldManager=");
        uri.push_str(&encode(self.field_manager));
        uri.push_str("&force=true&fieldValidation=Strict");
        if dry_run {
            uri.push_str("&dryRun=All");
        }
        let body = serde_json::to_vec(manifest).expect("a serde_json::Value always serialises");
        let (status, object) = self
            .call(
                Method::PATCH,
                uri,
                Some((body, "application/apply-patch+yaml")),
            )
            .await?;
        Ok(Applied {
            created: status == StatusCode::CREATED,
            object,
        })
    }

    /// Deletes the object (its dependents in the background); a missing object is not an error.
    pub(crate) async fn delete(
        &self,
        res: &Resource,
        obj: &ObjectRef,
        propagation: &str,
    ) -> Result<(), CallError> {
        let uri = path(res, obj.namespace.as_deref(), Some(&obj.name));
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation
        }))
        .expect("a serde_json::Value always serialises");
        match self
            .call(Method::DELETE, uri, Some((body, "application/json")))
            .await
        {
            Ok(_) => Ok(()),
            Err(CallError::Api(e)) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, namespaced: bool) -> Resource {
        Resource {
            group: group.into(),
            version: "v1".into(),
            kind: "Thing".into(),
            plural: "things".into(),
            namespaced,
        }
    }

    #[test]
    fn paths_follow_the_api_layout() {
        assert_eq!(
            path(&res("", true), Some("a"), Some("x")),
            "/api/v1/namespaces/a/things/x"
        );
        assert_eq!(
            path(&res("apps", true), Some("a"), None),
            "/apis/apps/v1/namespaces/a/things"
        );
        assert_eq!(
            path(&res("rbac", false), None, Some("x")),
            "/apis/rbac/v1/things/x"
        );
        assert_eq!(encode("a/b=c,d"), "a%2Fb%3Dc%2Cd");
    }

    #[test]
    fn api_errors_keep_reason_and_causes() {
        let body = br#"{"kind":"Status","reason":"Invalid","message":"Deployment.apps \"w\" is invalid: spec.selector: field is immutable",
            "details":{"causes":[{"field":"spec.selector","message":"field is immutable"}]}}"#;
        let e = ApiError::from_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert!(e.is_immutable());
        assert_eq!(
            e.causes,
            vec![(
                "spec.selector".to_string(),
                "field is immutable".to_string()
            )]
        );
        assert!(e.to_string().starts_with("Invalid (422): Deployment.apps"));
    }
}
