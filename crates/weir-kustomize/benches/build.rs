//! Builds the corpus `bench-*` cases with weir (in process, repeated) and with the kustomize CLI
//! (`kustomize build`, else `kubectl kustomize`) in the same run; prints times, the ratio and weir's
//! peak RSS. Goal: weir at most one tenth of kustomize's wall time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use weir_kustomize::{BuildOptions, DiskFs, build};

fn corpus() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared"))
        .join("conformance/kustomize")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn kustomize_cmd(dir: &Path) -> Option<Command> {
    let on_path = |bin: &str| {
        Command::new(bin)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if on_path("kustomize") {
        let mut c = Command::new("kustomize");
        c.arg("build").arg(dir);
        return Some(c);
    }
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let mut c = Command::new("kubectl");
        c.arg("kustomize").arg(dir);
        return Some(c);
    }
    None
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = corpus();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("corpus {} missing: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("bench-"))
        })
        .collect();
    cases.sort();
    println!(
        "{:<36} {:>12} {:>14} {:>8} {:>14}",
        "case", "weir", "kustomize", "ratio", "weir peak RSS"
    );
    for case in cases {
        let entry = std::fs::read_to_string(case.join("case.txt")).unwrap_or_default();
        let dir = case.join(entry.lines().next().unwrap_or("").trim());
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Warm-up, then the median of repeated in-process builds (including YAML output).
        let mut weir = Vec::new();
        for i in 0..21 {
            let t = Instant::now();
            let objs =
                build(&DiskFs::new(), &dir, &BuildOptions::default()).expect("bench case builds");
            let out = weir_yaml::to_string_multi(&objs);
            std::hint::black_box(out);
            if i > 0 {
                weir.push(t.elapsed());
            }
        }
        let weir = median(weir);
        let mut theirs = Vec::new();
        for _ in 0..5 {
            let Some(mut cmd) = kustomize_cmd(&dir) else {
                break;
            };
            let t = Instant::now();
            let out = cmd.output().expect("kustomize runs");
            assert!(out.status.success(), "kustomize failed on {name}");
            theirs.push(t.elapsed());
        }
        let (k, ratio) = if theirs.is_empty() {
            ("n/a".to_string(), "n/a".to_string())
        } else {
            let k = median(theirs);
            (
                format!("{:.1} ms", k.as_secs_f64() * 1e3),
                format!("{:.1}x", k.as_secs_f64() / weir.as_secs_f64()),
            )
        };
        println!(
            "{:<36} {:>12} {:>14} {:>8} {:>11} MiB",
            name,
            format!("{:.2} ms", weir.as_secs_f64() * 1e3),
            k,
            ratio,
            peak_rss_kib() / 1024
        );
    }
}
