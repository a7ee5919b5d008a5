//! Any bytes as a kustomization file (and as the resource and patch files it may name) must build or
//! fail with an error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weir_kustomize::{BuildOptions, Kustomization, MemFs, build};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Kustomization::from_yaml(&text);
    // The same bytes as the kustomization and as every file it could name.
    let mut fs = MemFs::new();
    fs.add("/k/kustomization.yaml", data.to_vec());
    for name in ["a.yaml", "b.yaml", "patch.yaml", "env", "file"] {
        fs.add(format!("/k/{name}"), data.to_vec());
    }
    let _ = build(&fs, Path::new("/k"), &BuildOptions::default());
    // A fixed kustomization over fuzzed resources and patches.
    let mut fs = MemFs::new();
    fs.add(
        "/k/kustomization.yaml",
        "resources: [a.yaml]\nnamePrefix: p-\nnamespace: n\ncommonLabels: {a: b}\n\
         patches:\n- path: patch.yaml\n  target: {kind: .*}\nimages: [{name: x, newTag: '1'}]\n\
         configMapGenerator:\n- name: g\n  envs: [env]\n",
    );
    fs.add("/k/a.yaml", data.to_vec()).add("/k/patch.yaml", data.to_vec()).add("/k/env", data.to_vec());
    let _ = build(&fs, Path::new("/k"), &BuildOptions::default());
});
