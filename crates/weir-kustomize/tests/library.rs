//! Library behaviour beyond `kustomize build`: Flux's options (artifact root, generated kustomization,
//! spec overlay), remote bases, and what errors carry.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use weir_kustomize::{
    BuildOptions, ErrorKind, Image, Kustomization, Label, MemFs, build, build_with,
};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  k: v\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

fn names(objs: &[Value]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn generated_kustomization_lists_manifests_and_kustomized_subdirs() {
    let mut fs = MemFs::new();
    fs.add("/repo/app/a.yaml", cm("a"))
        .add("/repo/app/nested/b.yml", cm("b"))
        .add("/repo/app/README.md", "not yaml")
        .add(
            "/repo/app/sub/kustomization.yaml",
            "resources: [c.yaml]\nnamePrefix: sub-\n",
        )
        .add("/repo/app/sub/c.yaml", cm("c"))
        .add("/repo/app/sub/ignored.yaml", cm("ignored"));
    let opts = BuildOptions {
        generate_missing: true,
        load_root: Some("/repo".into()),
        ..Default::default()
    };
    let objs = build(&fs, Path::new("/repo/app"), &opts).unwrap();
    assert_eq!(names(&objs), vec!["/a", "/b", "/sub-c"]);

    let strict = BuildOptions::default();
    let err = build(&fs, Path::new("/repo/app"), &strict).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::MissingKustomization { .. }),
        "{err}"
    );
}

#[test]
fn flux_spec_overlay_is_merged_into_the_kustomization() {
    let mut fs = MemFs::new();
    fs.add(
        "/repo/app/kustomization.yaml",
        "resources: [d.yaml]\nimages:\n- name: app\n  newTag: '1'\n",
    )
    .add(
        "/repo/app/d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: app:0\n",
    );
    let overlay = Kustomization {
        namespace: Some("prod".into()),
        name_prefix: Some("p-".into()),
        images: vec![Image {
            name: "app".into(),
            new_tag: Some("2".into()),
            ..Default::default()
        }],
        labels: vec![Label {
            pairs: BTreeMap::from([("team".into(), "a".into())]),
            ..Default::default()
        }],
        common_annotations: BTreeMap::from([("owner".into(), "flux".into())]),
        ..Default::default()
    };
    let objs = build_with(
        &fs,
        Path::new("/repo/app"),
        &overlay,
        &BuildOptions::default(),
    )
    .unwrap();
    let d = &objs[0];
    assert_eq!(d["metadata"]["name"], "p-web");
    assert_eq!(d["metadata"]["namespace"], "prod");
    assert_eq!(d["metadata"]["labels"]["team"], "a");
    assert_eq!(d["metadata"]["annotations"]["owner"], "flux");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:2"
    );
}

#[test]
fn artifact_root_allows_sibling_files_but_nothing_outside() {
    let mut fs = MemFs::new();
    fs.add("/repo/base/cm.yaml", cm("shared"))
        .add(
            "/repo/app/kustomization.yaml",
            "resources:\n- ../base/cm.yaml\n",
        )
        .add(
            "/repo/escape/kustomization.yaml",
            "resources:\n- ../../outside.yaml\n",
        )
        .add("/outside.yaml", cm("outside"));
    // kustomize's default restrictor: a file outside the kustomization directory is refused.
    let err = build(&fs, Path::new("/repo/app"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::OutsideRoot { .. }), "{err}");
    // Flux: anything inside the artifact root.
    let flux = BuildOptions {
        load_root: Some("/repo".into()),
        ..Default::default()
    };
    let objs = build(&fs, Path::new("/repo/app"), &flux).unwrap();
    assert_eq!(names(&objs), vec!["/shared"]);
    let err = build(&fs, Path::new("/repo/escape"), &flux).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::OutsideRoot { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn symlinks_cannot_escape_the_artifact_root() {
    let tmp = std::env::temp_dir().join(format!("weir-kustomize-symlink-{}", std::process::id()));
    let root = tmp.join("root");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(tmp.join("secret.yaml"), cm("secret")).unwrap();
    std::os::unix::fs::symlink(tmp.join("secret.yaml"), root.join("app/link.yaml")).unwrap();
    std::fs::write(
        root.join("app/kustomization.yaml"),
        "resources: [link.yaml]\n",
    )
    .unwrap();
    let flux = BuildOptions {
        load_root: Some(root.clone()),
        ..Default::default()
    };
    let err = build(&weir_kustomize::DiskFs::new(), &root.join("app"), &flux).unwrap_err();
    std::fs::remove_dir_all(&tmp).ok();
    assert!(matches!(err.kind, ErrorKind::OutsideRoot { .. }), "{err}");
}

#[test]
fn remote_bases_are_refused() {
    let mut fs = MemFs::new();
    fs.add(
        "/a/kustomization.yaml",
        "resources:\n- https://github.com/example/repo//deploy?ref=v1\n",
    );
    let err = build(&fs, Path::new("/a"), &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::RemoteDisabled { .. }),
        "{err}"
    );
    let allowed = BuildOptions {
        allow_remote: true,
        ..Default::default()
    };
    let err = build(&fs, Path::new("/a"), &allowed).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::RemoteUnsupported { .. }),
        "{err}"
    );
}

