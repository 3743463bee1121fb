//! Tests of the canonical formatter (`cep fmt`).

use cep_grammar::ast::Decl;
use cep_grammar::fmt::{format_file, format_source};
use cep_grammar::{parse, FileId};

const SKETCH: &str = include_str!("../../rules/language-sketch.cep");

/// Parses `src`, which must have no syntax errors.
fn parse_ok(src: &str) -> (Vec<Decl>, Vec<String>) {
    let p = parse(FileId(0), src);
    assert!(p.errors.is_empty(), "{:#?}\n--- in:\n{src}", p.errors);
    let comments = p.file.comments.iter().map(|c| c.text.clone()).collect();
    (p.file.decls, comments)
}

/// Formats `src` and checks the promises every formatting keeps: the
/// re-parsed tree is equal, the comments are the same in the same order,
/// formatting again changes nothing, and the basic layout rules hold.
/// Returns the formatted text.
fn check(src: &str) -> String {
    let (decls, comments) = parse_ok(src);
    let out = format_source(src).expect("parses");
    let (decls2, comments2) = parse_ok(&out);
    assert_eq!(
        decls, decls2,
        "meaning changed\n--- in:\n{src}\n--- out:\n{out}"
    );
    assert_eq!(
        comments, comments2,
        "comments changed\n--- in:\n{src}\n--- out:\n{out}"
    );
    let again = format_source(&out).expect("output parses");
    assert_eq!(out, again, "not idempotent\n--- in:\n{src}");
    check_layout(&out);
    out
}

/// Layout rules that hold for any output whose comments have no trailing
/// whitespace of their own.
fn check_layout(out: &str) {
    if out.is_empty() {
        return;
    }
    assert!(out.ends_with('\n') && !out.ends_with("\n\n"), "{out:?}");
    assert!(!out.starts_with('\n'), "{out:?}");
    assert!(!out.contains("\n\n\n"), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(!l.ends_with([' ', '\t']), "trailing whitespace: {l:?}");
        assert!(!l.contains('\t'), "tab: {l:?}");
        if l.is_empty() {
            let prev = lines.get(i.wrapping_sub(1)).copied().unwrap_or("");
            let next = lines.get(i + 1).copied().unwrap_or("");
            assert!(!prev.ends_with('{'), "blank line at body start:\n{out}");
            assert!(next.trim() != "}", "blank line at body end:\n{out}");
        }
    }
}

fn comments_of(src: &str) -> Vec<String> {
    parse_ok(src).1
}

// ---- the reference file ---------------------------------------------------------

#[test]
fn sketch_formats_to_itself_byte_for_byte() {
    let out = format_source(SKETCH).expect("the sketch parses");
    if out != SKETCH {
        // Show the first differing line, not two walls of text.
        for (i, (a, b)) in SKETCH.lines().zip(out.lines()).enumerate() {
            assert_eq!(a, b, "line {} differs", i + 1);
        }
    }
    assert_eq!(out, SKETCH);
}

#[test]
fn format_file_matches_format_source_on_the_sketch() {
    let p = parse(FileId(0), SKETCH);
    assert!(p.errors.is_empty());
    assert_eq!(format_file(SKETCH, &p.file), SKETCH);
    let p = parse(FileId(7), SKETCH);
    assert_eq!(format_file(SKETCH, &p.file), SKETCH);
}

#[test]
fn sketch_keeps_meaning_comments_and_is_idempotent() {
    let out = check(SKETCH);
    assert_eq!(comments_of(&out).len(), comments_of(SKETCH).len());
}

/// Where a `//` comment starts on a line of the sketch (not `//` in a URL).
fn comment_start(line: &str) -> Option<usize> {
    if line.trim_start().starts_with("//") {
        return line.find("//");
    }
    line.find(" //").map(|i| i + 1)
}

