//! Status writes: a merge patch of `status` only when it differs from what the object shows.

use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Now, as Kubernetes writes times (RFC 3339, seconds).
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(now)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Writes `new` as the status of `name` when it differs from `current`. Returns whether it wrote.
pub async fn write_if_changed<K, S>(
    api: &Api<K>,
    name: &str,
    current: Option<&S>,
    new: &S,
) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(new) {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": new });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}
