//! Tests of input decoding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::time::*;

use super::*;
use cep_ir::{EventType, Field, FORMAT_VERSION};

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
        optional: false,
    }
}

pub(crate) fn program() -> Program {
    Program {
        format_version: FORMAT_VERSION,
        source_hash: "fnv1a64:0".into(),
        sources: vec![],
        events: vec![
            EventType {
                name: "Temperature".into(),
                fields: vec![
                    field("sensor", Type::Str),
                    field("celsius", Type::Float),
                    field("at", Type::Time),
                ],
                time_field: Some(2),
                origin: Origin::Declared,
            },
            EventType {
                name: "Count".into(),
                fields: vec![
                    field("n", Type::Int),
                    field("d", Type::Duration),
                    field("ok", Type::Bool),
                ],
                time_field: None,
                origin: Origin::Declared,
            },
            EventType {
                name: "Heat".into(),
                fields: vec![field("peak", Type::Float), field("seen", Type::Time)],
                time_field: None,
                origin: Origin::Pattern(0),
            },
        ],
        patterns: vec![],
        resources: vec![],
        steps: vec![],
        processes: vec![],
    }
}

fn ok(d: &mut Decoder, line: &str) -> Event {
    d.decode(line.as_bytes(), 1)
        .unwrap_or_else(|r| panic!("{line}: {r}"))
        .unwrap_or_else(|| panic!("{line}: blank"))
}

fn bad(d: &mut Decoder, line: &[u8]) -> Rejection {
    match d.decode(line, 1) {
        Err(r) => r,
        Ok(e) => panic!("{}: accepted as {e:?}", String::from_utf8_lossy(line)),
    }
}

