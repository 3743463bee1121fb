//! Output encoding: complex events and dead letters as NDJSON lines.
//!
//! A complex event is one line that [`crate::ingest`] reads back as an
//! input event of the same type:
//!
//! ```text
//! {"type":"Heatwave","sensor":"s1","peak":41.5,"@cep":{"time":1700000000000,"run":"cep-7","pattern":"Heatwave","events":[{"binding":"a","line":3},{"binding":"w","run":"cep-2"}]}}
//! ```
//!
//! The declared fields come first, in slot order; `"@cep"` holds the
//! event's time, the run that produced it, the pattern, and the events it
//! matched (oldest first): input events by their line, complex events by
//! the run that produced them. Values: int and float as JSON numbers
//! (non-finite floats as `null`), str, bool, duration and time as integer
//! milliseconds, no value as `null`.
//!
//! Everything is written into a caller's buffer: no I/O here, no map
//! iteration, so the same outputs always give the same bytes.

use crate::engine::Complex;
use crate::ingest::Rejection;
use crate::value::{Event, Value};
use cep_ir::{Origin, Program};
use serde::Serialize;

/// How many characters of a rejected line the dead-letter output keeps.
pub const TEXT_CHARS: usize = 200;

#[derive(Debug)]
struct TypeOut {
    /// `{"type":"Name"`.
    head: Vec<u8>,
    /// `,"field":` per slot.
    keys: Vec<Vec<u8>>,
    /// For a complex event: the index of the pattern that emits it.
    pattern: Option<u32>,
}

#[derive(Debug)]
struct PatternOut {
    /// The name as a JSON string.
    name: Vec<u8>,
    /// `{"binding":"a",` per binding.
    bindings: Vec<Vec<u8>>,
    /// `"cep-Name-`: the start of its runs' names as a JSON string (the
    /// instance, the pattern, then the run id and `"`).
    run_prefix: Vec<u8>,
}

/// Encodes complex events of one program.
#[derive(Debug)]
pub struct Encoder {
    types: Vec<TypeOut>,
    patterns: Vec<PatternOut>,
    /// `"cep-`: the start of a run's name for a pattern index out of range.
    run_prefix: Vec<u8>,
}

/// A string as JSON, appended.
pub fn push_str(buf: &mut Vec<u8>, s: &str) {
    let _ = s.serialize(&mut serde_json::Serializer::new(&mut *buf));
}

/// An integer as JSON (the digits serde_json writes, by the same `itoa`).
fn push_i64(buf: &mut Vec<u8>, n: i64) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_u64(buf: &mut Vec<u8>, n: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `"` and everything up to it of a JSON string that starts with the
/// escaped `prefix`: a name, less its closing quote.
fn open_string(prefix: &str) -> Vec<u8> {
    let mut v = Vec::new();
    push_str(&mut v, prefix);
    v.pop();
    v
}

/// A value as JSON, appended.
pub fn push_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Int(n) | Value::Duration(n) | Value::Time(n) => push_i64(buf, *n),
        // serde_json's own text (the shortest that reads back to the same
        // bits; its exponent form differs from plain `ryu`'s, `1e+21`).
        Value::Float(x) if x.is_finite() => {
            let _ = x.serialize(&mut serde_json::Serializer::new(&mut *buf));
        }
        Value::Float(_) => buf.extend_from_slice(b"null"),
        Value::Str(s) => push_str(buf, s),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
    }
}

impl Encoder {
    /// An encoder whose runs are named as those of an engine with
    /// instance name `cep` ([`crate::Engine::run_name`]); see
    /// [`Encoder::with_instance`].
    pub fn new(program: &Program) -> Encoder {
        Encoder::with_instance(program, "cep")
    }

