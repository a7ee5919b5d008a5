//! Output order: kustomize's "legacy" order (a fixed list of kinds first, webhooks last, the rest by
//! group/version/kind, then namespace and name) or "fifo" (accumulation order).

use std::collections::HashMap;

use crate::kustomization::SortOptions;
use crate::resid::ResId;
use crate::resource::Resource;

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// kustomize's rank of a kind in its fixed order (negative for the kinds placed first, positive
/// for those placed last, 0 for the rest); also how it sorts field specs.
pub(crate) fn kind_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

/// Checks `sortOptions` as kustomize does: `order` is `fifo` or `legacy` (required once the field is
/// set), and `legacySortOptions` only go with `legacy`.
pub(crate) fn validate(opts: Option<&SortOptions>) -> Result<(), String> {
    let Some(o) = opts else { return Ok(()) };
    match o.order.as_deref() {
        Some("legacy") => Ok(()),
        Some("fifo") if o.legacy_sort_options.is_some() => Err(
            "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'"
                .into(),
        ),
        Some("fifo") => Ok(()),
        _ => Err("the field 'sortOptions.order' must be one of [fifo, legacy]".into()),
    }
}

/// Sorts the final objects per the top-level `sortOptions` (legacy when unset; call [`validate`]
/// first).
pub(crate) fn sort(list: &mut Vec<Resource>, opts: Option<&SortOptions>) {
    if opts.and_then(|o| o.order.as_deref()) == Some("fifo") {
        return;
    }
    // Given legacy options replace both default lists, even when empty.
    let custom = opts.and_then(|o| o.legacy_sort_options.as_ref());
    let first: Vec<&str> = match custom {
        Some(c) => c.order_first.iter().map(String::as_str).collect(),
        None => ORDER_FIRST.to_vec(),
    };
    let last: Vec<&str> = match custom {
        Some(c) => c.order_last.iter().map(String::as_str).collect(),
        None => ORDER_LAST.to_vec(),
    };
    let mut rank: HashMap<&str, i64> = HashMap::new();
    let n = first.len() as i64;
    for (i, k) in first.iter().enumerate() {
        rank.insert(k, i as i64 - n);
    }
    for (i, k) in last.iter().enumerate() {
        rank.insert(k, 1 + i as i64);
    }
    let mut keyed: Vec<(i64, String, String, Resource)> = std::mem::take(list)
        .into_iter()
        .map(|r| {
            let id: ResId = r.cur_id();
            let rk = rank.get(id.gvk.kind.as_str()).copied().unwrap_or(0);
            (rk, id.gvk.sort_string(), id.sort_string(), r)
        })
        .collect();
    keyed.sort_by(|a, b| {
        if a.1 != b.1 {
            a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1))
        } else {
            a.2.cmp(&b.2)
        }
    });
    list.extend(keyed.into_iter().map(|k| k.3));
}
