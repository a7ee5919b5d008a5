//! Schemas for fields weir keeps as raw JSON: structural for the API server (which refuses an
//! untyped field) while letting any content through.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object whose fields are kept as they are.
pub fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// A list of objects kept as they are.
pub fn any_array(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}