#[test]
fn sketch_with_every_line_left_aligned_comes_back() {
    // Strip all indentation and alignment and collapse runs of spaces in
    // code: the formatter must restore the reference layout, except for
    // trailing comments, which then sit two spaces after their code.
    let mut squashed = String::new();
    for line in SKETCH.lines() {
        let (code, comment) = match comment_start(line) {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let code: Vec<&str> = code.split_whitespace().collect();
        squashed.push_str(&code.join(" "));
        if !comment.is_empty() {
            if !code.is_empty() {
                squashed.push(' ');
            }
            squashed.push_str(comment);
        }
        squashed.push('\n');
    }
    let out = check(&squashed);
    let expected: Vec<String> = SKETCH
        .lines()
        .map(
            |l| match (comment_start(l), l.trim_start().starts_with("//")) {
                (Some(i), false) => format!("{}  {}", l[..i].trim_end(), &l[i..]),
                _ => l.to_string(),
            },
        )
        .collect();
    let expected = expected.join("\n") + "\n";
    assert_eq!(out, expected);
}

// ---- layout of each construct, exact output ---------------------------------------

#[test]
fn events_align_in_runs_and_wrap_when_long() {
    let src = "event   Temperature{sensor:str,celsius:float,at:time}
event Humidity {sensor: str, percent: float,}
   event DoorOpened { sensor: str,
      door: str }

event Lonely { a: int }
event A { a: int }
// a comment ends a run
event Bb { b: int }
event Empty {}
event VeryLongEventName { first_field: str, second_field: float, third: time, fourth: int }
event Short { a: int }
";
    let expected = "event Temperature { sensor: str, celsius: float, at: time }
event Humidity    { sensor: str, percent: float }
event DoorOpened  { sensor: str, door: str }

event Lonely { a: int }
event A      { a: int }
// a comment ends a run
event Bb    { b: int }
event Empty {}
event VeryLongEventName {
    first_field: str,
    second_field: float,
    third: time,
    fourth: int,
}
event Short { a: int }
";
    assert_eq!(check(src), expected);
}

#[test]
fn everything_on_one_line() {
    let src = "event T { s: str, c: float } pattern P partition by s within 1m { a: T where c > 1 \
               next b: T+ where c > a.c not T within 5s emit { s: a.s } } resource pump capacity 2 \
               step go { on P after 30s acquire pump 1 run \"x.sh\" args [a, 1] with { S: P.s } \
               timeout 60s retry 3 backoff 2s on success emit Done { s: P.s } \
               recover { ready: rerun, success: skip } } \
               process C by id { activities A, B pending A A -->* B B *--> A }";
    let expected = r#"event T { s: str, c: float }
pattern P partition by s within 1m {
    a: T where c > 1
    next b: T+ where c > a.c
    not T within 5s
    emit { s: a.s }
}
resource pump capacity 2
step go {
    on P
    after 30s
    acquire pump 1
    run "x.sh" args [a, 1] with { S: P.s }
    timeout 60s
    retry 3 backoff 2s
    on success emit Done { s: P.s }
    recover { ready: rerun, success: skip }
}
process C by id {
    activities A, B
    pending A
    A -->*  B
    B *-->  A
}
"#;
    assert_eq!(check(src), expected);
}

#[test]
fn blank_lines_collapse_and_never_open_or_close_a_body() {
    let src = "


event A { a: int }



event B { b: int }
pattern P {

    a: A


    then b: B

}


step s {


    on P



    emit Done

}


";
    let expected = "event A { a: int }

event B { b: int }
pattern P {
    a: A

    then b: B
}

step s {
    on P

    emit Done
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn pattern_headers_one_line_up_to_two_clauses() {
    let src = "pattern A { a: T }
pattern B partition by x, y { a: T }
pattern C within 1m skip to next { a: T }
pattern D partition by k within 10m skip past last { a: T }
pattern E skip to next partition by k within 1h { a: T }
pattern Long partition by first_key, second_key, third_key, fourth_key within 10m { a: T }
";
    let expected = "pattern A {
    a: T
}
pattern B partition by x, y {
    a: T
}
pattern C within 1m skip to next {
    a: T
}
pattern D
    partition by k
    within 10m
    skip past last
{
    a: T
}
pattern E
    skip to next
    partition by k
    within 1h
{
    a: T
}
pattern Long
    partition by first_key, second_key, third_key, fourth_key
    within 10m
{
    a: T
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn pattern_items_and_quantifiers() {
    let src = "pattern P {
  a : T
  next   b:T *   where x
  then c: T ?
  then any d: T {2}
  then e: T{ 2 , }
  then f: T{2,5} where f.x>prev.x
  then T+
  not U where u == 1 within 30s
  halt on V where v < 0
  emit {   }
}
";
    let expected = "pattern P {
    a: T
    next b: T* where x
    then c: T?
    then any d: T{2}
    then e: T{2,}
    then f: T{2,5} where f.x > prev.x
    then T+
    not U where u == 1 within 30s
    halt on V where v < 0
    emit {}
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn long_records_fill_greedily() {
    let src = "pattern Rising partition by sensor within 1m {
    first: Temperature
    emit { sensor: first.sensor, gain: last(ups.celsius) - first.celsius, mean: avg(ups.celsius), n: count(ups) }
}
step s {
    on Rising
    emit Report { sensor: Rising.sensor, gain: Rising.gain, mean: Rising.mean, count: Rising.n, x: 1 }
    post \"http://example.com/a/very/long/url/that/takes/room\" body { text: \"a long text that cannot share the line\", n: 1 }
    on failure emit F { one_field_that_is_much_too_long_to_fit: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" }
    recover { ready: rerun, active: rerun, failure: rerun, success: skip, complete: skip }
}
";
    let expected = r#"pattern Rising partition by sensor within 1m {
    first: Temperature
    emit { sensor: first.sensor, gain: last(ups.celsius) - first.celsius,
           mean: avg(ups.celsius), n: count(ups) }
}
step s {
    on Rising
    emit Report { sensor: Rising.sensor, gain: Rising.gain, mean: Rising.mean,
                  count: Rising.n, x: 1 }
    post "http://example.com/a/very/long/url/that/takes/room" body { text: "a long text that cannot share the line",
                                                                     n: 1 }
    on failure emit F { one_field_that_is_much_too_long_to_fit: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }
    recover { ready: rerun, active: rerun, failure: rerun, success: skip,
              complete: skip }
}
"#;
    assert_eq!(check(src), expected);
}

#[test]
fn comments_in_odd_places_are_kept_in_order() {
    let src = "// head

event A { a: int, // after a
  b: str }
event B { x: int } // far away trailing comment
event CC { y: int }   // close one
pattern P // after the name
{
    // first in body
    a: A where a > // inside an expression
        1

    emit { s: a.a, // between fields
        t: 2 // after the last field
    }


    // before the close

}
step s { // after the brace
    on A
    run \"x\" with { K: 1,
        // own line inside a record
        L: 2 }
}
// end one

// end two";
    let expected = "// head

event A {
    a: int,       // after a
    b: str,
}
event B  { x: int }  // far away trailing comment
event CC { y: int }   // close one
pattern P {  // after the name
    // first in body
    // inside an expression
    a: A where a > 1

    emit { s: a.a,  // between fields
           t: 2 }  // after the last field

    // before the close
}
step s {  // after the brace
    on A
    run \"x\" with { K: 1,
                   // own line inside a record
                   L: 2 }
}
// end one

// end two
";
    assert_eq!(check(src), expected);
}

#[test]
fn comments_inside_code_go_on_their_own_line_before_it() {
    let src = "pattern P { a: T where x > // in the predicate
        1 emit { // before the first field
        a: x + // in the first field
        1, b: 2 + // in the second field
        3 } }
step s { on A // in the trigger
    or B }
process P by k { A // in a relation
    -->* B }
";
    let expected = "pattern P {
    // in the predicate
    a: T where x > 1
    // before the first field
    // in the first field
    emit { a: x + 1,
           // in the second field
           b: 2 + 3 }
}
step s {
    // in the trigger
    on A or B
}
process P by k {
    // in a relation
    A -->*  B
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn trailing_comments_keep_their_column_when_there_is_room() {
    let src = "step cool {
    on Heatwave
    after    30s                                       // delayed start
    acquire   pump   1                                 // released when the step ends
    run \"scripts/cool.sh\" with {SENSOR:Heatwave.sensor} // argv and env
}
";
    let expected = "step cool {
    on Heatwave
    after 30s                                          // delayed start
    acquire pump 1                                     // released when the step ends
    run \"scripts/cool.sh\" with { SENSOR: Heatwave.sensor }  // argv and env
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn expressions_print_as_parsed() {
    let src = r#"pattern P {
    a: T where ((x+1)*2 >= -y.z) and not(a or b)or c%2!=0
    then b: T where s contains "x" and s starts_with "a\"b" or s ends_with "\\\n\t\r"
    emit { f: 1.0e20, g: 0.1, h: 100000000000000000000.0, i: 1.5E+3, j: 2.50, k: 10ms,
           l: - - 3, m: not not true, n: 5 .x, o: f( ), p: g(a,b.c,(d)), q: false }
}
"#;
    let expected = r#"pattern P {
    a: T where ((x + 1) * 2 >= -y.z) and not (a or b) or c % 2 != 0
    then b: T where s contains "x" and s starts_with "a\"b" or s ends_with "\\\n\t\r"
    emit { f: 1.0e20, g: 0.1, h: 1.0e20, i: 1500.0, j: 2.5, k: 10ms, l: --3,
           m: not not true, n: 5 .x, o: f(), p: g(a, b.c, (d)), q: false }
}
"#;
    assert_eq!(check(src), expected);
}

