//! Input chunks to decoded batches: the lines a chunk completes, each
//! decoded, with the text kept for dead letters. One [`Stage`] per input,
//! run either on the thread that matches or on a thread of its own ahead
//! of it (`cep run --threads 2`): a batch holds everything the matching
//! side needs from decoding (the event, its `@cep.sequence`, the latest
//! event time so far, the line's text), so both give the same results.

use super::{oversized, Decoder, Line, Lines, Rejection};
use crate::value::Event;
use cep_ir::Program;
use std::ops::Range;
use std::sync::Arc;

/// What one line decoded to.
#[derive(Debug)]
pub enum Decoded {
    /// An event, with the sequence its `"@cep": {"sequence": ...}` names.
    Event {
        event: Event,
        sequence: Option<Arc<str>>,
    },
    /// Not an event: a dead letter (an oversized line included).
    Rejected(Rejection),
}

/// One line that is an event or a dead letter (blank lines, and the
/// lines a recovery skips, have none).
#[derive(Debug)]
pub struct Item {
    /// The line number, from 1.
    pub line: u64,
    /// The decoder's latest event time once this line was decoded
    /// ([`Decoder::latest`]).
    pub latest: Option<i64>,
    /// The line's text in [`Batch::text`] (without its line break, the
    /// byte order mark of line 1, or what an oversized line had beyond
    /// its limit plus one byte).
    pub text: Range<usize>,
    pub what: Decoded,
}

/// The decoded lines of one chunk, in input order.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<Item>,
    /// The texts of the items, one after the other.
    pub text: Vec<u8>,
    /// Lines read so far, the ones a recovery skips included: the
    /// position to record once the batch is processed.
    pub lines: u64,
    /// Lines in this batch that were not skipped, blank ones included.
    pub read: u64,
}

impl Batch {
    /// The text of `item`, which must be one of this batch's.
    pub fn text_of(&self, item: &Item) -> &[u8] {
        self.text.get(item.text.clone()).unwrap_or(&[])
    }
}

/// Splits chunks into lines and decodes them (see the module docs): the
/// line limit, the byte order mark on line 1, the lines a recovery
/// skips, then [`Decoder::decode`].
#[derive(Debug)]
pub struct Stage {
    lines: Lines,
    decoder: Decoder,
    limit: usize,
    line_no: u64,
    skip: u64,
    /// Batches given back ([`Stage::recycle`]), to fill again.
    spare: Vec<Batch>,
}

/// Batches kept for reuse at most.
const SPARE: usize = 8;

impl Stage {
    /// Lines of at most `limit` bytes; the first `skip` lines are read
    /// and counted but not decoded (a recovered run read them before).
    pub fn new(program: &Program, limit: usize, skip: u64) -> Stage {
        Stage {
            lines: Lines::new(limit),
            decoder: Decoder::new(program),
            limit,
            line_no: 0,
            skip,
            spare: Vec::new(),
        }
    }

    /// A batch that has been processed, emptied to be filled again (its
    /// buffers are kept, so a long input does not allocate them anew for
    /// every chunk).
    pub fn recycle(&mut self, mut b: Batch) {
        if self.spare.len() < SPARE {
            b.items.clear();
            b.text.clear();
            b.lines = 0;
            b.read = 0;
            self.spare.push(b);
        }
    }

    /// The lines `chunk` completes.
    pub fn chunk(&mut self, chunk: &[u8]) -> Batch {
        let mut batch = self.spare.pop().unwrap_or_default();
        let mut sink = Sink {
            batch: &mut batch,
            decoder: &mut self.decoder,
            line_no: &mut self.line_no,
            skip: self.skip,
            limit: self.limit,
        };
        let _ = self.lines.feed(chunk, |kind, text| sink.line(kind, text));
        batch.lines = self.line_no;
        batch
    }

    /// The end of the input: its last line if it had no line break.
    pub fn end(&mut self) -> Batch {
        let mut batch = self.spare.pop().unwrap_or_default();
        let mut sink = Sink {
            batch: &mut batch,
            decoder: &mut self.decoder,
            line_no: &mut self.line_no,
            skip: self.skip,
            limit: self.limit,
        };
        let _ = self.lines.end(|kind, text| sink.line(kind, text));
        batch.lines = self.line_no;
        batch
    }
}

struct Sink<'a> {
    batch: &'a mut Batch,
    decoder: &'a mut Decoder,
    line_no: &'a mut u64,
    skip: u64,
    limit: usize,
}

