//! The durable store: SQLite (rusqlite, bundled), in WAL mode, its schema
//! kept by rusqlite_migration.
//!
//! A store holds runs of programs. A run records the program's hash
//! ([`cep_ir::Program::program_hash`]), its input and how far it was read;
//! each step run, its status, attempt and due time; each attempt and how
//! it ended; the events each sequence has seen; the resource units a step
//! run holds. The edge writes the scheduler's records into the open
//! transaction ([`Store::apply`]) and commits ([`Store::commit`]) before it
//! acts on anything the records allow (before a process is started, so
//! `active` is durable first): killed at any instant, the store says what
//! was decided.

use cep_ir::{Program, Status};
use cep_runtime::{Event, Outcome, Record};
use rusqlite::{params, Connection};
use rusqlite_migration::{Migrations, M};
use std::path::Path;

/// The schema, one migration per version (never edited once released).
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        "CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            program_hash TEXT NOT NULL,
            started_ms INTEGER NOT NULL,
            input TEXT NOT NULL,
            input_lines INTEGER NOT NULL DEFAULT 0,
            ended_ms INTEGER,
            outcome TEXT
        );
        CREATE TABLE step_runs (
            run_id TEXT NOT NULL REFERENCES runs(id),
            id INTEGER NOT NULL,
            step TEXT NOT NULL,
            sequence TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            created_ms INTEGER NOT NULL,
            due_ms INTEGER,
            updated_ms INTEGER NOT NULL,
            triggers TEXT NOT NULL,
            PRIMARY KEY (run_id, id),
            UNIQUE (run_id, step, sequence)
        );
        CREATE TABLE attempts (
            run_id TEXT NOT NULL,
            step_run INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            started_ms INTEGER NOT NULL,
            ended_ms INTEGER,
            outcome TEXT,
            exit_code INTEGER,
            http_status INTEGER,
            detail TEXT,
            timed_out INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, step_run, attempt)
        );
        CREATE TABLE seen (
            run_id TEXT NOT NULL,
            sequence TEXT NOT NULL,
            event TEXT NOT NULL,
            fields TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            PRIMARY KEY (run_id, sequence, event)
        );
        CREATE TABLE holdings (
            run_id TEXT NOT NULL,
            step_run INTEGER NOT NULL,
            resource TEXT NOT NULL,
            units INTEGER NOT NULL,
            PRIMARY KEY (run_id, step_run, resource)
        );",
    )])
}

/// An error of the store, as a sentence naming the file.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Store {
    conn: Connection,
    name: String,
    run_id: String,
    program: std::sync::Arc<Program>,
    /// A transaction is open.
    open: bool,
    /// The step of each step run, by run id.
    steps: std::collections::HashMap<u64, usize>,
}

