//! What a peer (`cep run --peer`) keeps across restarts, in the durable
//! store's tables `peer_lives` and `peer_emitted` (same file and schema as
//! [`crate::Store`]).
//!
//! Per instance name: its incarnation (one more at every start, so run
//! ids of a new life never repeat an old one's), how far its input was
//! processed (a restart resumes after that line), and every complex
//! event it decided to write, with the run's final state (the protocol's
//! `Restored`: the emitted marks, and the completions to share again),
//! the output length before it, and the line itself. Write-ahead: the
//! edge records a batch here and commits ([`PeerStore::record`]) before
//! it writes the lines, so a line is never written twice; a line recorded
//! and not yet written when the process died is written at the next start
//! ([`Life::unwritten`]), so none is lost either.

use crate::store::{connect, StoreError};
use rusqlite::{params, Connection};
use std::path::Path;

/// One complex event decided: its run's name and stored entry (the
/// protocol's encoding of the run and its final state), the output's
/// length before its line (bytes), and the line (with its newline).
pub struct Emitted {
    /// The run's name (`A-Up-1.7`).
    pub run: String,
    /// `cep_runtime::peer::wire::encode_entry` of the run and its state.
    pub entry: Vec<u8>,
    /// The output's length before the line, bytes.
    pub at: u64,
    /// The line, with its newline.
    pub line: Vec<u8>,
}

/// What a start finds.
pub struct Life {
    /// This life's incarnation: 1 on the first start, then one more each
    /// time.
    pub incarnation: u32,
    /// The input lines processed in earlier lives (0 on the first start).
    pub position: u64,
    /// Every complex event written in earlier lives, in output order;
    /// the line itself only where the output (of the length given to
    /// [`PeerStore::open`]) does not hold it whole, empty elsewhere.
    pub emitted: Vec<Emitted>,
    /// The latest state of every run this instance made a change to
    /// (the protocol's encoding), by run name.
    pub runs: Vec<(String, Vec<u8>)>,
}

impl Life {
    /// The lines recorded but not in an output of `len` bytes (the
    /// process died between the commit and the write), and the length to
    /// cut the output to first when its last line is torn. `None` when
    /// the output is longer than anything recorded would explain (another
    /// file): nothing is cut then.
    pub fn unwritten(&self, len: u64) -> (Option<u64>, Vec<&Emitted>) {
        let missing: Vec<&Emitted> = self
            .emitted
            .iter()
            .filter(|e| !e.line.is_empty() && e.at + e.line.len() as u64 > len)
            .collect();
        let cut = missing.first().map(|e| e.at).filter(|&at| at < len);
        (cut, missing)
    }
}

/// One instance's peer tables in an open store (see the module docs).
pub struct PeerStore {
    conn: Connection,
    name: String,
    instance: String,
}

