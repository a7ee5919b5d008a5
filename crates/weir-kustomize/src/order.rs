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

/// Sorts the final objects per the top-level `sortOptions` (legacy when unset).
pub(crate) fn sort(list: &mut Vec<Resource>, opts: Option<&SortOptions>) {
    if opts.and_then(|o| o.order.as_deref()) == Some("fifo") {
        return;
    }
    let custom = opts.and_then(|o| o.legacy_sort_options.as_ref());
    let first: Vec<&str> = match custom {
        Some(c) if !c.order_first.is_empty() || !c.order_last.is_empty() => {
            c.order_first.iter().map(String::as_str).collect()
        }
        _ => ORDER_FIRST.to_vec(),
    };
    let last: Vec<&str> = match custom {
        Some(c) if !c.order_first.is_empty() || !c.order_last.is_empty() => {
            c.order_last.iter().map(String::as_str).collect()
        }
        _ => ORDER_LAST.to_vec(),
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