impl Sink<'_> {
    fn line(&mut self, kind: Line, text: &[u8]) -> Result<(), std::convert::Infallible> {
        *self.line_no += 1;
        let line = *self.line_no;
        if line <= self.skip {
            return Ok(());
        }
        self.batch.read += 1;
        let (what, text) = if kind == Line::Oversized {
            (Decoded::Rejected(oversized(self.limit)), text)
        } else {
            let text: &[u8] = match text.strip_prefix(b"\xEF\xBB\xBF") {
                Some(rest) if line == 1 => rest,
                _ => text,
            };
            match self.decoder.decode(text, line) {
                Ok(None) => return Ok(()),
                Ok(Some(event)) => (
                    Decoded::Event {
                        event,
                        sequence: self.decoder.take_sequence(),
                    },
                    text,
                ),
                Err(r) => (Decoded::Rejected(r), text),
            }
        };
        let start = self.batch.text.len();
        self.batch.text.extend_from_slice(text);
        self.batch.items.push(Item {
            line,
            latest: self.decoder.latest(),
            text: start..self.batch.text.len(),
            what,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::program;

    /// Split anywhere, the chunks give the lines the whole input gives:
    /// numbers, texts, rejections, latest times, skipped lines counted.
    #[test]
    fn batches_do_not_depend_on_where_chunks_split() {
        let input: &[u8] = b"\xEF\xBB\xBF{\"type\":\"Temperature\",\"sensor\":\"A\",\"celsius\":1,\"at\":5}\n\
            \n\
            not json\n\
            {\"type\":\"Temperature\",\"sensor\":\"B\",\"celsius\":2,\"at\":9}\r\n\
            {\"type\":\"Temperature\",\"sensor\":\"a-very-long-sensor-name-indeed\",\"celsius\":3,\"at\":1}\n\
            {\"type\":\"Temperature\",\"sensor\":\"C\",\"celsius\":4,\"at\":7}";
        let p = program();
        let whole = |skip| {
            let mut s = Stage::new(&p, 64, skip);
            let mut b = vec![s.chunk(input)];
            b.push(s.end());
            summary(&b)
        };
        let all = whole(0);
        assert_eq!(
            all.iter().map(|l| l.0).collect::<Vec<_>>(),
            vec![1, 3, 4, 5, 6],
            "{all:?}"
        );
        assert_eq!(
            all[0].1,
            br#"{"type":"Temperature","sensor":"A","celsius":1,"at":5}"#.to_vec()
        );
        assert!(all[1].2.starts_with("rejected"), "{all:?}");
        let big = oversized(64);
        assert_eq!(
            all[3].2,
            format!(
                "rejected {} {} latest Some(9)",
                big.reason.as_str(),
                big.detail
            )
        );
        assert!(all[4].2.ends_with("latest Some(9)"), "{all:?}");
        assert!(all[0].2.ends_with("latest Some(5)"), "{all:?}");
        assert_eq!(all[3].1.len(), 65);
        for cut in 0..input.len() {
            let mut s = Stage::new(&p, 64, 0);
            let mut b = vec![s.chunk(&input[..cut]), s.chunk(&input[cut..])];
            b.push(s.end());
            assert_eq!(summary(&b), all, "cut at {cut}");
            assert_eq!(b.last().map(|b| b.lines), Some(6));
            assert_eq!(b.iter().map(|b| b.read).sum::<u64>(), 6);
        }
        // Batches given back are filled from empty: cut into pieces of
        // 7 bytes, each batch recycled once summarised.
        let mut s = Stage::new(&p, 64, 0);
        let mut pieces = Vec::new();
        for c in input.chunks(7) {
            let b = s.chunk(c);
            pieces.extend(summary(std::slice::from_ref(&b)));
            s.recycle(b);
        }
        pieces.extend(summary(&[s.end()]));
        assert_eq!(pieces, all);
        // Skipped lines are not decoded: the latest time starts again.
        let skipped = whole(4);
        assert_eq!(
            skipped
                .iter()
                .map(|l| (l.0, l.1.clone()))
                .collect::<Vec<_>>(),
            all[3..]
                .iter()
                .map(|l| (l.0, l.1.clone()))
                .collect::<Vec<_>>()
        );
        assert!(skipped[0].2.ends_with("latest None"), "{skipped:?}");
        assert!(skipped[1].2.ends_with("latest Some(7)"), "{skipped:?}");
    }

    type Line = (u64, Vec<u8>, String);

    fn summary(batches: &[Batch]) -> Vec<Line> {
        let mut out = Vec::new();
        for b in batches {
            for i in &b.items {
                let what = match &i.what {
                    Decoded::Event { event, .. } => format!("event {:?}", event.fields),
                    Decoded::Rejected(r) => format!("rejected {} {}", r.reason.as_str(), r.detail),
                };
                out.push((
                    i.line,
                    b.text_of(i).to_vec(),
                    format!("{what} latest {:?}", i.latest),
                ));
            }
        }
        out
    }
}