    /// An encoder for the complex events of an engine whose instance is
    /// `instance` (`crate::Config::instance`): [`Encoder::complex`] names
    /// runs `instance-Pattern-id`, from fragments encoded here once.
    pub fn with_instance(program: &Program, instance: &str) -> Encoder {
        let types = program
            .events
            .iter()
            .map(|e| {
                let mut head = b"{\"type\":".to_vec();
                push_str(&mut head, &e.name);
                let keys = e
                    .fields
                    .iter()
                    .map(|f| {
                        let mut k = b",".to_vec();
                        push_str(&mut k, &f.name);
                        k.push(b':');
                        k
                    })
                    .collect();
                TypeOut {
                    head,
                    keys,
                    pattern: match e.origin {
                        Origin::Pattern(p) => Some(p),
                        Origin::Declared => None,
                    },
                }
            })
            .collect();
        let patterns = program
            .patterns
            .iter()
            .map(|p| {
                let mut name = Vec::new();
                push_str(&mut name, &p.name);
                let bindings = p
                    .bindings
                    .iter()
                    .map(|b| {
                        let mut k = b"{\"binding\":".to_vec();
                        push_str(&mut k, &b.name);
                        k.push(b',');
                        k
                    })
                    .collect();
                PatternOut {
                    name,
                    bindings,
                    run_prefix: open_string(&format!("{instance}-{}-", p.name)),
                }
            })
            .collect();
        Encoder {
            types,
            patterns,
            run_prefix: open_string(&format!("{instance}-")),
        }
    }

    /// Whether an event came from the engine (a complex event it
    /// produced): then its `source` is the producing run. Otherwise it
    /// came from the input and its `source` is its line.
    pub fn produced(&self, e: &Event) -> bool {
        e.run.is_some()
    }

    /// Appends the line (with its line break) for a complex event, its
    /// runs named as [`crate::Engine::run_name`] does (the instance given
    /// to [`Encoder::with_instance`]); nothing is allocated.
    pub fn complex(&self, c: &Complex, buf: &mut Vec<u8>) {
        self.complex_in(c, &|buf, p, r| self.push_run(buf, p, r), None, buf);
    }

    /// As [`Encoder::complex`], with runs named by `run_name`.
    pub fn complex_named(
        &self,
        c: &Complex,
        run_name: impl Fn(u32, u64) -> String,
        buf: &mut Vec<u8>,
    ) {
        self.complex_in(c, &|buf, p, r| push_str(buf, &run_name(p, r)), None, buf);
    }

    /// `"instance-Pattern-id"`.
    fn push_run(&self, buf: &mut Vec<u8>, pattern: u32, run: u64) {
        match self.patterns.get(pattern as usize) {
            Some(p) => buf.extend_from_slice(&p.run_prefix),
            None => {
                buf.extend_from_slice(&self.run_prefix);
                push_u64(buf, u64::from(pattern));
                buf.push(b'-');
            }
        }
        push_u64(buf, run);
        buf.push(b'"');
    }

    /// As [`Encoder::complex`], for a member of a cluster
    /// (`crate::peer`): each bound event also names the peer whose input
    /// it entered at (`"peer":"B"`, by `peer_name` of its origin); a bound
    /// complex event gives that peer and its time instead of a run id
    /// (engine run ids are local to a peer; a complex event read from an
    /// input line gives its line like any input event):
    /// `{"binding":"a","peer":"B","line":3}`,
    /// `{"binding":"w","peer":"C","time":1700000000123}`.
    pub fn complex_in_cluster(
        &self,
        c: &Complex,
        run_name: impl Fn(u32, u64) -> String,
        peer_name: impl Fn(u16) -> String,
        buf: &mut Vec<u8>,
    ) {
        self.complex_in(
            c,
            &|buf, p, r| push_str(buf, &run_name(p, r)),
            Some(&peer_name),
            buf,
        );
    }

