//! `weir check` on a generated repository of N Kustomizations (four objects each, a dependsOn chain
//! per tier, postBuild variables), end to end: walk, build, substitute, verify.
//!
//! Peer: what a Flux-based CI does without weir, `kubectl kustomize` (kustomize v5) once per
//! Kustomization path (no dependency, duplicate or variable checks at all). Run with
//! `cargo bench -p weir-check`; `WEIR_BENCH_KS=N` changes N (default 1000), `WEIR_BENCH_PEER=0`
//! skips the peer.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use weir_check::{CheckOptions, check};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

fn generate(root: &Path, n: usize) {
    let mut cluster = String::new();
    for i in 0..n {
        let dep = if i % 10 == 0 {
            String::new()
        } else {
            format!("  dependsOn:\n    - name: app-{:04}\n", i - 1)
        };
        cluster.push_str(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app-{i:04}\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps/app-{i:04}\n  targetNamespace: team-{t}\n{dep}  postBuild:\n    substitute:\n      INDEX: \"{i}\"\n      REPLICAS: \"2\"\n",
            t = i % 20
        ));
        write(
            root,
            &format!("apps/app-{i:04}/kustomization.yaml"),
            &format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: app-{i:04}-\nlabels:\n  - pairs:\n      app: app-{i:04}\n    includeSelectors: true\nresources:\n  - deployment.yaml\n  - service.yaml\n  - serviceaccount.yaml\nconfigMapGenerator:\n  - name: settings\n    literals:\n      - INDEX=${{INDEX}}\n"
            ),
        );
        write(
            root,
            &format!("apps/app-{i:04}/deployment.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${REPLICAS:=1}\n  selector:\n    matchLabels:\n      component: web\n  template:\n    metadata:\n      labels:\n        component: web\n    spec:\n      serviceAccountName: sa\n      containers:\n        - name: web\n          image: ghcr.io/example/web:1.0.${INDEX}\n          envFrom:\n            - configMapRef:\n                name: settings\n          ports:\n            - containerPort: 8080\n",
        );
        write(
            root,
            &format!("apps/app-{i:04}/service.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    component: web\n  ports:\n    - port: 80\n      targetPort: 8080\n",
        );
        write(
            root,
            &format!("apps/app-{i:04}/serviceaccount.yaml"),
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n",
        );
    }
    write(root, "clusters/bench/apps.yaml", &cluster);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::var("WEIR_BENCH_KS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), n);
    let opts = CheckOptions {
        cluster: Some("clusters/bench".into()),
        ..Default::default()
    };

    let mut times = Vec::new();
    let mut objects = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let checked = check(dir.path(), &opts).expect("check");
        times.push(start.elapsed());
        assert!(
            !checked.report.has_errors(),
            "{:?}",
            &checked.report.findings[..checked.report.findings.len().min(3)]
        );
        objects = checked
            .report
            .kustomizations
            .iter()
            .map(|k| k.objects.len())
            .sum::<usize>();
    }
    times.sort();
    let weir = times[times.len() / 2];
    let rss = peak_rss_kib();

    let peer = if std::env::var("WEIR_BENCH_PEER").as_deref() == Ok("0") {
        None
    } else {
        let start = Instant::now();
        let mut ok = true;
        for i in 0..n {
            let status = Command::new("kubectl")
                .args([
                    "kustomize",
                    &dir.path()
                        .join(format!("apps/app-{i:04}"))
                        .to_string_lossy(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                ok = false;
                break;
            }
        }
        ok.then(|| start.elapsed())
    };

    println!("weir check: {n} Kustomizations, {objects} objects (median of 5 runs)");
    println!("{:<44} {:>10} {:>14}", "tool", "wall", "peak RSS");
    println!(
        "{:<44} {:>10} {:>10} MiB",
        "weir check (walk+build+substitute+verify)",
        fmt(weir),
        rss / 1024
    );
    match peer {
        Some(t) => println!(
            "{:<44} {:>10} {:>14}",
            "kubectl kustomize, once per path (build only)",
            fmt(t),
            "-"
        ),
        None => println!(
            "{:<44} {:>10}",
            "kubectl kustomize (skipped or unavailable)", "-"
        ),
    }
    if let Some(t) = peer {
        println!(
            "ratio weir/peer: {:.3}",
            weir.as_secs_f64() / t.as_secs_f64()
        );
    }
    println!(
        "goal: under 2 s and 200 MiB -> {}",
        if weir < Duration::from_secs(2) && rss < 200 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn fmt(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
