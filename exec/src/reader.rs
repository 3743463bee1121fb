//! Reading a step store without starting a run in it: what `cep runs`
//! shows.

use crate::store::StoreError;
use rusqlite::{params, Connection};
use std::path::Path;

/// A run as `cep runs` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    pub program_hash: String,
    pub input: String,
    pub input_lines: i64,
    pub recoveries: i64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub outcome: Option<String>,
    /// Step runs by status: (status, count), by status name.
    pub statuses: Vec<(String, i64)>,
}

/// A step run as `cep runs --run-id` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub sequence: String,
    pub step: String,
    pub status: String,
    pub attempt: i64,
    pub due_ms: Option<i64>,
    pub updated_ms: i64,
    /// The last attempt's outcome detail, when it failed.
    pub detail: Option<String>,
}

/// Reading a store without starting a run in it (`cep runs`).
pub struct Reader {
    conn: Connection,
    name: String,
}

impl Reader {
    /// Opens an existing store read-only.
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(StoreError(format!("store `{name}`: no such file")));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError(format!("store `{name}`: cannot open it: {e}")))?;
        Ok(Reader { conn, name })
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError(format!("store `{}`: {e}", self.name))
    }

    /// Every run, the latest first.
    pub fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, program_hash, input, input_lines, recoveries, started_ms, ended_ms, outcome
                 FROM runs ORDER BY started_ms DESC, rowid DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    program_hash: r.get(1)?,
                    input: r.get(2)?,
                    input_lines: r.get(3)?,
                    recoveries: r.get(4)?,
                    started_ms: r.get(5)?,
                    ended_ms: r.get(6)?,
                    outcome: r.get(7)?,
                    statuses: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?;
        let mut runs = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT status, count(*) FROM step_runs WHERE run_id = ?1 GROUP BY status ORDER BY status",
            )
            .map_err(|e| self.err(e))?;
        for r in &mut runs {
            let rows = st
                .query_map(params![r.id], |x| Ok((x.get(0)?, x.get(1)?)))
                .map_err(|e| self.err(e))?;
            r.statuses = rows
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
        }
        Ok(runs)
    }

    /// The step runs of run `id`, by sequence, then creation.
    pub fn step_runs(&self, id: &str) -> Result<Vec<StepRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.sequence, s.step, s.status, s.attempt, s.due_ms, s.updated_ms,
                        (SELECT a.detail FROM attempts a
                          WHERE a.run_id = s.run_id AND a.step_run = s.id AND a.outcome = 'failure'
                          ORDER BY a.recovery DESC, a.attempt DESC LIMIT 1)
                 FROM step_runs s WHERE s.run_id = ?1 ORDER BY s.sequence, s.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(StepRow {
                    sequence: r.get(0)?,
                    step: r.get(1)?,
                    status: r.get(2)?,
                    attempt: r.get(3)?,
                    due_ms: r.get(4)?,
                    updated_ms: r.get(5)?,
                    detail: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