#[test]
fn odd_inputs_keep_meaning_comments_and_are_idempotent() {
    let cases = [
        "pattern P { a: T where x > // c\n 1 emit { a: 1 // c2\n , b: 2 } }",
        "pattern P { a: T emit { // first\n a: x + // in first\n 1, b: 2 // c\n } }",
        "pattern P { a: T emit { a: 1, b: 2 + // in second\n 3, c: 4 } }",
        "step s { on A // c\n or B\n run \"x\" args [a, // c\n b] with { K: // c\n 1 } }",
        "event // c\n A { a: int }\nevent B { b: int }",
        "event A // c\n { a: int }",
        "pattern P partition by a, // c\n b within 1m { a: T }",
        "pattern P within 1m\n// before brace\n{ a: T }",
        "pattern P partition by a within 1m skip to next // c\n { a: T }",
        "process P by k { A // c\n -->* B\n C -->% D }",
        "resource r // c\n capacity 2",
        "pattern P { a: T where ((((x)))) and (-(-(y))) or not (not z) }",
        "step s { on A run \"a//b\" with { K: \"// not a comment\" } // real\n }",
        "pattern P { a: T emit { s: \"h\u{e9}llo w\u{f6}rld\", t: 1 }    // \u{fc}n\u{ef}code\n }",
        "pattern P { a: T where 5 .x > 1 and (5).y < 2.5.z }",
        "event A { a: int }\n\n\n// c\n\n\n\nevent B { b: int }\n\n// end\n\n",
        "step s {\n  on A\n\n  // c\n\n}\n",
        "pattern P {\n  a: T\n  emit { a: 1, b: 2,\n    // before close of record\n  }\n}\n",
        "step s { on A emit E { a: 1,\n b: 2\n } // after brace\n }",
    ];
    for src in cases {
        check(src);
    }
}

