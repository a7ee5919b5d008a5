//! Property-based harnesses (stable toolchain, bounded): the archive reader and the Git pkt-line
//! reader on arbitrary input. `PROPTEST_CASES=100000 cargo test -p weir-source proptests` runs long.

use std::io::Read;

use proptest::prelude::*;
use weir_source::extract::{self, Limits};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
struct RawEntry {
    kind: u8,
    path: String,
    link: String,
    data: Vec<u8>,
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("".to_owned()),
            Just("/".to_owned()),
            "[a-c]{1,3}",
        ],
        1..5,
    )
    .prop_map(|parts| parts.join("/"))
    .prop_filter("fits a v7 header", |p| p.len() < 90)
}

fn entry_strategy() -> impl Strategy<Value = RawEntry> {
    (
        prop::sample::select(vec![b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'x']),
        path_strategy(),
        path_strategy(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(kind, path, link, data)| RawEntry {
            kind,
            path,
            link,
            data,
        })
}

/// A tar.gz with raw headers: names are written byte for byte (no `..` filtering by the builder).
fn archive(entries: &[RawEntry]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for e in entries {
        let mut h = tar::Header::new_old();
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        let name = &mut h.as_old_mut().name;
        name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        let link = &mut h.as_old_mut().linkname;
        link[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_cksum();
        b.append(&h, e.data.as_slice()).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

/// Every path under `root`, relative, with symlinks not followed.
fn listing(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).expect("inside").display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the entries (`..`, absolute paths, links out, devices, writes through links), the
    /// reader never panics and nothing lands outside the destination.
    #[test]
    fn archive_reader_should_never_write_outside_the_destination(entries in prop::collection::vec(entry_strategy(), 0..8)) {
        let bytes = archive(&entries);
        let sandbox = tempfile::tempdir().expect("tempdir");
        let dest = sandbox.path().join("out");
        let limits = Limits { max_bytes: 256, max_entries: 6 };
        if let Ok(total) = extract::extract(bytes.as_slice(), &dest, limits) {
            prop_assert!(total <= 256);
        }
        let top = listing(sandbox.path());
        prop_assert!(top.iter().all(|p| p == "out" || p.starts_with("out/")), "{top:?}");
        // No link in the destination resolves outside it.
        for p in listing(&dest) {
            if let Ok(real) = std::fs::canonicalize(dest.join(&p)) {
                let root = std::fs::canonicalize(&dest).expect("dest");
                prop_assert!(real.starts_with(&root), "{p} -> {}", real.display());
            }
        }
    }

    /// Arbitrary bytes (and truncated or mutated archives) are an error or a bounded extraction.
    #[test]
    fn archive_reader_should_survive_arbitrary_bytes(
        entries in prop::collection::vec(entry_strategy(), 0..4),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        junk in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = archive(&entries);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        for input in [bytes, junk] {
            let sandbox = tempfile::tempdir().expect("tempdir");
            let limits = Limits { max_bytes: 1024, max_entries: 8 };
            let _ = extract::extract(input.as_slice(), &sandbox.path().join("out"), limits);
        }
    }
}

use weir_source_pktline::*;

/// The pkt-line reader gix uses for every reply weir reads (through weir's byte-limited bodies).
mod weir_source_pktline {
    pub use gix_transport::packetline::{
        PacketLineRef,
        blocking_io::StreamingPeekableIter,
        decode::{self, Stream},
    };
}

fn encode(line: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", line.len() + 4).into_bytes();
    out.extend_from_slice(line);
    out
}

proptest! {
    #![proptest_config(config())]

    /// Random lines round-trip through the reader up to the flush packet.
    #[test]
    fn pktline_reader_should_round_trip_lines(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..20)) {
        let mut wire = Vec::new();
        for l in &lines {
            wire.extend(encode(l));
        }
        wire.extend(b"0000");
        let mut reader = StreamingPeekableIter::new(wire.as_slice(), &[PacketLineRef::Flush], false);
        let mut got = Vec::new();
        while let Some(line) = reader.read_line() {
            let line = line.expect("io").expect("decodes");
            got.push(line.as_slice().expect("data").to_vec());
        }
        prop_assert_eq!(got, lines);
    }

    /// Arbitrary bytes never panic the decoder, and it never claims more bytes than it was given.
    #[test]
    fn pktline_decoder_should_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Stream::Complete { bytes_consumed, .. }) = decode::streaming(&bytes) {
            prop_assert!(bytes_consumed <= bytes.len());
        }
        let mut reader = StreamingPeekableIter::new(bytes.as_slice(), &[PacketLineRef::Flush], false);
        let mut total = 0usize;
        for _ in 0..4096 {
            match reader.read_line() {
                Some(Ok(Ok(line))) => total += line.as_slice().map_or(0, <[u8]>::len),
                _ => break,
            }
        }
        prop_assert!(total <= bytes.len());
        let mut rest = Vec::new();
        let _ = reader.into_inner().read_to_end(&mut rest);
    }
}
