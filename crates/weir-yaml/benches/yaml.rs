//! Throughput of reading and writing kustomize output: the largest corpus case, parsed and
//! written back. Prints a table; run with `cargo bench -p weir-yaml`.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn corpus_file() -> PathBuf {
    let shared = std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    shared.join("conformance/kustomize/bench-200-deployments-10-envs/expected.yaml")
}

fn main() {
    let path = corpus_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            std::process::exit(2);
        }
    };
    // The fastest of several runs: the machine is shared, the minimum is the stable figure.
    let rounds = 30;
    let docs = weir_yaml::from_str(&text).expect("corpus output parses");
    let read = fastest(rounds, || {
        std::hint::black_box(weir_yaml::from_str(std::hint::black_box(&text)).expect("parses"));
    });
    let write = fastest(rounds, || {
        std::hint::black_box(weir_yaml::to_string_multi(std::hint::black_box(&docs)));
    });
    let mb = text.len() as f64 / 1e6;
    println!("| step  | input | documents | fastest run | MB/s |");
    println!("|-------|-------|-----------|--------------|------|");
    for (step, t) in [("read", read), ("write", write)] {
        println!(
            "| {step:5} | {:.2} MB | {} | {:.2} ms | {:.0} |",
            mb,
            docs.len(),
            t.as_secs_f64() * 1e3,
            mb / t.as_secs_f64()
        );
    }
}

fn fastest(rounds: u32, mut f: impl FnMut()) -> std::time::Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}