#[test]
fn floats_round_trip_exactly() {
    for v in [
        "0.1",
        "1.0e20",
        "1.0e-7",
        "123456789.123456789",
        "0.0",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "3.0e16",
        "4.0e15",
        "1.0E+300",
    ] {
        let src = format!("pattern P {{ a: T where x == {v} }}\n");
        check(&src);
    }
}

#[test]
fn triggers_get_parentheses_only_where_needed() {
    let src = "step s {
    on (A or B) and C
    on A and (B and C)
    on ((A))
    on A or (B or C and (D or E))
    on (A and B) or C
}
";
    let expected = "step s {
    on (A or B) and C
    on A and B and C
    on A
    on A or B or C and (D or E)
    on A and B or C
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn processes_align_relation_runs() {
    let src = "process Claim by claim_id {
  activities Submit,Review ,Approve
  pending Submit, Review
  excluded Approve
  executed Submit
  Submit -->* Review
  Review    *--> Approve
  Approve-->%Review

  LongName  -->+  A
  B --<> LongName
  // a comment ends a run
  Approve -->* B
}
";
    let expected = "process Claim by claim_id {
    activities Submit, Review, Approve
    pending Submit, Review
    excluded Approve
    executed Submit
    Submit  -->*  Review
    Review  *-->  Approve
    Approve -->%  Review

    LongName -->+  A
    B        --<>  LongName
    // a comment ends a run
    Approve -->*  B
}
";
    assert_eq!(check(src), expected);
}