impl Store {
    /// Opens (or creates) the store at `path` (`:memory:` for one that
    /// lives only as long as the process), brings its schema up to date,
    /// and starts a new run of `program` in it.
    pub fn open(
        path: &Path,
        program: std::sync::Arc<Program>,
        input: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let err = |what: &str, e: &dyn std::fmt::Display| {
            StoreError(format!("store `{name}`: {what}: {e}"))
        };
        let mut conn = if path == Path::new(":memory:") {
            Connection::open_in_memory()
        } else {
            Connection::open(path)
        }
        .map_err(|e| err("cannot open it", &e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| err("cannot set WAL mode", &e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| err("cannot set synchronous mode", &e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| err("cannot turn on foreign keys", &e))?;
        conn.set_prepared_statement_cache_capacity(32);
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| err("cannot bring its schema up to date", &e))?;
        conn.execute(
            "INSERT INTO runs (id, program_hash, started_ms, input) VALUES (?1, ?2, ?3, ?4)",
            params![run_id, program.program_hash(), now_ms, input],
        )
        .map_err(|e| err("cannot start a run", &e))?;
        Ok(Store {
            conn,
            name,
            run_id: run_id.to_string(),
            program,
            open: false,
            steps: std::collections::HashMap::new(),
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError(format!("store `{}`: {e}", self.name))
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if !self.open {
            exec(&self.conn, "BEGIN IMMEDIATE", []).map_err(|e| self.err(e))?;
            self.open = true;
        }
        Ok(())
    }

    /// Makes everything applied so far durable.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.open {
            exec(&self.conn, "COMMIT", []).map_err(|e| self.err(e))?;
            self.open = false;
        }
        Ok(())
    }

    /// The run has read `lines` input lines.
    pub fn input_lines(&mut self, lines: u64) -> Result<(), StoreError> {
        self.begin()?;
        let lines = i64::try_from(lines).unwrap_or(i64::MAX);
        exec(
            &self.conn,
            "UPDATE runs SET input_lines = ?2 WHERE id = ?1",
            params![self.run_id, lines],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The run ended (`success`, `failure`, `stopped by SIGINT`, ...).
    pub fn end_run(&mut self, outcome: &str, now_ms: i64) -> Result<(), StoreError> {
        self.begin()?;
        self.conn
            .execute(
                "UPDATE runs SET ended_ms = ?2, outcome = ?3 WHERE id = ?1",
                params![self.run_id, now_ms, outcome],
            )
            .map_err(|e| self.err(e))?;
        self.commit()
    }

    /// Writes one record of the scheduler into the open transaction.
    pub fn apply(&mut self, r: &Record) -> Result<(), StoreError> {
        self.begin()?;
        let run_id = self.run_id.clone();
        let c = &self.conn;
        let res = match r {
            Record::Seen {
                sequence,
                event,
                time,
            } => exec(
                c,
                "INSERT OR IGNORE INTO seen (run_id, sequence, event, fields, time_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run_id,
                    &**sequence,
                    self.event_name(event.ty),
                    fields_json(event),
                    time
                ],
            ),
            Record::Created {
                run,
                step,
                sequence,
                time,
                triggers,
                due,
            } => {
                self.steps.insert(*run, *step as usize);
                let name = self
                    .program
                    .steps
                    .get(*step as usize)
                    .map_or("?", |s| s.name.as_str());
                let triggers: Vec<serde_json::Value> = triggers
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "type": self.event_name(e.ty),
                            "fields": fields_value(e),
                        })
                    })
                    .collect();
                exec(
                    c,
                    "INSERT INTO step_runs (run_id, id, step, sequence, status, created_ms, due_ms,
                                            updated_ms, triggers)
                     VALUES (?1, ?2, ?3, ?4, 'ready', ?5, ?6, ?5, ?7)",
                    params![
                        run_id,
                        id(*run),
                        name,
                        &**sequence,
                        time,
                        due,
                        serde_json::Value::Array(triggers).to_string()
                    ],
                )
            }
            Record::Granted { run, time } => {
                let step = self.steps.get(run).copied();
                let mut res = exec(
                    c,
                    "UPDATE step_runs SET status = 'active', due_ms = NULL, updated_ms = ?3
                     WHERE run_id = ?1 AND id = ?2",
                    params![run_id, id(*run), time],
                );
                if let Some(s) = step.and_then(|s| self.program.steps.get(s)) {
                    for a in &s.acquire {
                        let name = self
                            .program
                            .resources
                            .get(a.resource as usize)
                            .map_or("?", |r| r.name.as_str());
                        let units = i64::try_from(a.units).unwrap_or(i64::MAX);
                        if res.is_ok() {
                            res = exec(
                                c,
                                "INSERT INTO holdings (run_id, step_run, resource, units)
                                 VALUES (?1, ?2, ?3, ?4)",
                                params![run_id, id(*run), name, units],
                            );
                        }
                    }
                }
                res
            }
            Record::Attempt { run, attempt, time } => exec(
                c,
                "UPDATE step_runs SET attempt = ?3, due_ms = NULL, updated_ms = ?4
                 WHERE run_id = ?1 AND id = ?2",
                params![run_id, id(*run), attempt, time],
            )
            .and_then(|_| {
                exec(
                    c,
                    "INSERT INTO attempts (run_id, step_run, attempt, started_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                    params![run_id, id(*run), attempt, time],
                )
            }),
            Record::AttemptEnded {
                run,
                attempt,
                time,
                outcome,
                timed_out,
                retry_at,
            } => {
                let (word, exit, http, detail) = match outcome {
                    Outcome::Success => ("success", None, None, None),
                    Outcome::Failure { exit, http, detail } => {
                        ("failure", *exit, http.map(i64::from), Some(detail.as_str()))
                    }
                };
                exec(
                    c,
                    "UPDATE attempts SET ended_ms = ?4, outcome = ?5, exit_code = ?6,
                        http_status = ?7, detail = ?8, timed_out = ?9
                     WHERE run_id = ?1 AND step_run = ?2 AND attempt = ?3",
                    params![
                        run_id,
                        id(*run),
                        attempt,
                        time,
                        word,
                        exit,
                        http,
                        detail,
                        timed_out
                    ],
                )
                .and_then(|_| {
                    exec(
                        c,
                        "UPDATE step_runs SET due_ms = ?3, updated_ms = ?4
                         WHERE run_id = ?1 AND id = ?2",
                        params![run_id, id(*run), retry_at, time],
                    )
                })
            }
            Record::Ended {
                run,
                status,
                time,
                unhandled: _,
            } => exec(
                c,
                "UPDATE step_runs SET status = ?3, due_ms = NULL, updated_ms = ?4
                 WHERE run_id = ?1 AND id = ?2",
                params![run_id, id(*run), status_word(*status), time],
            )
            .and_then(|_| {
                exec(
                    c,
                    "DELETE FROM holdings WHERE run_id = ?1 AND step_run = ?2",
                    params![run_id, id(*run)],
                )
            }),
        };
        res.map(|_| ()).map_err(|e| self.err(e))
    }

    fn event_name(&self, ty: u32) -> &str {
        self.program
            .events
            .get(ty as usize)
            .map_or("?", |e| e.name.as_str())
    }

    /// Step runs of this run by status, for tests and `cep runs`:
    /// `(step, sequence, status, attempt)` in creation order.
    pub fn step_runs(&self) -> Result<Vec<(String, String, String, u32)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT step, sequence, status, attempt FROM step_runs WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![self.run_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// A statement through the connection's cache of prepared statements.
fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

fn id(run: u64) -> i64 {
    i64::try_from(run).unwrap_or(i64::MAX)
}

fn status_word(s: Status) -> &'static str {
    s.name()
}

fn fields_value(e: &Event) -> serde_json::Value {
    serde_json::Value::Array(e.fields.iter().map(cep_runtime::steps::json).collect())
}

fn fields_json(e: &Event) -> String {
    fields_value(e).to_string()
}
