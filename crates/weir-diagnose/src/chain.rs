//! The answer of `why`: a chain of steps from the object asked about to the first thing actually
//! wrong, and the cause with what to do.

use serde::Serialize;

/// One link of the chain: an object and what is the matter with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// How far below the object asked about (0 for itself).
    pub depth: usize,
    /// `Kind namespace/name`.
    pub object: String,
    /// What is the matter, in a few words.
    pub state: String,
    /// The message this rests on (a condition's or container's), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Step {
    pub fn new(depth: usize, object: impl Into<String>, state: impl Into<String>) -> Step {
        Step {
            depth,
            object: object.into(),
            state: state.into(),
            detail: None,
        }
    }

    /// The step with `detail` attached (nothing when it is empty).
    pub fn with_detail(mut self, detail: &str) -> Step {
        let d = detail.trim();
        if !d.is_empty() {
            self.detail = Some(d.to_string());
        }
        self
    }
}

/// The root cause: a stable code (kebab-case, for scripts and tests) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub code: String,
    pub advice: String,
}

impl Cause {
    pub fn new(code: &str, advice: impl Into<String>) -> Cause {
        Cause {
            code: code.to_string(),
            advice: advice.into(),
        }
    }
}

/// The whole answer for one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// `Kind namespace/name` asked about.
    pub target: String,
    /// Nothing is wrong.
    pub ok: bool,
    pub steps: Vec<Step>,
    /// `None` only when `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}