/// `idle` stays where it was written, with its unit, one per line; it
/// ends a run of aligned relations like any other item.
#[test]
fn process_idle_keeps_its_place_and_unit() {
    let src = "process Claim by claim_id { idle   720h activities Submit,Review
  Submit -->* Review
  idle 90m   // quiet for an hour and a half
  LongName *--> Review
}
process Job by id { activities Start idle 1ms }
";
    let expected = "process Claim by claim_id {
    idle 720h
    activities Submit, Review
    Submit -->*  Review
    idle 90m  // quiet for an hour and a half
    LongName *-->  Review
}
process Job by id {
    activities Start
    idle 1ms
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn empty_bodies_and_empty_records() {
    let src = "step s { on A post \"u\" body { } run \"p\" args [ ] with { } emit Done { } }
pattern P { a: T emit { } }
event E { }
event F { // inside an empty event
}
step t { }
";
    let expected = "step s {
    on A
    post \"u\"
    run \"p\"
    emit Done
}
pattern P {
    a: T
    emit {}
}
event E {}
event F {  // inside an empty event
}
step t {
}
";
    assert_eq!(check(src), expected);
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(check(""), "");
    assert_eq!(check("\n\n   \n\t\n"), "");
    assert_eq!(
        check("\n\n  // one\n\n\n//two\n   // three\n\n"),
        "// one\n\n//two\n// three\n"
    );
    assert_eq!(
        check("// no newline at the end"),
        "// no newline at the end\n"
    );
}

#[test]
fn crlf_and_tabs_are_normalised() {
    let src = "event A { a: int }\r\n// crlf comment\r\n\r\n\r\nevent\tB\t{ b: int }\t// tab\r\n";
    assert_eq!(
        check(src),
        "event A { a: int }\n// crlf comment\n\nevent B { b: int }  // tab\n"
    );
}

#[test]
fn syntax_errors_are_returned_not_formatted() {
    let errs = format_source("event A { a int }\n").expect_err("a syntax error");
    assert!(!errs.is_empty());
    assert!(errs.iter().all(|d| d.code == cep_grammar::Code::Syntax));
}

// ---- property test: mutations of the sketch --------------------------------------

/// xorshift64: small, deterministic, good enough to shuffle text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Byte positions between two tokens (or at whitespace) that are not inside
/// a string or a comment.
fn token_boundaries(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut in_str, mut in_comment) = (false, false);
    for i in 0..b.len() {
        let c = b[i];
        if in_comment {
            if c == b'\n' {
                in_comment = false;
                out.push(i);
            }
            continue;
        }
        if in_str {
            if c == b'\\' {
                continue;
            }
            if c == b'"' && b[i - 1] != b'\\' {
                in_str = false;
            }
            continue;
        }
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if c.is_ascii_whitespace() || word(c) != word(prev) || !word(c) {
            out.push(i);
        }
        if c == b'"' {
            in_str = true;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            in_comment = true;
        }
    }
    out
}

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    let mut text = String::new();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let n = lines.len().max(1);
        match rng.below(7) {
            0 if !lines.is_empty() => {
                lines.remove(rng.below(n));
            }
            1 if !lines.is_empty() => {
                let i = rng.below(n);
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 if lines.len() > 1 => {
                let (i, j) = (rng.below(n), rng.below(n));
                lines.swap(i, j);
            }
            3 if lines.len() > 1 => {
                let i = rng.below(n - 1);
                let next = lines.remove(i + 1);
                let sep = rng.pick(&[" ", "", "\t"]);
                lines[i] = format!("{}{sep}{}", lines[i], next.trim_start());
            }
            _ => {
                // Whitespace, newlines or a comment between two tokens.
                let joined = lines.join("\n");
                let spots = token_boundaries(&joined);
                if spots.is_empty() {
                    continue;
                }
                let at = spots[rng.below(spots.len())];
                let what = rng.pick(&[
                    " ",
                    "  ",
                    "\n",
                    "\n\n",
                    "\n\n\n",
                    "\t",
                    " \n    ",
                    "// odd\n",
                    " // x\n",
                    "\n// own line\n",
                ]);
                let mut s = joined;
                s.insert_str(at, what);
                lines = s.lines().map(str::to_string).collect();
            }
        }
    }
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