#[test]
fn errors_carry_file_line_and_chain() {
    let mut fs = MemFs::new();
    fs.add("/r/overlay/kustomization.yaml", "resources: [../base]\n")
        .add("/r/base/kustomization.yaml", "resources: [bad.yaml]\n")
        .add(
            "/r/base/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        );
    let err = build(&fs, Path::new("/r/overlay"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Yaml { .. }), "{err}");
    assert_eq!(err.file(), Some(Path::new("/r/base/bad.yaml")));
    assert!(err.line().is_some(), "{err}");
    assert_eq!(
        err.chain,
        vec![
            Path::new("/r/overlay").to_path_buf(),
            Path::new("/r/base").to_path_buf()
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("/r/base/bad.yaml:") && text.contains("/r/overlay -> /r/base"),
        "{text}"
    );
}

#[test]
fn duplicate_ids_name_the_object() {
    let mut fs = MemFs::new();
    fs.add("/a/kustomization.yaml", "resources: [x.yaml, y.yaml]\n")
        .add("/a/x.yaml", cm("same"))
        .add("/a/y.yaml", cm("same"));
    let err = build(&fs, Path::new("/a"), &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("ConfigMap same"), "{err}");
}

#[test]
fn an_object_without_kind_is_named_with_its_file() {
    let mut fs = MemFs::new();
    fs.add("/a/kustomization.yaml", "resources: [x.yaml]\n")
        .add(
            "/a/x.yaml",
            format!(
                "{}---\napiVersion: v1\nmetadata: {{name: nameless-kind}}\n",
                cm("ok")
            ),
        )
        .add("/b/kustomization.yaml", "resources: [y.yaml]\n")
        .add("/b/y.yaml", "apiVersion: v1\ndata: {k: v}\n");
    let err = build(&fs, Path::new("/a"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::InvalidObject { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("/a/x.yaml: object #2: 'nameless-kind': missing 'kind'"),
        "{err}"
    );
    let err = build(&fs, Path::new("/b"), &BuildOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("/b/y.yaml: object #1: missing 'kind'"),
        "{err}"
    );
}

#[test]
fn cycles_are_reported() {
    let mut fs = MemFs::new();
    fs.add("/a/kustomization.yaml", "resources: [../b]\n")
        .add("/b/kustomization.yaml", "resources: [../a]\n");
    let err = build(&fs, Path::new("/a"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Cycle { .. }), "{err}");
}

#[test]
fn only_builtin_plugins_are_configured() {
    let mut fs = MemFs::new();
    fs.add(
        "/k/kustomization.yaml",
        "resources: [a.yaml]\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata: {name: l}\n  labels: {team: x}\n  fieldSpecs: [{path: metadata/labels, create: true}]\n",
    )
    .add("/k/a.yaml", cm("a"));
    let objs = build(&fs, Path::new("/k"), &BuildOptions::default()).unwrap();
    assert_eq!(objs[0]["metadata"]["labels"]["team"], "x");

    // An exec/KRM-function plugin (any other apiVersion) is refused, naming the plugin.
    fs.add(
        "/k/kustomization.yaml",
        "resources: [a.yaml]\ntransformers: [t.yaml]\n",
    )
    .add(
        "/k/t.yaml",
        "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: notImportantHere\n",
    );
    let err = build(&fs, Path::new("/k"), &BuildOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ChartInflator 'notImportantHere'"), "{text}");
    assert!(text.contains("only kustomize's builtin plugins"), "{text}");
}

#[test]
fn generator_options_of_the_entry_win_over_generator_options() {
    let mut fs = MemFs::new();
    fs.add(
        "/k/kustomization.yaml",
        "generatorOptions:\n  labels: {a: global, b: global}\nconfigMapGenerator:\n- name: c\n  literals: [x=1]\n  options:\n    labels: {a: own}\n",
    );
    let objs = build(&fs, Path::new("/k"), &BuildOptions::default()).unwrap();
    let labels = &objs[0]["metadata"]["labels"];
    assert_eq!(labels["a"], "own");
    assert_eq!(labels["b"], "global");
}