    /// `run_name` appends a run's name as a JSON string.
    fn complex_in(
        &self,
        c: &Complex,
        run_name: &dyn Fn(&mut Vec<u8>, u32, u64),
        peer_name: Option<&dyn Fn(u16) -> String>,
        buf: &mut Vec<u8>,
    ) {
        self.event(&c.event, buf);
        buf.extend_from_slice(b",\"@cep\":{\"time\":");
        push_i64(buf, c.event.time);
        buf.extend_from_slice(b",\"run\":");
        run_name(buf, c.pattern, c.run);
        buf.extend_from_slice(b",\"pattern\":");
        let pattern = self.patterns.get(c.pattern as usize);
        match pattern {
            Some(p) => buf.extend_from_slice(&p.name),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"events\":[");
        c.matched.each_oldest_first(|i, b, e| {
            if i > 0 {
                buf.push(b',');
            }
            match pattern.and_then(|p| p.bindings.get(usize::from(b))) {
                Some(k) => buf.extend_from_slice(k),
                None => {
                    buf.extend_from_slice(b"{\"binding\":");
                    push_u64(buf, u64::from(b));
                    buf.push(b',');
                }
            }
            let complex = self.types.get(e.ty as usize).and_then(|t| t.pattern);
            if let Some(name) = peer_name {
                buf.extend_from_slice(b"\"peer\":");
                push_str(buf, &name(e.origin));
                // Made by a peer's engine (not read from an input line).
                if complex.is_some() && e.source == 0 {
                    buf.extend_from_slice(b",\"time\":");
                    push_i64(buf, e.time);
                } else {
                    buf.extend_from_slice(b",\"line\":");
                    push_u64(buf, e.source);
                }
                buf.push(b'}');
                return;
            }
            match (e.run, complex) {
                (Some(run), Some(pattern)) => {
                    buf.extend_from_slice(b"\"run\":");
                    run_name(buf, pattern, run);
                }
                _ => {
                    buf.extend_from_slice(b"\"line\":");
                    push_u64(buf, e.source);
                }
            }
            buf.push(b'}');
        });
        buf.extend_from_slice(b"]}}\n");
    }

    /// `{"type":"Name","field":value,...` (left open).
    fn event(&self, e: &Event, buf: &mut Vec<u8>) {
        let Some(t) = self.types.get(e.ty as usize) else {
            buf.extend_from_slice(b"{\"type\":null");
            return;
        };
        buf.extend_from_slice(&t.head);
        for (k, v) in t.keys.iter().zip(e.fields.iter()) {
            buf.extend_from_slice(k);
            push_value(buf, v);
        }
    }
}

/// Appends a dead letter (with its line break):
/// `{"line":N,"reason":"...","detail":"...","text":"..."}`. The text is
/// the line as read (invalid UTF-8 replaced), without its line break, cut
/// to [`TEXT_CHARS`] characters.
pub fn dead_letter(buf: &mut Vec<u8>, line: u64, r: &Rejection, text: &[u8]) {
    buf.extend_from_slice(b"{\"line\":");
    push_u64(buf, line);
    buf.extend_from_slice(b",\"reason\":");
    push_str(buf, r.reason.as_str());
    buf.extend_from_slice(b",\"detail\":");
    push_str(buf, &r.detail);
    buf.extend_from_slice(b",\"text\":");
    push_str(buf, &excerpt(text));
    buf.extend_from_slice(b"}\n");
}

