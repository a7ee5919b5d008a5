//! Input YAML and what `kustomize build` prints for it, for rules the corpus touches lightly.
//! Expected texts follow go-yaml v2's encoder and emitter (what kustomize writes with).

fn rewrite(src: &str) -> String {
    let docs = weir_yaml::from_str(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    weir_yaml::to_string_multi(&docs)
}

fn check(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        assert_eq!(rewrite(src), *want, "input:\n{src}");
    }
}

#[test]
fn keys_sort_naturally_and_quote_like_values() {
    check(&[(
        "b10: x\nb9: y\nB: z\n_a: w\n\"1\": one\n\"yes\": a\n",
        "_a: w\n\"1\": one\nB: z\nb9: \"y\"\nb10: x\n\"yes\": a\n",
    )]);
}

#[test]
fn indicator_characters_force_single_quotes() {
    check(&[
        ("v: '*x'", "v: '*x'\n"),
        ("v: '&x'", "v: '&x'\n"),
        ("v: '!x'", "v: '!x'\n"),
        ("v: '%x'", "v: '%x'\n"),
        ("v: '@x'", "v: '@x'\n"),
        ("v: '`x'", "v: '`x'\n"),
        ("v: '[x'", "v: '[x'\n"),
        ("v: '{x'", "v: '{x'\n"),
        ("v: '|x'", "v: '|x'\n"),
        ("v: '>x'", "v: '>x'\n"),
        ("v: \"'x\"", "v: '''x'\n"),
        ("v: '\"x'", "v: '\"x'\n"),
        ("v: '#x'", "v: '#x'\n"),
        ("v: ',x'", "v: ',x'\n"),
        ("v: '- x'", "v: '- x'\n"),
        ("v: -x", "v: -x\n"),
        ("v: ':x'", "v: :x\n"),
        ("v: '? x'", "v: '? x'\n"),
        ("v: 'x:'", "v: 'x:'\n"),
        ("v: 'x: y'", "v: 'x: y'\n"),
        ("v: 'x #y'", "v: 'x #y'\n"),
        ("v: x#y", "v: x#y\n"),
        ("v: ' x'", "v: ' x'\n"),
        ("v: 'x '", "v: 'x '\n"),
        ("v: '---'", "v: '---'\n"),
    ]);
}

#[test]
fn yaml_1_1_words_and_numbers_are_double_quoted() {
    check(&[
        (
            "a: 'y'\nb: 'N'\nc: 'off'\nd: '~'\ne: ''\nf: '0x1F'\ng: '1_000'\nh: '1:20'\ni: '.5'\n",
            "a: \"y\"\nb: \"N\"\nc: \"off\"\nd: \"~\"\ne: \"\"\nf: \"0x1F\"\ng: \"1_000\"\nh: \"1:20\"\n\
             i: \".5\"\n",
        ),
        (
            "a: '2024-01-02'\nb: 2024-01-02x",
            "a: \"2024-01-02\"\nb: 2024-01-02x\n",
        ),
        ("a: '<<'", "a: <<\n"),
    ]);
}

#[test]
fn numbers_come_back_through_json() {
    check(&[(
        "a: 1e3\nb: 1.5e6\nc: 0.000001\nd: 123456789012345678901234\ne: 18446744073709551615\n\
         f: 1.0\ng: -0.0\nh: 0.1\ni: 1234567.5\nj: 0o17\nk: +5\n",
        "a: 1000\nb: 1500000\nc: 1e-06\nd: 1.2345678901234569e+23\ne: 18446744073709551615\nf: 1\n\
         g: 0\nh: 0.1\ni: 1.2345675e+06\nj: 15\nk: 5\n",
    )]);
}

#[test]
fn big_numbers_as_kustomize_v5_5_prints_them() {
    // Verified against kustomize v5.5's libraries (api v0.18.0, kyaml v0.18.1).
    check(&[(
        "a: -9223372036854775809\nb: 9223372036854775808\nc: 18446744073709551616\n\
         d: 0xFFFFFFFFFFFFFFFFFF\ne: 9223372036854775807\n",
        "a: -9.223372036854776e+18\nb: 9223372036854775808\nc: 1.8446744073709552e+19\n\
         d: 0xFFFFFFFFFFFFFFFFFF\ne: 9223372036854775807\n",
    )]);
}

#[test]
fn folded_scalars_go_through_kustomize_s_write_and_read() {
    // Verified against kustomize v5.5: a more-indented line gains an empty line before it.
    check(&[
        ("f: >-\n  x\n   more\n  y\n", "f: |-\n  x\n\n   more\n  y\n"),
        (
            "f: >\n  folded\n  text\n\n  para\n",
            "f: |\n  folded text\n  para\n",
        ),
    ]);
}