impl PeerStore {
    /// Opens the store at `path` for instance `instance` and starts a new
    /// life: the incarnation is one more than the last one stored.
    /// Errors: the file cannot be opened or migrated; it was used by this
    /// instance with other rules (`program_hash`) or another input.
    pub fn open(
        path: &Path,
        instance: &str,
        program_hash: &str,
        input: &str,
        output_len: u64,
    ) -> Result<(PeerStore, Life), StoreError> {
        let name = path.display().to_string();
        let mut conn = connect(path)?;
        let err = |what: &str, e: &dyn std::fmt::Display| {
            StoreError(format!("store `{name}`: {what}: {e}"))
        };
        let tx = conn
            .transaction()
            .map_err(|e| err("cannot begin a transaction", &e))?;
        let found: Option<(String, String, u32, i64)> = tx
            .query_row(
                "SELECT program_hash, input, incarnation, position FROM peer_lives
                 WHERE instance = ?1",
                params![instance],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .ok();
        let (incarnation, position) = match found {
            Some((hash, _, _, _)) if hash != program_hash => {
                return Err(StoreError(format!(
                    "store `{name}`: instance `{instance}` ran other rules with it; \
                     give another --store (or the rules it ran)"
                )))
            }
            Some((_, was, _, _)) if was != input => {
                return Err(StoreError(format!(
                    "store `{name}`: instance `{instance}` read {was} with it, not {input}; \
                     give another --store"
                )))
            }
            Some((_, _, inc, pos)) => (inc.saturating_add(1), u64::try_from(pos).unwrap_or(0)),
            None => (1, 0),
        };
        tx.execute(
            "INSERT INTO peer_lives (instance, program_hash, input, incarnation, position)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (instance) DO UPDATE SET incarnation = excluded.incarnation",
            params![instance, program_hash, input, incarnation, position as i64],
        )
        .map_err(|e| err("cannot record the start", &e))?;
        let emitted = {
            let mut q = tx
                .prepare(
                    "SELECT run, entry, at,
                            CASE WHEN at + length(line) > ?2 THEN line ELSE x'' END
                     FROM peer_emitted WHERE instance = ?1 ORDER BY at",
                )
                .map_err(|e| err("cannot read what was written", &e))?;
            let rows = q
                .query_map(params![instance, output_len as i64], |r| {
                    Ok(Emitted {
                        run: r.get(0)?,
                        entry: r.get(1)?,
                        at: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        line: r.get(3)?,
                    })
                })
                .map_err(|e| err("cannot read what was written", &e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("cannot read what was written", &e))?
        };
        let runs = {
            let mut q = tx
                .prepare("SELECT run, entry FROM peer_runs WHERE instance = ?1")
                .map_err(|e| err("cannot read the run states", &e))?;
            let rows = q
                .query_map(params![instance], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| err("cannot read the run states", &e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("cannot read the run states", &e))?
        };
        tx.commit()
            .map_err(|e| err("cannot commit the start", &e))?;
        Ok((
            PeerStore {
                conn,
                name,
                instance: instance.to_string(),
            },
            Life {
                incarnation,
                position,
                emitted,
                runs,
            },
        ))
    }

    /// Records, in one transaction that is durable when this returns, the
    /// input processed up to line `position`, the complex events decided
    /// and the run states made since the last call (`runs`: name and
    /// entry; a later state of a run replaces the earlier; `gone`: runs
    /// to forget, finished long enough ago that no peer can bring them
    /// back). Errors name the store.
    pub fn record(
        &mut self,
        position: u64,
        emitted: &[Emitted],
        runs: &[(String, Vec<u8>)],
        gone: &[String],
    ) -> Result<(), StoreError> {
        let name = &self.name;
        let err = |what: &str, e: &dyn std::fmt::Display| {
            StoreError(format!("store `{name}`: {what}: {e}"))
        };
        let tx = self
            .conn
            .transaction()
            .map_err(|e| err("cannot begin a transaction", &e))?;
        write_rows(&tx, &self.instance, position, emitted, runs, gone)
            .map_err(|(w, e)| err(w, &e))?;
        tx.commit().map_err(|e| err("cannot commit", &e))
    }

    /// As [`PeerStore::record`], but into the open transaction of the step
    /// store `steps` (the same file), and commits it: the step records
    /// the scheduler gave for these complex events become durable in the
    /// same transaction as the marks and the input position, so a crash
    /// cannot keep one without the other.
    pub fn record_with(
        &mut self,
        steps: &mut crate::Store,
        position: u64,
        emitted: &[Emitted],
        runs: &[(String, Vec<u8>)],
        gone: &[String],
    ) -> Result<(), StoreError> {
        let instance = self.instance.clone();
        steps.within(|c| write_rows(c, &instance, position, emitted, runs, gone))?;
        steps.commit()
    }
}

/// The rows of one [`PeerStore::record`], into `c`'s open transaction;
/// an error says what could not be written.
fn write_rows(
    c: &Connection,
    instance: &str,
    position: u64,
    emitted: &[Emitted],
    runs: &[(String, Vec<u8>)],
    gone: &[String],
) -> Result<(), (&'static str, rusqlite::Error)> {
    let at = |w: &'static str| move |e| (w, e);
    {
        let mut ins = c
            .prepare_cached(
                "INSERT OR IGNORE INTO peer_emitted (instance, run, entry, at, line)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(at("cannot record a complex event"))?;
        for e in emitted {
            ins.execute(params![instance, e.run, e.entry, e.at as i64, e.line])
                .map_err(at("cannot record a complex event"))?;
        }
    }
    {
        let mut up = c
            .prepare_cached(
                "INSERT INTO peer_runs (instance, run, entry) VALUES (?1, ?2, ?3)
                 ON CONFLICT (instance, run) DO UPDATE SET entry = excluded.entry",
            )
            .map_err(at("cannot record a run state"))?;
        for (run, entry) in runs {
            up.execute(params![instance, run, entry])
                .map_err(at("cannot record a run state"))?;
        }
        let mut del = c
            .prepare_cached("DELETE FROM peer_runs WHERE instance = ?1 AND run = ?2")
            .map_err(at("cannot forget a run state"))?;
        for run in gone {
            del.execute(params![instance, run])
                .map_err(at("cannot forget a run state"))?;
        }
    }
    c.execute(
        "UPDATE peer_lives SET position = max(position, ?2) WHERE instance = ?1",
        params![instance, position as i64],
    )
    .map_err(at("cannot record the input position"))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn line(run: &str, at: u64, text: &str) -> Emitted {
        Emitted {
            run: run.into(),
            entry: vec![1, 2, 3],
            at,
            line: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lives_count_up_and_keep_what_was_written() {
        let dir = std::env::temp_dir().join(format!("cep-peer-store-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let (mut s, life) = PeerStore::open(&dir, "A", "h1", "`in`", 0).unwrap();
        assert_eq!(
            (life.incarnation, life.position, life.emitted.len()),
            (1, 0, 0)
        );
        let st = |n: &str, b: u8| (n.to_string(), vec![b]);
        s.record(
            3,
            &[line("A-P-1.1", 0, "one\n"), line("A-P-1.2", 4, "two\n")],
            &[st("A-P-1.1", 1), st("A-P-1.3", 1)],
            &[],
        )
        .unwrap();
        // Recorded twice (a retry): kept once; a later state replaces one,
        // a run forgotten.
        s.record(
            2,
            &[line("A-P-1.2", 4, "two\n")],
            &[st("A-P-1.3", 2)],
            &["A-P-1.1".into()],
        )
        .unwrap();
        drop(s);
        // The output has the first line and half the second: cut to 4,
        // write the second again; the first line is not even read.
        let (_, life) = PeerStore::open(&dir, "A", "h1", "`in`", 6).unwrap();
        assert_eq!((life.incarnation, life.position), (2, 3));
        assert_eq!(life.emitted.len(), 2);
        assert!(life.emitted[0].line.is_empty());
        assert_eq!(life.runs, vec![st("A-P-1.3", 2)]);
        let (cut, missing) = life.unwritten(6);
        assert_eq!(cut, Some(4));
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].run, "A-P-1.2");
        // Both written: nothing to read, nothing to do.
        let (_, life) = PeerStore::open(&dir, "A", "h1", "`in`", 8).unwrap();
        assert!(life.emitted.iter().all(|e| e.line.is_empty()));
        assert_eq!(life.unwritten(8).1.len(), 0);
        // Another instance in the same file starts its own count.
        let (_, other) = PeerStore::open(&dir, "B", "h1", "`in`", 0).unwrap();
        assert_eq!(other.incarnation, 1);
        // Other rules: refused, naming the instance.
        let e = PeerStore::open(&dir, "A", "h2", "`in`", 0).err().unwrap();
        assert!(e.0.contains("instance `A` ran other rules"), "{}", e.0);
        let e = PeerStore::open(&dir, "A", "h1", "`other`", 0)
            .err()
            .unwrap();
        assert!(e.0.contains("read `in`"), "{}", e.0);
        let _ = std::fs::remove_file(&dir);
    }
}