/// The sketch cut at its blank lines: groups of declarations with their
/// comments, each of which parses on its own.
fn sketch_groups() -> Vec<String> {
    SKETCH
        .split("\n\n")
        .map(|g| format!("{}\n", g.trim_end()))
        .collect()
}

#[test]
fn sketch_groups_parse_on_their_own() {
    let groups = sketch_groups();
    assert!(groups.len() > 10);
    for g in &groups {
        parse_ok(g);
    }
    assert_eq!(groups.concat().len() + groups.len() - 1, SKETCH.len());
}

#[test]
fn mutated_sketches_keep_meaning_comments_and_are_idempotent() {
    // Every eighth case mutates the whole sketch; the others mutate a run
    // of one to three of its groups, which keeps the run fast in debug
    // builds (parsing dominates).
    let groups = sketch_groups();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut tried, mut formatted) = (0, 0);
    for case in 0..2000 {
        let base = if case % 8 == 0 {
            SKETCH.to_string()
        } else {
            let start = rng.below(groups.len());
            let len = 1 + rng.below(3);
            let end = (start + len).min(groups.len());
            groups[start..end].join("\n")
        };
        let src = mutate(&mut rng, &base);
        tried += 1;
        let p = parse(FileId(0), &src);
        if !p.errors.is_empty() {
            continue;
        }
        formatted += 1;
        let out = format_file(&src, &p.file);
        let p2 = parse(FileId(0), &out);
        assert!(
            p2.errors.is_empty(),
            "{:?}\n--- in:\n{src}\n--- out:\n{out}",
            p2.errors
        );
        assert_eq!(
            p.file.decls, p2.file.decls,
            "meaning changed\n--- in:\n{src}\n--- out:\n{out}"
        );
        let texts = |f: &cep_grammar::ast::File| -> Vec<String> {
            f.comments.iter().map(|c| c.text.clone()).collect()
        };
        assert_eq!(
            texts(&p.file),
            texts(&p2.file),
            "comments\n--- in:\n{src}\n--- out:\n{out}"
        );
        let again = format_file(&out, &p2.file);
        assert_eq!(out, again, "not idempotent\n--- in:\n{src}");
    }
    assert_eq!(tried, 2000);
    // The mutations are mild enough that most inputs still parse; if this
    // drops, the test no longer tests much.
    assert!(
        formatted > 600,
        "only {formatted} of {tried} mutants parsed"
    );
}

/// A byte order mark at the start is kept: a formatted file with one is
/// left as it is (so `cep fmt --check` passes), and formatting an
/// unformatted one keeps the mark and formats the rest as without it.
#[test]
fn keeps_a_byte_order_mark() {
    let body = "event Temperature { sensor: str, celsius: float, at: time }\n";
    let with_bom = format!("\u{feff}{body}");
    assert_eq!(format_source(body).expect("parses"), body);
    assert_eq!(format_source(&with_bom).expect("parses"), with_bom);

    let messy = "\u{feff}// heat\nevent   Temperature {sensor:str,celsius:float,at:time}\n";
    let out = format_source(messy).expect("parses");
    assert!(out.starts_with('\u{feff}'), "{out:?}");
    assert_eq!(out.as_bytes()[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(
        out,
        format!(
            "\u{feff}{}",
            format_source(messy.trim_start_matches('\u{feff}')).expect("parses")
        )
    );
    assert_eq!(format_source(&out).expect("parses"), out);
}

/// Spans of a file with a byte order mark point past the mark: an error
/// in the first line is where the author sees it.
#[test]
fn byte_order_mark_spans() {
    let src = "\u{feff}event T { a: int; }\n";
    let errors = format_source(src).expect_err("`;` is an error");
    let mut sources = cep_grammar::SourceMap::new();
    let id = sources.add("t.cep", src);
    let file = sources.get(id).expect("file");
    let at = file.line_col(errors[0].span().start as usize);
    assert_eq!((at.line, at.column), (1, 17));
    assert_eq!(&file.text[errors[0].span().range()], ";");
}

/// The least int is written with a `-` before digits that alone would not
/// fit, and formats back to itself.
#[test]
fn least_int() {
    let src =
        "pattern P within 1m {\n    c: C where n > -9223372036854775808\n    emit { n: c.n }\n}\n";
    assert_eq!(check(src), src);
}
