//! Input chunks (as a reader gives them) to lines, holding at most `limit + 1` bytes of a line
//! however long it is (the rest of a longer line is dropped, and the line
//! is reported as oversized). A `\r` before the `\n` is kept (JSON takes it
//! as white space). A line may span chunks.

/// A line, and whether it was longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    Full,
    /// Longer than the limit: the text is its first `limit + 1` bytes.
    Oversized,
}

/// Splits chunks of input into lines: see the module docs.
#[derive(Debug)]
pub struct Lines {
    limit: usize,
    /// The start of a line whose end has not come yet.
    partial: Vec<u8>,
    /// The partial line is already over the limit.
    over: bool,
}

impl Lines {
    /// Lines of at most `limit` bytes (without the line break); longer
    /// ones are [`Line::Oversized`].
    pub fn new(limit: usize) -> Lines {
        Lines {
            limit,
            partial: Vec::new(),
            over: false,
        }
    }

    /// Every line that `chunk` completes, in order, to `f`; stops at the
    /// first error `f` gives.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        mut f: impl FnMut(Line, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let piece = chunk.get(start..nl).unwrap_or(&[]);
            start = nl + 1;
            if self.partial.is_empty() && !self.over {
                if piece.len() <= self.limit {
                    f(Line::Full, piece)?;
                } else {
                    f(Line::Oversized, piece.get(..=self.limit).unwrap_or(piece))?;
                }
                continue;
            }
            self.take(piece);
            let kind = if self.over {
                Line::Oversized
            } else {
                Line::Full
            };
            let r = f(kind, &self.partial);
            self.partial.clear();
            self.over = false;
            r?;
        }
        self.take(chunk.get(start..).unwrap_or(&[]));
        Ok(())
    }

    /// The end of the input: a last line without a line break, if any.
    pub fn end<E>(&mut self, mut f: impl FnMut(Line, &[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.partial.is_empty() && !self.over {
            return Ok(());
        }
        let kind = if self.over {
            Line::Oversized
        } else {
            Line::Full
        };
        let r = f(kind, &self.partial);
        self.partial.clear();
        self.over = false;
        r
    }

    /// Adds to the partial line, keeping at most `limit + 1` bytes.
    fn take(&mut self, piece: &[u8]) {
        if self.over {
            return;
        }
        let room = (self.limit + 1).saturating_sub(self.partial.len());
        if piece.len() > room {
            self.partial
                .extend_from_slice(piece.get(..room).unwrap_or(piece));
            self.over = true;
        } else {
            self.partial.extend_from_slice(piece);
            if self.partial.len() > self.limit {
                self.over = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], limit: usize) -> Vec<(Line, Vec<u8>)> {
        let mut l = Lines::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            l.feed::<()>(c, |k, t| {
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
    fn lines_across_chunks_and_over_the_limit() {
        use Line::*;
        assert_eq!(
            split(&[b"ab\ncd", b"ef\n", b"\n", b"g"], 10),
            vec![
                (Full, b"ab".to_vec()),
                (Full, b"cdef".to_vec()),
                (Full, b"".to_vec()),
                (Full, b"g".to_vec())
            ]
        );
        assert_eq!(
            split(&[b"abcdef\nxy\r\n"], 3),
            vec![(Oversized, b"abcd".to_vec()), (Full, b"xy\r".to_vec())]
        );
        // Over the limit only once the chunks are put together, and a
        // line of exactly the limit.
        assert_eq!(
            split(&[b"ab", b"cd", b"ef", b"\nabc\n"], 3),
            vec![(Oversized, b"abcd".to_vec()), (Full, b"abc".to_vec())]
        );
        assert_eq!(split(&[b"abcd"], 3), vec![(Oversized, b"abcd".to_vec())]);
        assert_eq!(split(&[b""], 3), vec![]);
    }
}
