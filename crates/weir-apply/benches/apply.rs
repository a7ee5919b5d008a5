//! Applies 1,000 objects (250 each of Deployments, Services, ConfigMaps, ServiceAccounts) to a
//! testenv control plane with weir and with `kubectl apply --server-side`, each into its own
//! namespace in the same run, then re-applies both unchanged. Prints time, API requests and weir's
//! peak RSS. Run with `cargo bench -p weir-apply` (needs `testenv/testenv build` first).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_apply::{Applier, Options, RequestStats};

const PER_KIND: usize = 250;

fn objects() -> Vec<Value> {
    let mut out = Vec::with_capacity(PER_KIND * 4);
    for i in 0..PER_KIND {
        let name = format!("app-{i:03}");
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"serviceAccountName": name, "containers": [{"name": "app", "image": "registry.example/app:1",
                                      "ports": [{"containerPort": 8080}], "env": [{"name": "INDEX", "value": i.to_string()}]}]}}}}));
        out.push(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        );
        out.push(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"index": i.to_string(), "greeting": "hello"}}),
        );
        out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}));
    }
    out
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

struct Row {
    tool: &'static str,
    run: &'static str,
    time: Duration,
    requests: String,
}

/// Runs kubectl; returns (time, requests it logged at -v=6).
fn kubectl_apply(kubectl: &Path, kubeconfig: &Path, ns: &str, file: &Path) -> (Duration, u64) {
    let start = Instant::now();
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            "kubectl-bench",
            "-n",
            ns,
            "-v=6",
            "-f",
        ])
        .arg(file)
        .output()
        .expect("kubectl runs");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("\"Response\"") || l.contains(" Response "))
        .count();
    (elapsed, requests as u64)
}

fn fmt_requests(r: RequestStats) -> String {
    format!(
        "{} ({} reads, {} dry-runs, {} writes)",
        r.total(),
        r.reads,
        r.dry_runs,
        r.writes
    )
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("testenv/testenv");
    let pid = std::process::id().to_string();
    let name = format!("weir-apply-bench-{pid}");
    let up = Command::new(&script)
        .args(["up", &name, "--watch-pid", &pid])
        .output()
        .expect("testenv runs");
    assert!(
        up.status.success(),
        "testenv up failed:\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let stdout = String::from_utf8_lossy(&up.stdout);
    let kubeconfig = PathBuf::from(
        stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("KUBECONFIG="))
            .expect("KUBECONFIG= line"),
    );
    let bin = Command::new(&script)
        .arg("bin")
        .output()
        .expect("testenv bin");
    let kubectl = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("kubectl");
    for ns in ["bench-weir", "bench-kubectl"] {
        let ok = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["create", "namespace", ns])
            .status()
            .expect("kubectl");
        assert!(ok.success());
    }
    let set = objects();
    let file = std::env::temp_dir().join(format!("weir-bench-{pid}.json"));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": set});
    std::fs::write(&file, serde_json::to_vec(&list).expect("serialise"))
        .expect("write manifest file");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rss_before = peak_rss_kib();
    let mut rows = Vec::new();
    let opts = Options::new("bench", "bench-weir");
    let (first, again) = runtime.block_on(async {
        let applier = Applier::new(
            weir_apply::client(Some(&kubeconfig), None)
                .await
                .expect("client"),
        );
        let t = Instant::now();
        let first = applier
            .run(set.clone(), &opts)
            .await
            .expect("weir first apply");
        let first_time = t.elapsed();
        let t = Instant::now();
        let again = applier
            .run(set.clone(), &opts)
            .await
            .expect("weir re-apply");
        ((first_time, first), (t.elapsed(), again))
    });
    let peak = peak_rss_kib();
    rows.push(Row {
        tool: "weir",
        run: "first apply",
        time: first.0,
        requests: fmt_requests(first.1.requests),
    });
    let (k1, kr1) = kubectl_apply(&kubectl, &kubeconfig, "bench-kubectl", &file);
    rows.push(Row {
        tool: "kubectl --server-side",
        run: "first apply",
        time: k1,
        requests: kr1.to_string(),
    });
    rows.push(Row {
        tool: "weir",
        run: "unchanged re-apply",
        time: again.0,
        requests: fmt_requests(again.1.requests),
    });
    let (k2, kr2) = kubectl_apply(&kubectl, &kubeconfig, "bench-kubectl", &file);
    rows.push(Row {
        tool: "kubectl --server-side",
        run: "unchanged re-apply",
        time: k2,
        requests: kr2.to_string(),
    });

    println!(
        "\napply of {} objects (testenv control plane, loopback)\n",
        set.len()
    );
    println!("{:<24} {:<20} {:>10}  API requests", "tool", "run", "time");
    for r in &rows {
        println!(
            "{:<24} {:<20} {:>9.2}s  {}",
            r.tool,
            r.run,
            r.time.as_secs_f64(),
            r.requests
        );
    }
    println!(
        "\nweir peak RSS: {} MiB (process high-water mark; {} MiB before applying)",
        peak / 1024,
        rss_before / 1024
    );
    let ratio = again.0.as_secs_f64() / first.0.as_secs_f64();
    println!(
        "goals: first apply no slower than kubectl: {} ({:.2}s vs {:.2}s); unchanged re-apply writes nothing: {} ({} writes); under 1/10 of first: {} ({:.3})",
        if first.0 <= k1 { "met" } else { "MISSED" },
        first.0.as_secs_f64(),
        k1.as_secs_f64(),
        if again.1.requests.writes == 0 {
            "met"
        } else {
            "MISSED"
        },
        again.1.requests.writes,
        if ratio < 0.1 { "met" } else { "MISSED" },
        ratio
    );
    let _ = std::fs::remove_file(&file);
    let _ = Command::new(&script).args(["down", &name]).status();
}
