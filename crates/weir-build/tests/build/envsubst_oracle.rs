//! Differential test of `weir_build::envsubst` against Flux's own implementation
//! (`github.com/fluxcd/pkg/envsubst`, built from the Go module proxy into the small program in
//! `oracle/`, cached under `$WEIR_CACHE` keyed by its sources). Thousands of generated texts go
//! through both; results must be equal, and errors must be errors of the same kind.
//!
//! The test builds the oracle when it is missing and fails (never skips) when Go is unavailable.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use weir_build::envsubst::{self, Error, Limits};

/// Cases per run; `WEIR_ENVSUBST_CASES` and `WEIR_ENVSUBST_SEED` make a longer or different run.
const CASES: usize = 20_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn oracle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oracle")
}

/// FNV-1a over the oracle's sources: a changed program or version gets a new cache entry.
fn sources_key() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in ["go.mod", "go.sum", "main.go"] {
        let bytes = std::fs::read(oracle_dir().join(f)).expect("oracle source readable");
        for b in f.as_bytes().iter().chain(&bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn envsubst_version() -> String {
    let gomod = std::fs::read_to_string(oracle_dir().join("go.mod")).expect("go.mod readable");
    gomod
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("require github.com/fluxcd/pkg/envsubst ")
        })
        .expect("go.mod requires github.com/fluxcd/pkg/envsubst")
        .trim()
        .to_string()
}

fn go_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/local/go/bin")])
        .map(|d| d.join("go"));
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "the envsubst differential test needs Go to build Flux's envsubst (scripts/setup installs it); \
         `go` is not on PATH nor in /usr/local/go/bin"
    );
}

/// The oracle binary, built once per version and source hash.
fn oracle() -> PathBuf {
    let cache = std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir")))
        .expect("WEIR_CACHE or HOME is set");
    let dir =
        cache
            .join("envsubst-oracle")
            .join(format!("{}-{}", envsubst_version(), sources_key()));
    let bin = dir.join("envsubst-oracle");
    if bin.is_file() {
        return bin;
    }
    std::fs::create_dir_all(&dir).expect("create the oracle cache dir");
    let tmp = dir.join(format!("envsubst-oracle.tmp{}", std::process::id()));
    let status = Command::new(go_binary())
        .args([
            "build",
            "-mod=readonly",
            "-trimpath",
            "-buildvcs=false",
            "-o",
        ])
        .arg(&tmp)
        .arg(".")
        .current_dir(oracle_dir())
        .env("CGO_ENABLED", "0")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of the envsubst oracle failed");
    std::fs::rename(&tmp, &bin).expect("move the oracle into the cache");
    bin
}

/// splitmix64: a seeded generator, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const NAMES: &[&str] = &["A", "B", "C", "E", "U", "_x", "1a", "é", "DOT"];
const VALUES: &[&str] = &[
    "Hello.World.txt",
    "",
    "a.b.c",
    "ÄbC",
    "x/y/z",
    "aaa",
    "a*b",
    "中文.txt",
    "  sp  ",
    "$A",
    "${B}",
    "ß-İ-ǅ",
    "-1",
    "3",
];
const TEXT: &[&str] = &[
    "a", "b", "x", ".", "-", "/", "\\", "$", "{", "}", ":", "#", "%", "^", ",", "*", "?", "[", "]",
    "=", "+", " ", "é", "0", "1", "中", "$$", "\n",
];
const OFFSETS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "-1",
    "-3",
    " -1",
    "x",
    "99",
    "+1",
    "-99",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
];
const GLOBS: &[&str] = &[
    "*", "*.", ".*", "?", "[a-c]", "[^a]", "a*b", "\\*", "[", "[]", "[a-]", "*[0-9]", "H*", "*t",
    "[\\]]", "??", "*/", "[!a]", "\\", "a", ".", "[]a]", "*?*", "[z-a]",
];

fn text(r: &mut Rng, max: usize) -> String {
    (0..=r.below(max)).map(|_| r.pick(TEXT)).collect()
}

/// One argument: text, or a nested expression.
fn arg(r: &mut Rng, depth: usize, pool: &[&str]) -> String {
    if depth < 3 && r.chance(25) {
        expr(r, depth + 1)
    } else if r.chance(70) {
        r.pick(pool).to_string()
    } else {
        text(r, 3)
    }
}

fn expr(r: &mut Rng, depth: usize) -> String {
    let n = r.pick(NAMES);
    match r.below(12) {
        0 => format!("${{{n}}}"),
        1 => {
            let op = r.pick(&[":-", ":=", "=", ":+", ":?", "-", "+", "?", "=="]);
            let args: String = (0..r.below(3)).map(|_| arg(r, depth, VALUES)).collect();
            format!("${{{n}{op}{args}}}")
        }
        2 => format!("${{#{n}}}"),
        3 => format!("${{{n}:{}}}", arg(r, depth, OFFSETS)),
        4 => format!(
            "${{{n}:{}{}{}}}",
            arg(r, depth, OFFSETS),
            r.pick(&[":", "::", ""]),
            arg(r, depth, OFFSETS)
        ),
        5 | 6 => {
            let op = r.pick(&["/", "//", "/#", "/%"]);
            let from = arg(
                r,
                depth,
                &[".", "a", "b", "\\/", "\\\\", "$$", "x", "", "l"],
            );
            let sep = r.pick(&["/", "//", "", "/"]);
            let to = arg(r, depth, &["-", "", "Z", "\\/", "$$"]);
            format!("${{{n}{op}{from}{sep}{to}}}")
        }
        7 | 8 => {
            let op = r.pick(&["#", "##", "%", "%%", "###"]);
            format!("${{{n}{op}{}}}", arg(r, depth, GLOBS))
        }
        9 => format!(
            "${{{n}{}}}",
            r.pick(&["^", "^^", ",", ",,", "^,", "^^^", ",,,"])
        ),
        10 => format!("$${{{n}}}"),
        _ => format!("${{{n}{}}}", text(r, 2)),
    }
}

