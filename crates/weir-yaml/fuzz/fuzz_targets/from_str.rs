//! The loaders must return a value or an error for any input, never panic; whatever they read
//! must also write and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = weir_yaml::from_str_kustomization(text);
    let _ = weir_yaml::from_str_objects(text);
    if let Ok(docs) = weir_yaml::from_str(text) {
        let written = weir_yaml::to_string_multi(&docs);
        // The writer's output is YAML the loader accepts.
        let _ = weir_yaml::from_str(&written);
    }
});
