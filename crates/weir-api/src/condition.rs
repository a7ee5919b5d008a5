//! Status conditions as Flux writes them (`metav1.Condition`), with Flux's types and reasons.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types.
pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const HEALTHY: &str = "Healthy";
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
pub const FETCH_FAILED: &str = "FetchFailed";

/// Condition reasons (Flux's spelling, so dashboards and alert rules keep working).
pub mod reason {
    pub const SUCCEEDED: &str = "Succeeded";
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    pub const PROGRESSING: &str = "Progressing";
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const BUILD_FAILED: &str = "BuildFailed";
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    pub const SUSPENDED: &str = "Suspended";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const UNSUPPORTED: &str = "UnsupportedField";
    pub const DEPENDENCY_CYCLE: &str = "DependencyCycle";
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    pub const NEW_REVISION: &str = "NewRevision";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const RATE_LIMITED: &str = "RateLimited";
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339 time of the last change of `status`.
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// `status` as Flux spells it.
pub fn status_str(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// The condition of `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of `type_` is set and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(Condition::is_true)
}

/// Sets a condition as `meta.SetStatusCondition` does: the transition time changes only when the
/// status does. Returns whether anything changed (so a caller writes status only on a change).
pub fn set(conditions: &mut Vec<Condition>, new: Condition, now: &str) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(c) => {
            let changed = c.status != new.status
                || c.reason != new.reason
                || c.message != new.message
                || c.observed_generation != new.observed_generation;
            if c.status != new.status {
                c.last_transition_time = now.to_string();
            }
            c.status = new.status;
            c.reason = new.reason;
            c.message = new.message;
            c.observed_generation = new.observed_generation;
            changed
        }
        None => {
            let mut new = new;
            new.last_transition_time = now.to_string();
            conditions.push(new);
            true
        }
    }
}

/// Removes the condition of `type_`; returns whether it was there.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// A condition value to pass to [`set`].
pub fn new(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status_str(status).to_string(),
        observed_generation: None,
        last_transition_time: String::new(),
        reason: reason.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_status() {
        let mut cs = Vec::new();
        assert!(set(
            &mut cs,
            new(READY, false, reason::PROGRESSING, "x"),
            "t1"
        ));
        assert_eq!(cs[0].last_transition_time, "t1");
        assert!(set(
            &mut cs,
            new(READY, false, reason::BUILD_FAILED, "y"),
            "t2"
        ));
        assert_eq!(cs[0].last_transition_time, "t1");
        assert!(!set(
            &mut cs,
            new(READY, false, reason::BUILD_FAILED, "y"),
            "t3"
        ));
        assert!(set(
            &mut cs,
            new(READY, true, reason::RECONCILIATION_SUCCEEDED, "ok"),
            "t4"
        ));
        assert_eq!(cs[0].last_transition_time, "t4");
        assert!(is_true(&cs, READY));
        assert!(!is_true(&cs, STALLED));
        assert!(remove(&mut cs, READY));
        assert!(!remove(&mut cs, READY));
    }
}