fn case(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..=r.below(4) {
        if r.chance(60) {
            s.push_str(&expr(r, 0));
        } else {
            s.push_str(&text(r, 4));
        }
    }
    if r.chance(20) {
        // Mutate: cut, or drop one character, to reach the error paths.
        let chars: Vec<char> = s.chars().collect();
        let at = r.below(chars.len().max(1));
        s = if r.chance(50) {
            chars[..at].iter().collect()
        } else {
            chars
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, c)| c)
                .collect()
        };
    }
    s
}

fn vars(r: &mut Rng) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in NAMES {
        if *n == "U" || !r.chance(85) {
            continue;
        }
        let v = match *n {
            "E" => "",
            "DOT" => "example.com",
            _ => r.pick(VALUES),
        };
        out.insert(n.to_string(), v.to_string());
    }
    out
}

fn weir(text: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<String, Error> {
    envsubst::eval(
        text,
        &|n| match vars.get(n) {
            Some(v) => envsubst::Value::Set(v),
            None => envsubst::Value::Unset,
        },
        strict,
        &Limits::default(),
    )
}

/// Compares one case; a message when weir and Flux disagree.
fn compare(req: &Value, answer: &Value, got: &Result<String, Error>) -> Option<String> {
    let ok = answer["ok"].as_bool() == Some(true);
    let go_err = answer["err"].as_str().unwrap_or_default();
    let agree = match got {
        Ok(out) => ok && answer["utf8"] == true && answer["out"] == out.as_str(),
        Err(Error::InvalidUtf8) => ok && answer["utf8"] == false,
        Err(Error::SubstringOverflow { .. }) => answer["panic"] == true,
        Err(Error::Undefined { names }) => {
            !ok && go_err == format!("variable not set (strict mode): {:?}", names[0])
        }
        Err(e) => !ok && go_err == e.to_string(),
    };
    (!agree).then(|| format!("input {req}\n  flux: {answer}\n  weir: {got:?}"))
}

#[test]
fn envsubst_matches_flux_on_generated_inputs() {
    let bin = oracle();
    let cases = usize::try_from(env_number("WEIR_ENVSUBST_CASES", CASES as u64)).unwrap_or(CASES);
    let mut rng = Rng(env_number("WEIR_ENVSUBST_SEED", 0x5eed_f1c5));
    let mut requests = Vec::with_capacity(cases);
    // Hand-picked forms first, then generated ones.
    let fixed = [
        "${CLAIM:-${APP}}",
        "${SECRET_DOMAIN/./-}",
        "${A:-${B:-${C}}}",
        "${U:=}",
        "${A:0:-100}",
        "${A:9223372036854775807:1}",
        "${A/\\//x}",
        "${A//}",
        "${A/a/}",
        "${A#}",
        "$$",
        "$${A}$$${A}",
        "${A:1:-1}",
    ];
    for t in fixed {
        let vars: BTreeMap<String, String> = [
            ("A", "Hello.World"),
            ("B", "b"),
            ("APP", "app"),
            ("SECRET_DOMAIN", "example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        requests.push(json!({"text": t, "vars": vars, "strict": true}));
    }
    while requests.len() < cases {
        let text = case(&mut rng);
        let vars = vars(&mut rng);
        let strict = rng.chance(80);
        requests.push(json!({"text": text, "vars": vars, "strict": strict}));
    }

    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oracle");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input: String = requests.iter().map(|r| format!("{r}\n")).collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write cases");
    });
    let answers: Vec<Value> = BufReader::new(child.stdout.take().expect("piped stdout"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("oracle line")).expect("oracle JSON"))
        .collect();
    writer.join().expect("writer thread");
    assert!(child.wait().expect("oracle exits").success());
    assert_eq!(answers.len(), requests.len(), "one answer per case");

    let mut failures = Vec::new();
    let (mut oks, mut errs) = (0, 0);
    for (req, answer) in requests.iter().zip(&answers) {
        let vars: BTreeMap<String, String> =
            serde_json::from_value(req["vars"].clone()).expect("vars");
        let got = weir(
            req["text"].as_str().expect("text"),
            &vars,
            req["strict"] == true,
        );
        if got.is_ok() {
            oks += 1;
        } else {
            errs += 1;
        }
        if let Some(f) = compare(req, answer, &got) {
            failures.push(f);
        }
    }
    // Both outcomes and every form must be well represented, or the generator has drifted.
    assert!(
        oks > CASES / 5 && errs > CASES / 10,
        "{oks} ok, {errs} errors"
    );
    for form in [
        ":-", ":=", ":+", "=", "${#", "//", "/#", "/%", "##", "%%", "^^", ",,", "$$", "::",
    ] {
        let n = requests
            .iter()
            .zip(&answers)
            .filter(|(r, a)| {
                a["ok"] == true && r["text"].as_str().is_some_and(|t| t.contains(form))
            })
            .count();
        assert!(n >= 50, "only {n} successful cases use {form:?}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Flux; first ones:\n{}",
        failures.len(),
        requests.len(),
        failures[..failures.len().min(15)].join("\n")
    );
}