/// A line as it is shown: without its line break, invalid UTF-8 replaced,
/// at most [`TEXT_CHARS`] characters.
pub fn excerpt(text: &[u8]) -> String {
    let mut t = text;
    while let [rest @ .., b'\n' | b'\r'] = t {
        t = rest;
    }
    // Each character takes at most four bytes.
    let t = t.get(..t.len().min(TEXT_CHARS * 4)).unwrap_or(t);
    String::from_utf8_lossy(t)
        .chars()
        .take(TEXT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ingest::{Decoder, Reason};
    use crate::run::Chain;
    use cep_ir::{Binding, EventType, Field, Pattern, SkipPolicy, Type, FORMAT_VERSION};
    use std::sync::Arc;

    fn program() -> Program {
        let binding = |name: &str, event| Binding {
            name: name.into(),
            event,
            alternatives: Vec::new(),
            min: 1,
            max: Some(1),
            group: false,
            sub: None,
            parent: None,
        };
        Program {
            format_version: FORMAT_VERSION,
            source_hash: "fnv1a64:0".into(),
            sources: vec![],
            events: vec![
                EventType {
                    name: "T".into(),
                    fields: vec![Field {
                        name: "x".into(),
                        ty: Type::Float,
                        optional: false,
                    }],
                    time_field: None,
                    origin: Origin::Declared,
                },
                EventType {
                    name: "Out".into(),
                    fields: ["i", "f", "s", "b", "d", "t", "n", "nan"]
                        .iter()
                        .zip([
                            Type::Int,
                            Type::Float,
                            Type::Str,
                            Type::Bool,
                            Type::Duration,
                            Type::Time,
                            Type::Int,
                            Type::Float,
                        ])
                        .map(|(n, ty)| Field {
                            name: (*n).into(),
                            ty,
                            optional: false,
                        })
                        .collect(),
                    time_field: None,
                    origin: Origin::Pattern(0),
                },
            ],
            patterns: vec![Pattern {
                name: "Out".into(),
                output: 1,
                inputs: vec![0, 1],
                partition: vec![],
                window_ms: None,
                skip: SkipPolicy::NoSkip,
                bindings: vec![binding("a", 0), binding("w", 1), binding("r", 1)],
                states: vec![],
                start: 0,
                halts: vec![],
                emit: vec![],
                private: false,
                lookback: None,
                report: None,
                on_timeout: None,
                select: None,
            }],
            resources: vec![],
            steps: vec![],
            processes: vec![],
        }
    }

    fn out_event(time: i64, source: u64) -> Event {
        Event {
            ty: 1,
            time,
            seq: 9,
            source,
            origin: 0,
            run: None,
            fields: vec![
                Value::Int(-4),
                Value::Float(3.0),
                Value::Str("q\"\n\u{e9}".into()),
                Value::Bool(true),
                Value::Duration(1500),
                Value::Time(1_700_000_000_000),
                Value::Null,
                Value::Float(f64::NAN),
            ]
            .into_boxed_slice(),
        }
    }

    fn complex() -> Complex {
        let input = Event::new(0, 10, 3, vec![Value::Float(0.1)]);
        Complex {
            event: Arc::new(out_event(42, 7)),
            pattern: 0,
            run: 7,
            matched: Chain::default()
                .push(0, Arc::new(input))
                .push(
                    1,
                    Arc::new(Event {
                        run: Some(2),
                        ..out_event(20, 0)
                    }),
                )
                .push(2, Arc::new(out_event(30, 5))),
        }
    }

    fn encode(c: &Complex) -> String {
        let enc = Encoder::new(&program());
        let mut buf = Vec::new();
        enc.complex_named(c, |_, r| format!("cep-{r}"), &mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn encodes_a_complex_event() {
        assert_eq!(
            encode(&complex()),
            concat!(
                r#"{"type":"Out","i":-4,"f":3.0,"s":"q\"\né","b":true,"d":1500,"t":1700000000000,"n":null,"nan":null,"#,
                r#""@cep":{"time":42,"run":"cep-7","pattern":"Out","events":["#,
                r#"{"binding":"a","line":3},{"binding":"w","run":"cep-2"},{"binding":"r","line":5}]}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn names_the_peers_of_the_bound_events_in_a_cluster() {
        let mut c = complex();
        // The input event came in at peer 2; the others at peer 0.
        let mut events = c.matched.to_vec();
        let mut first = (*events[0].1).clone();
        first.origin = 2;
        events[0].1 = Arc::new(first);
        c.matched = events
            .into_iter()
            .fold(Chain::default(), |chain, (b, e)| chain.push(b, e));
        let mut buf = Vec::new();
        Encoder::new(&program()).complex_in_cluster(
            &c,
            |_, r| format!("A-Out-1.{r}"),
            |m| ["A", "B", "C"][usize::from(m)].to_string(),
            &mut buf,
        );
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.ends_with(concat!(
                r#""@cep":{"time":42,"run":"A-Out-1.7","pattern":"Out","events":["#,
                r#"{"binding":"a","peer":"C","line":3},{"binding":"w","peer":"A","time":20},"#,
                r#"{"binding":"r","peer":"A","line":5}]}}"#,
                "\n"
            )),
            "{text}"
        );
    }

    /// The pre-encoded run names are the engine's (`Engine::run_name`):
    /// the same line, byte for byte, as naming each run through it,
    /// also for an instance name that needs escaping.
    #[test]
    fn names_runs_as_the_engine_does() {
        let program = Arc::new(program());
        for instance in ["cep", "edge-7", "a\"b\\c é"] {
            let engine = crate::Engine::new(
                program.clone(),
                crate::Config {
                    instance: instance.into(),
                    ..crate::Config::default()
                },
            );
            let enc = Encoder::with_instance(&program, instance);
            let (mut fast, mut named) = (Vec::new(), Vec::new());
            enc.complex(&complex(), &mut fast);
            enc.complex_named(&complex(), |p, r| engine.run_name(p, r), &mut named);
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(named).unwrap()
            );
        }
    }

    /// Numbers are written as serde_json writes them.
    #[test]
    fn numbers_are_serde_jsons() {
        let ints = [0, 1, -1, 9, 10, -10, 123_456, i64::MIN, i64::MAX, 1 << 53];
        for n in ints {
            let mut buf = Vec::new();
            push_value(&mut buf, &Value::Int(n));
            assert_eq!(buf, serde_json::to_vec(&n).unwrap(), "{n}");
        }
        let mut x: f64 = 1.0;
        let mut floats = vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e21,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..2000 {
            // A spread of magnitudes and mantissas.
            x = (x * 1.618_033_988_749_895 + 0.577_215_664_901_532_9) % 1.0e6 - 3.0e5;
            floats.push(x);
            floats.push(x * 1e-200);
            floats.push(x * 1e200);
        }
        for f in floats {
            let mut buf = Vec::new();
            push_value(&mut buf, &Value::Float(f));
            assert_eq!(buf, serde_json::to_vec(&f).unwrap(), "{f:e}");
        }
    }

    #[test]
    fn floats_round_trip() {
        let enc = Encoder::new(&program());
        let mut dec = Decoder::new(&program());
        for x in [
            0.1,
            1.0 / 3.0,
            0.1 + 0.2,
            1e300,
            -2.5e-308,
            5e-324,
            123_456_789.125,
        ] {
            let mut c = complex();
            let mut e = out_event(1, 1);
            e.fields[1] = Value::Float(x);
            c.event = Arc::new(e);
            let mut buf = Vec::new();
            enc.complex_named(&c, |_, r| format!("cep-{r}"), &mut buf);
            let back = dec.decode(&buf, 1).unwrap().unwrap();
            match back.fields[1] {
                Value::Float(y) => assert_eq!(x.to_bits(), y.to_bits(), "{x} came back as {y}"),
                ref v => panic!("{v:?}"),
            }
        }
    }

    #[test]
    fn reads_back_what_it_writes() {
        let line = encode(&complex());
        let mut dec = Decoder::new(&program());
        let back = dec.decode(line.as_bytes(), 12).unwrap().unwrap();
        let want = out_event(42, 12);
        assert_eq!(back.ty, want.ty);
        assert_eq!(back.time, 42);
        assert_eq!(back.source, want.source);
        // The NaN went out as null and comes back as no value.
        assert_eq!(&back.fields[..7], &want.fields[..7]);
        assert_eq!(back.fields[7], Value::Null);
        let enc = Encoder::new(&program());
        assert!(!enc.produced(&back));
        assert!(enc.produced(&Event {
            run: Some(3),
            ..out_event(1, 0)
        }));
        assert!(!enc.produced(&Event::new(0, 1, 12, vec![Value::Float(1.0)])));
    }

    #[test]
    fn encodes_dead_letters() {
        let mut buf = Vec::new();
        let r = Rejection::new(Reason::WrongType, "field `x` must be a float, found \"a\"");
        dead_letter(&mut buf, 4, &r, b"{\"x\":\"a\"}\r\n");
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"line\":4,\"reason\":\"wrong type\",\"detail\":\"field `x` must be a float, found \\\"a\\\"\",\"text\":\"{\\\"x\\\":\\\"a\\\"}\"}\n"
        );
    }

    #[test]
    fn excerpts_are_cut_to_200_characters() {
        let long = "é".repeat(300);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 200);
        assert_eq!(excerpt(b"ab\xffc\n"), "ab\u{fffd}c");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), 200);
    }
}