#[test]
fn keys_kustomize_reads_specially() {
    check(&[
        // A quoted "<<" is cleared by kustomize's reader; an explicit empty key becomes "".
        ("'<<': x\nk: v\n", "k: v\n"),
        ("s:\n- ?\n", "s:\n- \"\": null\n"),
    ]);
}

#[test]
fn multi_line_strings_pick_a_block_or_quotes() {
    check(&[
        ("v: \"a\\nb\\n\"", "v: |\n  a\n  b\n"),
        ("v: \"a\\nb\"", "v: |-\n  a\n  b\n"),
        ("v: \"a\\n\\n\"\nw: 1", "v: |+\n  a\n\nw: 1\n"),
        ("v: \" a\\nb\\n\"", "v: |2\n   a\n  b\n"),
        ("v: \" a\\nb\"", "v: |2-\n   a\n  b\n"),
        ("v: \"a \\nb\"", "v: \"a \\nb\"\n"),
        ("v: \"a\\tb\\nc\"", "v: \"a\\tb\\nc\"\n"),
        ("v: \"a\\nb \"", "v: \"a\\nb \"\n"),
        ("v: \"a\\r\\nb\"", "v: \"a\\r\\nb\"\n"),
        ("v: >\n  folded\n  text\n", "v: |\n  folded text\n"),
        ("- \"a\\nb\\n\"\n- x", "- |\n  a\n  b\n- x\n"),
        ("k:\n- \"a\\nb\"", "k:\n- |-\n  a\n  b\n"),
    ]);
}

#[test]
fn unicode_is_kept_except_outside_the_bmp_and_unprintables() {
    check(&[
        ("v: café", "v: café\n"),
        ("v: \"\\U0001F680 go\"", "v: \"\\U0001F680 go\"\n"),
        // go-yaml v2 escapes every character of a value that starts with a BOM.
        ("v: \"\\uFEFFx\"", "v: \"\\uFEFF\\x78\"\n"),
        // NEL leaves Go's JSON encoder raw and YAML 1.1 folds it like a line break.
        ("v: \"a\\x85b\"", "v: a b\n"),
        ("v: \"\\x85\"", "v: ' '\n"),
        ("v: \"\\x01\"", "v: \"\\x01\"\n"),
        ("\"\\U0001F680\": 1", "\"\\U0001F680\": 1\n"),
    ]);
}

#[test]
fn strings_kustomize_cannot_print_are_refused() {
    // Go's JSON encoder leaves DEL and C1 controls raw and go-yaml refuses to read them back.
    for src in ["v: \"\\x7F\"", "v: \"a\\x9Bb\"", "\"\\uFFFE\": 1"] {
        let err = weir_yaml::from_str(src).expect_err(src);
        assert!(err.message.contains("control characters"), "{err}");
    }
}

#[test]
fn long_strings_fold_after_column_80() {
    let sentence = "A fairly long sentence that is deliberately longer than eighty characters so it \
                    must wrap.";
    check(&[
        (
            &format!("items:\n- {sentence}\n"),
            "items:\n- A fairly long sentence that is deliberately longer than eighty characters so \
             it\n  must wrap.\n",
        ),
        (
            &format!("a:\n  b:\n    c: {sentence}\n"),
            "a:\n  b:\n    c: A fairly long sentence that is deliberately longer than eighty \
             characters so\n      it must wrap.\n",
        ),
        (
            // Double-quoted (a tab inside): folds too, and a space after the fold is escaped.
            "k: \"\\tx aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  b\"",
            "k: \"\\tx aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  \\ b\"\n",
        ),
        (
            // No space to break at: the line stays long.
            &format!("k: {}\n", "x".repeat(100)),
            &format!("k: {}\n", "x".repeat(100)),
        ),
    ]);
}

#[test]
fn layout_of_collections() {
    check(&[
        (
            "a: {}\nb: []\nc: [[1, 2], []]\n",
            "a: {}\nb: []\nc:\n- - 1\n  - 2\n- []\n",
        ),
        ("- a: 1\n  b: [x]\n- {}\n", "- a: 1\n  b:\n  - x\n- {}\n"),
        ("k: [~, null, ]\n", "k:\n- null\n- null\n"),
        (
            &format!("{}: v\n", "k".repeat(130)),
            &format!("? {}\n: v\n", "k".repeat(130)),
        ),
    ]);
}

#[test]
fn documents_are_joined_like_kustomize_build() {
    check(&[
        ("a: 1\n---\nb: 2\n", "a: 1\n---\nb: 2\n"),
        ("# nothing\n", ""),
    ]);
}
