//! Mapping keys in go-yaml v2's order (its `keyList.Less`), which kustomize's output uses.
//!
//! The order is "natural": other characters sort before letters, and runs of digits compare by
//! their numeric value (`a2` before `a10`). go-yaml sorts Go's randomly ordered map keys with an
//! unstable sort, so keys its comparison cannot order consistently (digit runs with leading
//! zeros) may come out differently from run to run; here the keys are first put in byte order and
//! then merge-sorted stably, which is deterministic and never panics whatever the comparison says.

use std::cmp::Ordering;

/// go-yaml v2's `keyList.Less` for two string keys.
pub(crate) fn key_less(a: &str, b: &str) -> bool {
    let mut ai = a.char_indices().peekable();
    let mut bi = b.char_indices().peekable();
    loop {
        let (Some(&(apos, ac)), Some(&(bpos, bc))) = (ai.peek(), bi.peek()) else {
            return a.chars().count() < b.chars().count();
        };
        if ac == bc {
            ai.next();
            bi.next();
            continue;
        }
        let al = is_letter(ac);
        let bl = is_letter(bc);
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ac == '0' || bc == '0' {
            // A zero inside a number that already had a non-zero digit is an ordinary digit.
            let before = &a[..apos];
            for c in before.chars().rev() {
                if !is_digit(c) {
                    break;
                }
                if c != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let (a_digits, an) = digit_run(&a[apos..], an);
        let (b_digits, bn) = digit_run(&b[bpos..], bn);
        if an != bn {
            return an < bn;
        }
        if a_digits != b_digits {
            return a_digits < b_digits;
        }
        return ac < bc;
    }
}

/// Length (in characters) and wrapping value of the leading digit run, Go-style: a digit adds
/// its code point minus `'0'`, which is its value only for ASCII digits.
fn digit_run(s: &str, mut n: i64) -> (usize, i64) {
    let mut len = 0;
    for c in s.chars() {
        if !is_digit(c) {
            break;
        }
        n = n
            .wrapping_mul(10)
            .wrapping_add(i64::from(u32::from(c)) - i64::from(b'0'));
        len += 1;
    }
    (len, n)
}

/// Go's `unicode.IsLetter` (general category L). `char::is_alphabetic` also accepts letter
/// numbers (Nl, e.g. `Ⅻ`) and circled letters (So, `ⓐ`); those are removed. Combining marks that
/// are Alphabetic are still counted as letters here (Go does not).
fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    c.is_alphabetic() && !c.is_numeric() && !('\u{24B6}'..='\u{24E9}').contains(&c)
}

/// Go's `unicode.IsDigit` (general category Nd) for the Basic Multilingual Plane: the blocks of
/// ten decimal digits, by the code point of their zero.
fn is_digit(c: char) -> bool {
    const ZEROS: [u32; 37] = [
        0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
        0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
        0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
        0xFF10,
    ];
    let v = u32::from(c);
    ZEROS.iter().any(|&z| (z..z + 10).contains(&v))
}

/// Sorts entries by key into go-yaml v2's order, deterministically.
pub(crate) fn sort_entries<T: Copy>(entries: &mut [(&str, T)]) {
    if entries.windows(2).all(|w| !key_less(w[1].0, w[0].0)) {
        return; // Already in order: the common case for objects read from kustomize output.
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut buf = Vec::with_capacity(entries.len());
    merge_sort(entries, &mut buf);
}

/// Sorts keys into go-yaml v2's order, deterministically.
#[cfg(test)]
pub(crate) fn sort_keys(keys: &mut [&str]) {
    let mut entries: Vec<(&str, ())> = keys.iter().map(|k| (*k, ())).collect();
    sort_entries(&mut entries);
    for (slot, (k, ())) in keys.iter_mut().zip(entries) {
        *slot = k;
    }
}

/// Stable merge sort by `key_less` that tolerates an inconsistent comparison.
fn merge_sort<'a, T: Copy>(v: &mut [(&'a str, T)], buf: &mut Vec<(&'a str, T)>) {
    let n = v.len();
    if n <= 12 {
        // Insertion sort: stable, bounded, and fine for the usual Kubernetes map sizes.
        for i in 1..n {
            let mut j = i;
            while j > 0 && key_less(v[j].0, v[j - 1].0) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mid = n / 2;
    merge_sort(&mut v[..mid], buf);
    merge_sort(&mut v[mid..], buf);
    buf.clear();
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if key_less(v[j].0, v[i].0) {
            buf.push(v[j]);
            j += 1;
        } else {
            buf.push(v[i]);
            i += 1;
        }
    }
    buf.extend_from_slice(&v[i..mid]);
    buf.extend_from_slice(&v[j..n]);
    v.copy_from_slice(buf);
}

/// `Ordering` view of `key_less`, for tests and callers that want one.
#[allow(dead_code)]
pub(crate) fn key_cmp(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[&'static str]) -> Vec<&'static str> {
        let mut v = keys.to_vec();
        sort_keys(&mut v);
        v
    }

    #[test]
    fn natural_order_of_go_yaml_v2() {
        assert_eq!(
            sorted(&["kind", "apiVersion", "metadata", "data"]),
            ["apiVersion", "data", "kind", "metadata"]
        );
        assert_eq!(sorted(&["a10", "a9", "a1"]), ["a1", "a9", "a10"]);
        // Non-letters sort before letters, unlike byte order for `_` against `Z`.
        assert_eq!(sorted(&["aZ", "a_"]), ["a_", "aZ"]);
        assert_eq!(sorted(&["ab", "a-b", "a"]), ["a", "a-b", "ab"]);
        assert_eq!(sorted(&["a~", "ab"]), ["a~", "ab"]);
        assert_eq!(sorted(&["B", "a"]), ["B", "a"]);
        assert_eq!(sorted(&["x.y", "x"]), ["x", "x.y"]);
        assert_eq!(
            sorted(&["port2", "port10", "port"]),
            ["port", "port2", "port10"]
        );
        // Checked against kustomize v5.5: letter numbers and circled letters are not letters,
        // Arabic-Indic digits are digits (worth their code point minus '0').
        assert_eq!(sorted(&["Zⓐ", "ZⅫ", "Z0", "Zb"]), ["ZⅫ", "Zⓐ", "Z0", "Zb"]);
        assert_eq!(sorted(&["٣", "0", "9"]), ["0", "9", "٣"]);
    }
}