fn rfc(s: &str) -> i64 {
    parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

// ---- RFC 3339 ----

#[test]
fn rfc3339_valid() {
    assert_eq!(rfc("1970-01-01T00:00:00Z"), 0);
    assert_eq!(rfc("2000-01-01T00:00:00Z"), 946_684_800_000);
    assert_eq!(rfc("2026-11-22T10:00:00Z"), 1_795_341_600_000);
    assert_eq!(rfc("1969-12-31T23:59:59.999Z"), -1);
    assert_eq!(rfc("0000-01-01T00:00:00Z"), -62_167_219_200_000);
    assert_eq!(rfc("9999-12-31T23:59:59.999Z"), 253_402_300_799_999);
    // Lower case and a space are allowed separators.
    assert_eq!(rfc("2026-11-22t10:00:00z"), rfc("2026-11-22T10:00:00Z"));
    assert_eq!(rfc("2026-11-22 10:00:00Z"), rfc("2026-11-22T10:00:00Z"));
}

#[test]
fn rfc3339_offsets() {
    let utc = rfc("2026-11-22T09:00:00.250Z");
    assert_eq!(rfc("2026-11-22T10:00:00.250+01:00"), utc);
    assert_eq!(rfc("2026-11-22T03:30:00.250-05:30"), utc);
    assert_eq!(rfc("2026-11-22T09:00:00.250+00:00"), utc);
    assert_eq!(rfc("2026-11-22T09:00:00.250-00:00"), utc);
    // Across a day and a year boundary.
    assert_eq!(
        rfc("2027-01-01T00:30:00+01:00"),
        rfc("2026-12-31T23:30:00Z")
    );
    assert_eq!(
        rfc("2026-12-31T23:30:00-23:59"),
        rfc("2027-01-01T23:29:00Z")
    );
}

#[test]
fn rfc3339_fractions() {
    let base = rfc("2026-11-22T10:00:00Z");
    assert_eq!(rfc("2026-11-22T10:00:00.5Z"), base + 500);
    assert_eq!(rfc("2026-11-22T10:00:00.05Z"), base + 50);
    assert_eq!(rfc("2026-11-22T10:00:00.250Z"), base + 250);
    assert_eq!(rfc("2026-11-22T10:00:00.000Z"), base);
    // Extra digits are cut, not rounded.
    assert_eq!(rfc("2026-11-22T10:00:00.123456789Z"), base + 123);
    assert_eq!(rfc("2026-11-22T10:00:00.9999Z"), base + 999);
    // Before the epoch the fraction still counts forward.
    assert_eq!(rfc("1969-12-31T23:59:59.5Z"), -500);
}

#[test]
fn rfc3339_leap_years() {
    assert_eq!(
        rfc("2024-02-29T00:00:00Z") + 86_400_000,
        rfc("2024-03-01T00:00:00Z")
    );
    assert_eq!(
        rfc("2000-02-29T00:00:00Z") + 86_400_000,
        rfc("2000-03-01T00:00:00Z")
    );
    assert_eq!(
        rfc("2023-02-28T00:00:00Z") + 86_400_000,
        rfc("2023-03-01T00:00:00Z")
    );
    for s in [
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
    ] {
        let e = parse_rfc3339(s).unwrap_err();
        assert!(e.contains("not a leap year"), "{s}: {e}");
    }
    assert!(parse_rfc3339("2024-02-30T00:00:00Z")
        .unwrap_err()
        .contains("day 30 is out of range for month 02 (01 to 29)"));
}

#[test]
fn rfc3339_invalid() {
    let cases = [
        ("", "4 digits for the year"),
        ("26-11-22T10:00:00Z", "4 digits for the year"),
        ("2026/11/22T10:00:00Z", "expected `-` after the year"),
        ("2026-13-01T00:00:00Z", "month 13 is out of range"),
        ("2026-00-01T00:00:00Z", "month 0 is out of range"),
        (
            "2026-04-31T00:00:00Z",
            "day 31 is out of range for month 04",
        ),
        ("2026-04-00T00:00:00Z", "day 0 is out of range"),
        ("2026-11-22", "the time of day is missing"),
        ("2026-11-22X10:00:00Z", "expected `T`"),
        ("2026-11-22T24:00:00Z", "hour 24 is out of range"),
        ("2026-11-22T10:60:00Z", "minute 60 is out of range"),
        ("2026-11-22T10:00:60Z", "leap seconds"),
        ("2026-11-22T10:00:61Z", "second 61 is out of range"),
        ("2026-11-22T10:00Z", "expected `:` after the minute"),
        ("2026-11-22T1:00:00Z", "2 digits for the hour"),
        ("2026-11-22T10:00:00", "the UTC offset is missing"),
        ("2026-11-22T10:00:00.Z", "digits after the decimal point"),
        ("2026-11-22T10:00:00+1:00", "2 digits for the offset hours"),
        (
            "2026-11-22T10:00:00+0100",
            "expected `:` after the offset hours",
        ),
        (
            "2026-11-22T10:00:00+24:00",
            "offset hour 24 is out of range",
        ),
        (
            "2026-11-22T10:00:00+01:60",
            "offset minute 60 is out of range",
        ),
        ("2026-11-22T10:00:00UTC", "expected `Z` or an offset"),
        (
            "2026-11-22T10:00:00Zjunk",
            "unexpected text after the offset",
        ),
        (" 2026-11-22T10:00:00Z", "4 digits for the year"),
        ("+2026-11-22T10:00:00Z", "4 digits for the year"),
    ];
    for (s, want) in cases {
        match parse_rfc3339(s) {
            Ok(t) => panic!("{s:?} parsed as {t}"),
            Err(e) => assert!(e.contains(want), "{s:?}: {e} (wanted {want:?})"),
        }
    }
}

#[test]
fn civil_days_round_trip() {
    for z in (-800_000..800_000).step_by(37) {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
    }
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn format_round_trips() {
    for ms in [
        0,
        -1,
        1,
        1_795_341_600_250,
        951_782_400_000,
        -62_167_219_200_000,
        253_402_300_799_999,
    ] {
        let s = format_rfc3339(ms);
        assert_eq!(parse_rfc3339(&s), Ok(ms), "{s}");
    }
    assert_eq!(format_rfc3339(1_795_341_600_000), "2026-11-22T10:00:00Z");
    assert_eq!(
        format_rfc3339(1_795_341_600_250),
        "2026-11-22T10:00:00.250Z"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(500));
    assert_eq!(parse_duration("10s"), Ok(10_000));
    assert_eq!(parse_duration("5m"), Ok(300_000));
    assert_eq!(parse_duration("1h"), Ok(3_600_000));
    assert_eq!(parse_duration("0s"), Ok(0));
    for (s, want) in [
        ("1.5s", "unknown unit `.5s`"),
        ("10", "unit is missing"),
        ("s", "whole number"),
        ("", "whole number"),
        ("-5s", "whole number"),
        ("10d", "unknown unit `d`"),
        ("10 s", "unknown unit"),
        ("99999999999999999999h", "too long"),
        ("9223372036854775807h", "too long"),
    ] {
        let e = parse_duration(s).unwrap_err();
        assert!(e.contains(want), "{s:?}: {e}");
    }
}

// ---- decoding ----

#[test]
fn decodes_fields_into_slots() {
    let mut d = Decoder::new(&program());
    let e = ok(
        &mut d,
        r#"{"type":"Temperature","sensor":"s1","celsius":31.5,"at":"2026-11-22T10:00:00Z","extra":{"a":[1,2]}}"#,
    );
    assert_eq!(e.ty, 0);
    assert_eq!(e.time, 1_795_341_600_000);
    assert_eq!(e.source, 1);
    assert_eq!(
        &*e.fields,
        &[
            Value::Str("s1".into()),
            Value::Float(31.5),
            Value::Time(1_795_341_600_000)
        ]
    );
    // Any order; ints are floats; epoch milliseconds.
    let e = ok(
        &mut d,
        r#"{"at":1795341601000,"celsius":31,"type":"Temperature","sensor":"s\u00e9"}"#,
    );
    assert_eq!(e.time, 1_795_341_601_000);
    assert_eq!(
        &*e.fields,
        &[
            Value::Str("sé".into()),
            Value::Float(31.0),
            Value::Time(1_795_341_601_000)
        ]
    );
    let e = ok(&mut d, r#" {"type":"Count","ok":false,"n":-3,"d":"5m"} "#);
    assert_eq!(
        &*e.fields,
        &[Value::Int(-3), Value::Duration(300_000), Value::Bool(false)]
    );
    let e = ok(&mut d, r#"{"type":"Count","n":3,"d":250,"ok":true}"#);
    assert_eq!(e.fields[1], Value::Duration(250));
}

#[test]
fn blank_lines_are_not_events() {
    let mut d = Decoder::new(&program());
    for l in ["", "   ", "\t\r", "\n", "\r\n"] {
        assert_eq!(d.decode(l.as_bytes(), 1), Ok(None), "{l:?}");
    }
}

#[test]
fn events_without_a_time_field_are_stamped_with_the_latest_time() {
    let mut d = Decoder::new(&program());
    let c = r#"{"type":"Count","n":1,"d":1,"ok":true}"#;
    assert_eq!(ok(&mut d, c).time, 0);
    ok(
        &mut d,
        r#"{"type":"Temperature","sensor":"a","celsius":1,"at":5000}"#,
    );
    assert_eq!(ok(&mut d, c).time, 5000);
    // An older event does not move the stamp back.
    ok(
        &mut d,
        r#"{"type":"Temperature","sensor":"a","celsius":1,"at":10}"#,
    );
    assert_eq!(ok(&mut d, c).time, 5000);
    assert_eq!(d.latest(), Some(5000));
}

#[test]
fn complex_events_read_back() {
    let mut d = Decoder::new(&program());
    let e = d
        .decode(
            br#"{"type":"Heat","peak":null,"seen":"2026-11-22T10:00:00Z","@cep":{"time":7000,"run":"cep-1","pattern":"Heat","events":[{"binding":"a","line":1}]}}"#,
            4,
        )
        .unwrap()
        .unwrap();
    assert_eq!(e.ty, 2);
    assert_eq!(e.time, 7000);
    assert_eq!((e.source, e.run), (4, None));
    assert_eq!(e.fields[0], Value::Null);
    // `@cep` before `type`, and an RFC 3339 time in it.
    let e = ok(
        &mut d,
        r#"{"@cep":{"time":"1970-01-01T00:00:08Z"},"type":"Heat","peak":1.5,"seen":null}"#,
    );
    assert_eq!(e.time, 8000);
    // Without `@cep`, stamped like any event without a time field.
    let e = ok(&mut d, r#"{"type":"Heat","peak":1.5,"seen":1}"#);
    assert_eq!(e.time, 8000);
    let r = bad(
        &mut d,
        br#"{"type":"Heat","peak":1,"seen":1,"@cep":{"time":"soon"}}"#,
    );
    assert_eq!(r.reason, Reason::BadTime);
    assert!(r.detail.contains("`@cep.time`"), "{r}");
    let r = bad(
        &mut d,
        br#"{"type":"Heat","peak":1,"seen":1,"@cep":{"time":1.5}}"#,
    );
    assert_eq!(r.reason, Reason::BadTime);
    let r = bad(&mut d, br#"{"type":"Heat","peak":1,"seen":1,"@cep":7}"#);
    assert_eq!(r.reason, Reason::WrongType);
    assert!(r.detail.contains("`@cep` must be an object"), "{r}");
}

#[test]
fn null_is_refused_in_declared_events() {
    let mut d = Decoder::new(&program());
    let r = bad(&mut d, br#"{"type":"Count","n":null,"d":1,"ok":true}"#);
    assert_eq!(r.reason, Reason::WrongType);
    assert!(r.detail.contains("found null"), "{r}");
}

#[test]
fn malformed_json() {
    let mut d = Decoder::new(&program());
    for l in [
        "{bad",
        r#"{"type":"Count","n":1,"#,
        r#"{"type":"Count","n":1,"d":1,"ok":true} x"#,
        r#"{"type":"Count","n":1,"d":1,"ok":true}{}"#,
        "nul",
        r#"{"type":"Count","n":01}"#,
        // A wrong type early does not hide broken JSON later.
        r#"{"type":"Count","n":"x","d":1,"ok":tru}"#,
    ] {
        let r = bad(&mut d, l.as_bytes());
        assert_eq!(r.reason, Reason::MalformedJson, "{l}: {r}");
        assert!(r.detail.contains("at column"), "{r}");
    }
    let r = bad(&mut d, br#"{"type":"Count","n":1,"n":2,"d":1,"ok":true}"#);
    assert_eq!(r.reason, Reason::MalformedJson);
    assert_eq!(r.detail, "field `n` appears twice");
    let r = bad(
        &mut d,
        br#"{"type":"Count","type":"Count","n":1,"d":1,"ok":true}"#,
    );
    assert_eq!(r.detail, "the key `type` appears twice");
}

#[test]
fn not_an_object() {
    let mut d = Decoder::new(&program());
    for (l, found) in [
        ("[1,2]", "an array"),
        ("\"x\"", "a string"),
        ("42", "a number"),
        ("-4.5", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ] {
        let r = bad(&mut d, l.as_bytes());
        assert_eq!(r.reason, Reason::NotAnObject, "{l}");
        assert_eq!(r.detail, format!("the line is {found}, not a JSON object"));
    }
}

#[test]
fn missing_type() {
    let mut d = Decoder::new(&program());
    let r = bad(&mut d, br#"{"n":1,"d":1,"ok":true}"#);
    assert_eq!(r.reason, Reason::MissingType);
    let r = bad(&mut d, b"{}");
    assert_eq!(r.reason, Reason::MissingType);
    let r = bad(&mut d, br#"{"type":3,"n":1}"#);
    assert_eq!(r.reason, Reason::MissingType);
    assert!(r.detail.contains("found the number 3"), "{r}");
    let r = bad(&mut d, br#"{"type":{"a":1}}"#);
    assert!(r.detail.contains("found an object"), "{r}");
}

#[test]
fn unknown_type() {
    let mut d = Decoder::new(&program());
    let r = bad(&mut d, br#"{"type":"Temprature","sensor":"a"}"#);
    assert_eq!(r.reason, Reason::UnknownType);
    assert_eq!(
        r.detail,
        "unknown event type `Temprature` (did you mean `Temperature`?)"
    );
    let r = bad(&mut d, br#"{"sensor":"a","type":"Nothing"}"#);
    assert_eq!(r.detail, "unknown event type `Nothing`");
    let r = bad(&mut d, br#"{"type":"count","n":1,"d":1,"ok":true}"#);
    assert_eq!(
        r.detail,
        "unknown event type `count` (did you mean `Count`?)"
    );
}

#[test]
fn missing_fields() {
    let mut d = Decoder::new(&program());
    let r = bad(&mut d, br#"{"type":"Temperature","sensor":"a","at":1}"#);
    assert_eq!(r.reason, Reason::MissingField);
    assert_eq!(
        r.detail,
        "field `celsius` (float) of `Temperature` is missing"
    );
    let r = bad(&mut d, br#"{"type":"Count","d":1}"#);
    assert_eq!(
        r.detail,
        "fields `n` (int), `ok` (bool) of `Count` are missing"
    );
    // Slow path: members before `type`.
    let r = bad(
        &mut d,
        br#"{"sensor":"a","type":"Temperature","celsius":2}"#,
    );
    assert_eq!(r.detail, "field `at` (time) of `Temperature` is missing");
}

#[test]
fn wrong_types() {
    let mut d = Decoder::new(&program());
    let cases: [(&str, &str); 12] = [
        (
            r#"{"type":"Count","n":3.0,"d":1,"ok":true}"#,
            "field `n` of `Count` must be an int (a JSON integer), found the number 3.0, which is not a JSON integer: write 3",
        ),
        (
            r#"{"type":"Count","n":"3","d":1,"ok":true}"#,
            "field `n` of `Count` must be an int (a JSON integer), found the string \"3\"",
        ),
        (
            r#"{"type":"Count","n":9223372036854775808,"d":1,"ok":true}"#,
            "found the number 9223372036854775808, which is too large for an int: the range is -9223372036854775808 to 9223372036854775807",
        ),
        (
            r#"{"type":"Count","n":1,"d":1,"ok":"yes"}"#,
            "field `ok` of `Count` must be a bool (`true` or `false`), found the string \"yes\"",
        ),
        (
            r#"{"type":"Count","n":1,"d":1,"ok":1}"#,
            "found the number 1",
        ),
        (
            r#"{"type":"Count","n":1,"d":"1.5s","ok":true}"#,
            "field `d` of `Count` must be a duration (integer milliseconds or a string like \"500ms\"), found the string \"1.5s\" (unknown unit `.5s`: use ms, s, m or h)",
        ),
        (
            r#"{"type":"Count","n":1,"d":1.5,"ok":true}"#,
            "found the number 1.5, which is not an integer",
        ),
        (
            r#"{"type":"Count","n":[1],"d":1,"ok":true}"#,
            "found an array",
        ),
        (
            r#"{"type":"Temperature","sensor":1,"celsius":1,"at":1}"#,
            "field `sensor` of `Temperature` must be a str (a JSON string), found the number 1",
        ),
        (
            r#"{"type":"Temperature","sensor":"a","celsius":true,"at":1}"#,
            "field `celsius` of `Temperature` must be a float (a JSON number), found `true`",
        ),
        (
            r#"{"type":"Temperature","sensor":"a","celsius":{},"at":1}"#,
            "found an object",
        ),
        (
            r#"{"celsius":"x","type":"Temperature","sensor":"a","at":1}"#,
            "field `celsius` of `Temperature` must be a float (a JSON number), found the string \"x\"",
        ),
    ];
    for (l, want) in cases {
        let r = bad(&mut d, l.as_bytes());
        assert_eq!(r.reason, Reason::WrongType, "{l}: {r}");
        assert!(r.detail.contains(want), "{l}: {r}");
    }
    let r = bad(
        &mut d,
        br#"{"type":"Temperature","sensor":"a","celsius":1,"at":1.5}"#,
    );
    assert_eq!(r.reason, Reason::WrongType);
    assert!(r.detail.contains("must be a time (integer epoch milliseconds or an RFC 3339 string), found the number 1.5"), "{r}");
}

#[test]
fn bad_times() {
    let mut d = Decoder::new(&program());
    let r = bad(
        &mut d,
        br#"{"type":"Temperature","sensor":"a","celsius":1,"at":"2026-11-31T10:00:00Z"}"#,
    );
    assert_eq!(r.reason, Reason::BadTime);
    assert_eq!(
        r.detail,
        "field `at` of `Temperature`: \"2026-11-31T10:00:00Z\" is not an RFC 3339 time: day 31 is out of range for month 11 (01 to 30)"
    );
    let r = bad(
        &mut d,
        br#"{"at":"yesterday","type":"Temperature","sensor":"a","celsius":1}"#,
    );
    assert_eq!(r.reason, Reason::BadTime);
    // A time field that is not the event's time is checked too.
    let r = bad(&mut d, br#"{"type":"Heat","peak":1,"seen":"noon"}"#);
    assert_eq!(r.reason, Reason::BadTime);
}

#[test]
fn invalid_utf8() {
    let mut d = Decoder::new(&program());
    let r = bad(&mut d, b"{\"type\":\"Count\",\"n\":\xff}");
    assert_eq!(r.reason, Reason::InvalidUtf8);
    assert_eq!(r.detail, "the line is not UTF-8: invalid byte at column 21");
    let r = bad(
        &mut d,
        b"{\"type\":\"Temperature\",\"sensor\":\"\xc3\x28\",\"celsius\":1,\"at\":1}",
    );
    assert_eq!(r.reason, Reason::InvalidUtf8);
}

#[test]
fn first_problem_wins_and_decoding_recovers() {
    let mut d = Decoder::new(&program());
    let r = bad(
        &mut d,
        br#"{"type":"Temperature","sensor":1,"celsius":"x","at":"bad"}"#,
    );
    assert!(r.detail.contains("`sensor`"), "{r}");
    // The decoder holds no state from a rejected line.
    let e = ok(
        &mut d,
        r#"{"type":"Temperature","sensor":"b","celsius":2,"at":3}"#,
    );
    assert_eq!(e.fields[0], Value::Str("b".into()));
}

#[test]
fn many_fields_use_the_index() {
    let mut p = program();
    p.events[1].fields = (0..40)
        .map(|i| field(&format!("f{i}"), Type::Int))
        .collect();
    let mut d = Decoder::new(&p);
    let mut line = String::from(r#"{"type":"Count""#);
    for i in (0..40).rev() {
        line.push_str(&format!(",\"f{i}\":{i}"));
    }
    line.push('}');
    let e = ok(&mut d, &line);
    assert_eq!(e.fields[17], Value::Int(17));
    assert_eq!(e.fields.len(), 40);
}

#[test]
fn edit_distance_works() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("abc", "abc"), 0);
    assert_eq!(suggest("Tmp", ["Temperature"].into_iter()), None);
}

// ---- reading lines ----

fn lines(input: &[u8], limit: usize) -> Vec<(Line, Vec<u8>)> {
    let mut l = Lines::new(limit);
    let mut out = Vec::new();
    // In chunks of 4 bytes, so that lines span chunks.
    for chunk in input.chunks(4) {
        l.feed::<()>(chunk, |k, t| {
            out.push((k, t.to_vec()));
            Ok(())
        })
        .unwrap();
    }
    l.end::<()>(|k, t| {
        out.push((k, t.to_vec()));
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn reads_bounded_lines() {
    let got = lines(b"abc\n0123456789abcdef\nxy\r\n\nlast", 5);
    assert_eq!(
        got,
        vec![
            (Line::Full, b"abc".to_vec()),
            (Line::Oversized, b"012345".to_vec()),
            (Line::Full, b"xy\r".to_vec()),
            (Line::Full, b"".to_vec()),
            (Line::Full, b"last".to_vec()),
        ]
    );
    // Exactly at the limit is fine; one over is not, with or without a
    // line break after it.
    let got = lines(b"12345\n123456\n1234567", 5);
    assert_eq!(got[0], (Line::Full, b"12345".to_vec()));
    assert_eq!(got[1].0, Line::Oversized);
    assert_eq!(got[2].0, Line::Oversized);
    assert_eq!(got.len(), 3);
    assert_eq!(lines(b"", 5), vec![]);
}

#[test]
fn times_outside_the_valid_range_are_bad_times() {
    let mut d = Decoder::new(&program());
    let line = |at: &str| format!(r#"{{"type":"Temperature","sensor":"a","celsius":1,"at":{at}}}"#);
    // Both ends of the range are valid, as epoch milliseconds and as RFC 3339.
    for (at, ms) in [
        ("-62167219200000".to_string(), cep_ir::MIN_TIME_MS),
        ("\"0000-01-01T00:00:00Z\"".to_string(), cep_ir::MIN_TIME_MS),
        ("253402300799999".to_string(), cep_ir::MAX_TIME_MS),
        (
            "\"9999-12-31T23:59:59.999Z\"".to_string(),
            cep_ir::MAX_TIME_MS,
        ),
    ] {
        assert_eq!(ok(&mut d, &line(&at)).time, ms, "{at}");
    }
    assert_eq!(format_rfc3339(cep_ir::MIN_TIME_MS), "0000-01-01T00:00:00Z");
    assert_eq!(
        format_rfc3339(cep_ir::MAX_TIME_MS),
        "9999-12-31T23:59:59.999Z"
    );
    // One millisecond past either end, the largest and smallest 64-bit
    // times, and RFC 3339 times that an offset moves out of the range.
    for at in [
        "-62167219200001",
        "253402300800000",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "\"0000-01-01T00:00:00+01:00\"",
        "\"9999-12-31T23:59:59.999-00:01\"",
    ] {
        let r = bad(&mut d, line(at).as_bytes());
        assert_eq!(r.reason, Reason::BadTime, "{at}: {r}");
        assert!(
            r.detail.contains("outside the range of valid times, 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"),
            "{at}: {r}"
        );
    }
    // A `time` field that is not the event's time, and `@cep.time`, too.
    let r = bad(
        &mut d,
        br#"{"type":"Heat","peak":1,"seen":253402300800000}"#,
    );
    assert_eq!(r.reason, Reason::BadTime, "{r}");
    let r = bad(
        &mut d,
        br#"{"type":"Heat","peak":1,"seen":1,"@cep":{"time":-62167219200001}}"#,
    );
    assert_eq!(r.reason, Reason::BadTime, "{r}");
    assert!(r.detail.contains("`@cep.time`"), "{r}");
}

/// An integer too large for 64 bits is parsed by JSON as a float: the
/// message says it is too large, not that it is "not an integer".
#[test]
fn integers_past_64_bits_are_too_large() {
    let mut d = Decoder::new(&program());
    for (n, shown) in [
        ("100000000000000000000", "100000000000000000000"),
        ("1e20", "100000000000000000000"),
        ("-1e20", "-100000000000000000000"),
    ] {
        let line = format!(r#"{{"type":"Count","n":{n},"d":1,"ok":true}}"#);
        let r = bad(&mut d, line.as_bytes());
        assert_eq!(r.reason, Reason::WrongType);
        assert_eq!(
            r.detail,
            format!(
                "field `n` of `Count` must be an int (a JSON integer), found the number {shown}, \
                 which is too large for an int: the range is -9223372036854775808 to 9223372036854775807"
            )
        );
        let line = format!(r#"{{"type":"Count","n":1,"d":{n},"ok":true}}"#);
        let r = bad(&mut d, line.as_bytes());
        assert!(
            r.detail
                .contains("which is too large for a duration (milliseconds)"),
            "{r}"
        );
        let line = format!(r#"{{"type":"Heat","peak":1,"seen":{n}}}"#);
        let r = bad(&mut d, line.as_bytes());
        assert_eq!(r.reason, Reason::BadTime, "{r}");
        assert!(r.detail.contains("outside the range of valid times"), "{r}");
    }
}

#[test]
fn an_event_names_its_sequence_in_cep_metadata() {
    let mut d = Decoder::new(&program());
    let e = ok(
        &mut d,
        r#"{"type":"Count","n":1,"d":1,"ok":true,"@cep":{"sequence":"job-7"}}"#,
    );
    assert_eq!(e.fields.len(), 3);
    assert_eq!(d.take_sequence().as_deref(), Some("job-7"));
    assert_eq!(d.take_sequence(), None);
    // Before `type`, and beside a time.
    ok(
        &mut d,
        r#"{"@cep":{"time":5,"sequence":"s2"},"type":"Heat","peak":1,"seen":1}"#,
    );
    assert_eq!(d.take_sequence().as_deref(), Some("s2"));
    ok(&mut d, r#"{"type":"Count","n":1,"d":1,"ok":true}"#);
    assert_eq!(d.take_sequence(), None);
    for bad_seq in [r#""""#, "7", "null", "[1]"] {
        let line =
            format!(r#"{{"type":"Count","n":1,"d":1,"ok":true,"@cep":{{"sequence":{bad_seq}}}}}"#);
        let r = bad(&mut d, line.as_bytes());
        assert_eq!(r.reason, Reason::WrongType, "{bad_seq}: {r}");
        assert!(r.detail.contains("`@cep.sequence`"), "{bad_seq}: {r}");
    }
}

// ---- the fast path against the serde decoder ---------------------------------------

use crate::test_rng::Rng;

/// A JSON value for a member: usually of the field's type, in each of
/// its spellings; sometimes of another type, or a value with a rule to
/// apply (escapes, `null`, exponents, out of range, nested).
fn gen_value(r: &mut Rng, ty: Option<Type>) -> String {
    if r.below(8) == 0 {
        return r
            .pick(&[
                "null",
                "\"a\\\"b\"",
                "\"\\u00e9t\\u00e9\"",
                "\"caf\u{e9} \u{1F600}\"",
                "1e400",
                "-1e400",
                "123456789012345678901234",
                "-9223372036854775809",
                "9223372036854775807",
                "1.0",
                "-0",
                "-0.0",
                "1E-3",
                "2.5e+3",
                "{\"x\":[1,{\"y\":2}]}",
                "[1,2,3]",
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                "true",
                "false",
                "\"\"",
                "\"2026-01-01T00:00:00Z\"",
                "\"2026-13-01T00:00:00Z\"",
                "\"10s\"",
                "\"10 parsecs\"",
                "01",
                "\"\t\"",
            ])
            .to_string();
    }
    match ty {
        Some(Type::Str) => r
            .pick(&["\"s1\"", "\"sensor-7\"", "\"\"", "\"x y\"", "\"\u{e9}\""])
            .to_string(),
        Some(Type::Float) => match r.below(4) {
            0 => format!("{}", r.below(1000) as i64 - 500),
            1 => format!("{}.{}", r.below(100), r.below(1000)),
            2 => format!("{}e{}", r.below(10), r.below(40) as i64 - 20),
            _ => format!("{:?}", (r.next() % 1_000_000) as f64 / 7.0),
        },
        Some(Type::Int) | Some(Type::Duration) => match r.below(3) {
            0 => format!("{}", r.below(1_000_000) as i64 - 1000),
            1 if ty == Some(Type::Duration) => r.pick(&["\"500ms\"", "\"2m\"", "\"1h\""]).into(),
            _ => format!("{}", r.next() as i64),
        },
        Some(Type::Time) => match r.below(3) {
            0 => format!("{}", 1_700_000_000_000i64 + r.below(1_000_000) as i64),
            1 => format!(
                "\"2026-0{}-1{}T0{}:00:00Z\"",
                1 + r.below(9),
                r.below(10),
                r.below(10)
            ),
            _ => format!("\"2026-02-03T04:05:06.{}+01:00\"", r.below(1000)),
        },
        Some(Type::Bool) => r.pick(&["true", "false"]).into(),
        None => r.pick(&["1", "\"u\"", "true", "null", "{}", "[]"]).into(),
    }
}

/// An event line in the usual shape, or near it: members shuffled now
/// and then, fields left out or given twice, unknown members, `@cep`,
/// odd whitespace, trailing text.
fn gen_line(r: &mut Rng, p: &Program) -> String {
    let e = &p.events[r.below(p.events.len())];
    let mut members: Vec<(String, String)> = Vec::new();
    let ty_name = if r.below(20) == 0 {
        r.pick(&["Temperatur", "", "\"Count\""]).to_string()
    } else {
        e.name.clone()
    };
    members.push(("type".into(), format!("\"{ty_name}\"")));
    for f in &e.fields {
        if r.below(15) == 0 {
            continue;
        }
        members.push((f.name.clone(), gen_value(r, Some(f.ty))));
        if r.below(30) == 0 {
            members.push((f.name.clone(), gen_value(r, Some(f.ty))));
        }
    }
    if r.below(6) == 0 {
        let v = gen_value(r, None);
        let at = r.below(members.len() + 1);
        members.insert(
            at,
            (r.pick(&["extra", "type", "note", "s\\u0065nsor"]).into(), v),
        );
    }
    if r.below(12) == 0 {
        members.push((
            "@cep".into(),
            r.pick(&["{\"time\":5}", "{\"sequence\":\"q\"}", "7"])
                .into(),
        ));
    }
    if r.below(10) == 0 {
        let (a, b) = (r.below(members.len()), r.below(members.len()));
        members.swap(a, b);
    }
    let sp = |r: &mut Rng| r.pick(&["", "", "", " ", "\t", "\r\n "]).to_string();
    let mut line = format!("{}{{", sp(r));
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            line.push_str(&sp(r));
            line.push(',');
        }
        line.push_str(&format!("{}\"{k}\"{}:{}{v}", sp(r), sp(r), sp(r)));
    }
    line.push_str(&sp(r));
    line.push('}');
    if r.below(25) == 0 {
        line.push_str(r.pick(&[" x", "}", ",", " {}", "\n"]));
    }
    line
}

/// Random edits of a line's bytes (invalid UTF-8 among them).
fn mutate(r: &mut Rng, line: &str) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    for _ in 0..1 + r.below(3) {
        let at = r.below(b.len() + 1);
        let byte = [
            b'"', b'\\', b'{', b'}', b':', b',', b'0', b'e', b'-', 0xff, 0xc3, 0x00, b' ',
        ][r.below(13)];
        match r.below(3) {
            0 if at < b.len() => {
                b.remove(at);
            }
            1 if at < b.len() => b[at] = byte,
            _ => b.insert(at, byte),
        }
    }
    b
}

/// Every line, random or mutated, decodes to the same event (type,
/// time, line, fields) or the same rejection (reason and detail) with
/// the fast path as without it, and the decoders agree on the latest
/// time after it; the fast path takes most of the lines that are events.
#[test]
fn the_fast_path_decodes_as_the_serde_decoder() {
    let p = program();
    let mut fast = Decoder::new(&p);
    let mut slow = Decoder::new(&p);
    slow.set_fast(false);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut taken, mut decoded) = (0usize, 0usize);
    for i in 0..60_000u64 {
        let line = gen_line(&mut r, &p);
        let bytes = if r.below(4) == 0 {
            mutate(&mut r, &line)
        } else {
            line.clone().into_bytes()
        };
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let mut strings = fast::Strings::default();
            let got = fast::decode(text, &fast.schemas, &fast.types, &mut strings);
            taken += usize::from(got.is_some());
        }
        let a = fast.decode(&bytes, i);
        let b = slow.decode(&bytes, i);
        decoded += usize::from(matches!(b, Ok(Some(_))));
        let show = String::from_utf8_lossy(&bytes);
        match (&a, &b) {
            (Ok(Some(x)), Ok(Some(y))) => {
                assert_eq!(
                    (x.ty, x.time, x.source, format!("{:?}", x.fields)),
                    (y.ty, y.time, y.source, format!("{:?}", y.fields)),
                    "line {show}"
                );
            }
            _ => assert_eq!(a, b, "line {show}"),
        }
        assert_eq!(fast.latest(), slow.latest(), "line {show}");
        assert_eq!(fast.take_sequence(), slow.take_sequence(), "line {show}");
    }
    // (Of the lines that are events, the others have a value the serde
    // decoder must read: an escape, a null, a spelling of `-0`, ...)
    assert!(
        taken * 10 > decoded * 6,
        "the fast path took {taken} of {decoded} events"
    );
    eprintln!("the fast path took {taken} of {decoded} events");
}
