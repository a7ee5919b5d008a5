//! "Did you mean …?": the one edit-distance helper every crate uses to suggest a close name.

/// Levenshtein distance between two strings, counted in `char`s.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidates within `max_distance` edits of `wanted`, closest first (ties in the order given),
/// the exact match excluded. Case is ignored when `ignore_case` (a kind typed in lower case still
/// finds its served spelling).
pub fn similar<'a, I>(
    wanted: &str,
    candidates: I,
    max_distance: usize,
    ignore_case: bool,
) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let norm = |s: &str| {
        if ignore_case {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let w = norm(wanted);
    let mut scored: Vec<(usize, usize, &'a str)> = candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (edit_distance(&norm(c), &w), c))
        .filter(|(d, _)| *d <= max_distance)
        .enumerate()
        .map(|(i, (d, c))| (d, i, c))
        .collect();
    scored.sort();
    let mut out: Vec<&str> = Vec::with_capacity(scored.len());
    for (_, _, c) in scored {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `" (did you mean x?)"` for the closest candidate within `max_distance` edits, else `""`: ready to
/// append to an error message.
pub fn did_you_mean<'a, I>(wanted: &str, candidates: I, max_distance: usize) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match similar(wanted, candidates, max_distance, false).first() {
        Some(best) => format!(" (did you mean {best}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("flux-system", "flux-sytem"), 1);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn closest_first_exact_excluded() {
        let c = ["infra", "infra-configs", "infra-config", "apps"];
        assert_eq!(
            similar("infra-confgs", c, 2, false),
            vec!["infra-configs", "infra-config"]
        );
        assert!(similar("apps", ["apps"], 3, false).is_empty());
    }

    #[test]
    fn case_insensitive_kinds() {
        let kinds = ["Deployment", "DaemonSet"];
        assert_eq!(similar("deployment", kinds, 2, true), vec!["Deployment"]);
        assert!(similar("deployment", kinds, 0, false).is_empty());
    }

    #[test]
    fn suffix() {
        assert_eq!(
            did_you_mean("flux-system/infra-confgs", ["flux-system/infra-configs"], 3),
            " (did you mean flux-system/infra-configs?)"
        );
        assert_eq!(did_you_mean("x", ["completely-different"], 3), "");
    }
}
