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
use cep_runtime::steps::Stored;
use cep_runtime::{Event, Outcome, Record, Value};
use rusqlite::{params, Connection};
use rusqlite_migration::{Migrations, M};
use std::path::Path;

/// The schema, one migration per version (never edited once released).
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            program_hash TEXT NOT NULL,
            started_ms INTEGER NOT NULL,
            input TEXT NOT NULL,
            input_lines INTEGER NOT NULL DEFAULT 0,
            recoveries INTEGER NOT NULL DEFAULT 0,
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
            recovery INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            started_ms INTEGER NOT NULL,
            ended_ms INTEGER,
            outcome TEXT,
            exit_code INTEGER,
            http_status INTEGER,
            detail TEXT,
            timed_out INTEGER NOT NULL DEFAULT 0,
            process_group INTEGER,
            PRIMARY KEY (run_id, step_run, recovery, attempt)
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
        ),
        // Peers (`crate::peer_store`): one row per instance name, the
        // complex events each has written, the run states it made.
        M::up(
            "CREATE TABLE peer_lives (
            instance TEXT PRIMARY KEY,
            program_hash TEXT NOT NULL,
            input TEXT NOT NULL,
            incarnation INTEGER NOT NULL,
            position INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE peer_emitted (
            instance TEXT NOT NULL,
            run TEXT NOT NULL,
            entry BLOB NOT NULL,
            at INTEGER NOT NULL,
            line BLOB NOT NULL,
            PRIMARY KEY (instance, run)
        );
        CREATE TABLE peer_runs (
            instance TEXT NOT NULL,
            run TEXT NOT NULL,
            entry BLOB NOT NULL,
            PRIMARY KEY (instance, run)
        );",
        ),
    ])
}

/// Opens (or makes) the store at `path` with its schema up to date:
/// WAL, synchronous FULL, foreign keys on.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let name = path.display().to_string();
    let err =
        |what: &str, e: &dyn std::fmt::Display| StoreError(format!("store `{name}`: {what}: {e}"));
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
    Ok(conn)
}

/// An error of the store, as a sentence naming the file.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store opened for a run.
pub struct Opened {
    pub store: Store,
    /// What an earlier run left, when one was taken up.
    pub resumed: Option<Resumed>,
}

/// An earlier run, as the store kept it.
pub struct Resumed {
    /// Input lines it had read: a recovery skips them.
    pub input_lines: u64,
    /// What each sequence had seen.
    pub seen: Vec<(std::sync::Arc<str>, std::sync::Arc<Event>)>,
    pub runs: Vec<Stored>,
    /// Process groups of attempts that had started and not ended: a killed
    /// `cep` may have left them running.
    pub orphans: Vec<i32>,
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
    /// How many times this run was recovered (0 in its first life).
    recovery: u32,
    /// Step runs created in the open transaction: their rows are written
    /// once, in their last state, when it commits (a run created and ended
    /// in one transaction costs one insert, not one statement a record).
    pending_runs: std::collections::BTreeMap<u64, PendingRun>,
    /// Attempts started in the open transaction, likewise.
    pending_attempts: std::collections::BTreeMap<(u64, u32), PendingAttempt>,
}

/// A step run's row, not yet written.
struct PendingRun {
    step: String,
    sequence: String,
    status: &'static str,
    attempt: u32,
    created: i64,
    due: Option<i64>,
    updated: i64,
    triggers: String,
    /// It holds its resources (written to `holdings`).
    holds: bool,
}

/// An attempt's row, not yet written.
#[derive(Default)]
struct PendingAttempt {
    started: i64,
    ended: Option<i64>,
    outcome: Option<&'static str>,
    exit: Option<i32>,
    http: Option<i64>,
    detail: Option<String>,
    timed_out: bool,
    group: Option<i32>,
}

impl Store {
    /// Opens (or creates) the store at `path` (`:memory:` for one that
    /// lives only as long as the process), brings its schema up to date,
    /// and starts a new run of `program` in it (`resume: None`), or takes
    /// up an earlier one (`Some(run id)`, `Some("")` for the latest):
    /// refused when that run was made by another program. With nothing to
    /// take up, a new run is started and `Opened::resumed` is `None`.
    pub fn open(
        path: &Path,
        program: std::sync::Arc<Program>,
        input: &str,
        run_id: &str,
        resume: Option<&str>,
        now_ms: i64,
    ) -> Result<Opened, StoreError> {
        let name = path.display().to_string();
        let err = |what: &str, e: &dyn std::fmt::Display| {
            StoreError(format!("store `{name}`: {what}: {e}"))
        };
        let conn = connect(path)?;
        let hash = program.program_hash();
        let found: Option<(String, String, i64, u32)> = match resume {
            None => None,
            Some(want) => conn
                .query_row(
                    "SELECT id, program_hash, input_lines, recoveries FROM runs
                     WHERE ?1 = '' OR id = ?1 ORDER BY started_ms DESC, rowid DESC LIMIT 1",
                    params![want],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .ok(),
        };
        if let (Some(want), None) = (resume, &found) {
            if !want.is_empty() {
                return Err(StoreError(format!(
                    "store `{name}` has no run `{want}` (`cep runs --store {name}` lists them)"
                )));
            }
        }
        let mut store = Store {
            conn,
            name: name.clone(),
            run_id: run_id.to_string(),
            program,
            open: false,
            steps: std::collections::HashMap::new(),
            recovery: 0,
            pending_runs: Default::default(),
            pending_attempts: Default::default(),
        };
        let Some((old_id, old_hash, lines, recoveries)) = found else {
            store
                .conn
                .execute(
                    "INSERT INTO runs (id, program_hash, started_ms, input) VALUES (?1, ?2, ?3, ?4)",
                    params![run_id, hash, now_ms, input],
                )
                .map_err(|e| err("cannot start a run", &e))?;
            return Ok(Opened {
                store,
                resumed: None,
            });
        };
        if old_hash != hash {
            return Err(StoreError(format!(
                "store `{name}`: run `{old_id}` was made by another program ({old_hash}; these \
                 rules are {hash}): it cannot be taken up by them; `--mode restart` starts a new run"
            )));
        }
        store.run_id = old_id;
        store.recovery = recoveries + 1;
        store
            .conn
            .execute(
                "UPDATE runs SET recoveries = ?2, ended_ms = NULL, outcome = NULL WHERE id = ?1",
                params![store.run_id, store.recovery],
            )
            .map_err(|e| err("cannot take up the run", &e))?;
        let resumed = store.load(u64::try_from(lines).unwrap_or(0))?;
        Ok(Opened {
            store,
            resumed: Some(resumed),
        })
    }

    /// How many times this run was recovered (`CEP_RECOVERY`).
    pub fn recovery(&self) -> u32 {
        self.recovery
    }

    /// What the run had: its step runs and what each sequence had seen.
    fn load(&mut self, input_lines: u64) -> Result<Resumed, StoreError> {
        let p = self.program.clone();
        let ty_of = |name: &str| p.event_by_name(name);
        let mut seen = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT sequence, event, fields FROM seen WHERE run_id = ?1 ORDER BY rowid",
                )
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![self.run_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (sequence, event, fields) = row.map_err(|e| self.err(e))?;
                if let Some(ev) = ty_of(&event).and_then(|ty| event_of(&p, ty, &fields)) {
                    seen.push((std::sync::Arc::from(sequence), std::sync::Arc::new(ev)));
                }
            }
        }
        let mut runs = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT id, step, sequence, status, attempt, due_ms, triggers FROM step_runs
                     WHERE run_id = ?1 ORDER BY id",
                )
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![self.run_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, u32>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (id, step, sequence, status, attempt, due, triggers) =
                    row.map_err(|e| self.err(e))?;
                let Some(si) = p.steps.iter().position(|s| s.name == step) else {
                    continue;
                };
                let status = match status.as_str() {
                    "ready" => Status::Ready,
                    "active" => Status::Active,
                    "failure" => Status::Failure,
                    // A skipped run counts as a success.
                    _ => Status::Success,
                };
                let triggers: Vec<std::sync::Arc<Event>> =
                    serde_json::from_str::<Vec<serde_json::Value>>(&triggers)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|t| {
                            let ty = ty_of(t["type"].as_str()?)?;
                            event_of(&p, ty, &t["fields"].to_string())
                        })
                        .map(std::sync::Arc::new)
                        .collect();
                let id = u64::try_from(id).unwrap_or(0);
                self.steps.insert(id, si);
                runs.push(Stored {
                    id,
                    step: u32::try_from(si).unwrap_or(u32::MAX),
                    sequence: std::sync::Arc::from(sequence),
                    status,
                    attempt,
                    due,
                    triggers,
                });
            }
        }
        let orphans = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT process_group FROM attempts
                     WHERE run_id = ?1 AND ended_ms IS NULL AND process_group IS NOT NULL",
                )
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![self.run_id], |r| r.get::<_, i32>(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?
        };
        Ok(Resumed {
            input_lines,
            seen,
            runs,
            orphans,
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

    /// Runs `f` on the connection inside the open transaction (begun if
    /// none is): other tables of the same file written atomically with
    /// the step records (`PeerStore::record_with`). Committed by the next
    /// [`Store::commit`].
    pub fn within<E: std::fmt::Display>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<(), (&'static str, E)>,
    ) -> Result<(), StoreError> {
        self.begin()?;
        f(&self.conn).map_err(|(what, e)| StoreError(format!("store `{}`: {what}: {e}", self.name)))
    }

    /// Whether the store at `path` holds a run with this id (opening and
    /// migrating it if need be).
    pub fn has_run(path: &Path, id: &str) -> Result<bool, StoreError> {
        let conn = connect(path)?;
        conn.query_row(
            "SELECT count(*) FROM runs WHERE id = ?1",
            params![id],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(|e| StoreError(format!("store `{}`: {e}", path.display())))
    }

    /// Makes everything applied so far durable.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.open {
            self.flush().map_err(|e| self.err(e))?;
            exec(&self.conn, "COMMIT", []).map_err(|e| self.err(e))?;
            self.open = false;
        }
        Ok(())
    }

    /// Writes the rows of the step runs and attempts made in the open
    /// transaction, in their last state.
    fn flush(&mut self) -> rusqlite::Result<()> {
        let runs = std::mem::take(&mut self.pending_runs);
        let attempts = std::mem::take(&mut self.pending_attempts);
        let c = &self.conn;
        for (run, r) in runs {
            exec(
                c,
                "INSERT INTO step_runs (run_id, id, step, sequence, status, attempt, created_ms,
                                        due_ms, updated_ms, triggers)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    self.run_id,
                    id(run),
                    r.step,
                    r.sequence,
                    r.status,
                    r.attempt,
                    r.created,
                    r.due,
                    r.updated,
                    r.triggers
                ],
            )?;
            if r.holds {
                self.insert_holdings(run)?;
            }
        }
        for ((run, attempt), a) in attempts {
            exec(
                c,
                "INSERT INTO attempts (run_id, step_run, recovery, attempt, started_ms, ended_ms,
                                       outcome, exit_code, http_status, detail, timed_out,
                                       process_group)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    self.run_id,
                    id(run),
                    self.recovery,
                    attempt,
                    a.started,
                    a.ended,
                    a.outcome,
                    a.exit,
                    a.http,
                    a.detail,
                    a.timed_out,
                    a.group
                ],
            )?;
        }
        Ok(())
    }

    /// The units run `run` holds, as its step acquires them.
    fn insert_holdings(&self, run: u64) -> rusqlite::Result<()> {
        let Some(s) = self
            .steps
            .get(&run)
            .and_then(|s| self.program.steps.get(*s))
        else {
            return Ok(());
        };
        for a in &s.acquire {
            let name = self
                .program
                .resources
                .get(a.resource as usize)
                .map_or("?", |r| r.name.as_str());
            let units = i64::try_from(a.units).unwrap_or(i64::MAX);
            exec(
                &self.conn,
                "INSERT INTO holdings (run_id, step_run, resource, units) VALUES (?1, ?2, ?3, ?4)",
                params![self.run_id, id(run), name, units],
            )?;
        }
        Ok(())
    }

    /// Applies a record to a step run or attempt made in the open
    /// transaction; `false` when the record is not about one.
    fn apply_pending(&mut self, r: &Record) -> bool {
        let acquires = |st: &Self, run: u64| {
            st.steps
                .get(&run)
                .and_then(|s| st.program.steps.get(*s))
                .is_some_and(|s| !s.acquire.is_empty())
        };
        match r {
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
                    .map_or("?", |s| s.name.as_str())
                    .to_string();
                let triggers: Vec<serde_json::Value> = triggers
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "type": self.event_name(e.ty),
                            "fields": fields_value(e),
                        })
                    })
                    .collect();
                self.pending_runs.insert(
                    *run,
                    PendingRun {
                        step: name,
                        sequence: sequence.to_string(),
                        status: "ready",
                        attempt: 0,
                        created: *time,
                        due: Some(*due),
                        updated: *time,
                        triggers: serde_json::Value::Array(triggers).to_string(),
                        holds: false,
                    },
                );
                true
            }
            Record::Granted { run, time } if self.pending_runs.contains_key(run) => {
                let holds = acquires(self, *run);
                if let Some(p) = self.pending_runs.get_mut(run) {
                    p.status = "active";
                    p.due = None;
                    p.updated = *time;
                    p.holds = holds;
                }
                true
            }
            Record::Attempt { run, attempt, time } => {
                self.pending_attempts.insert(
                    (*run, *attempt),
                    PendingAttempt {
                        started: *time,
                        ..PendingAttempt::default()
                    },
                );
                match self.pending_runs.get_mut(run) {
                    Some(p) => {
                        p.attempt = *attempt;
                        p.due = None;
                        p.updated = *time;
                        true
                    }
                    // The run's row is written already: update it.
                    None => false,
                }
            }
            Record::AttemptEnded {
                run,
                attempt,
                time,
                outcome,
                timed_out,
                retry_at,
            } if self.pending_attempts.contains_key(&(*run, *attempt)) => {
                if let Some(a) = self.pending_attempts.get_mut(&(*run, *attempt)) {
                    a.ended = Some(*time);
                    a.timed_out = *timed_out;
                    match outcome {
                        Outcome::Success => a.outcome = Some("success"),
                        Outcome::Failure { exit, http, detail } => {
                            a.outcome = Some("failure");
                            a.exit = *exit;
                            a.http = http.map(i64::from);
                            a.detail = Some(detail.clone());
                        }
                    }
                }
                match self.pending_runs.get_mut(run) {
                    Some(p) => {
                        p.due = *retry_at;
                        p.updated = *time;
                        true
                    }
                    None => false,
                }
            }
            Record::Ended {
                run, status, time, ..
            } if self.pending_runs.contains_key(run) => {
                if let Some(p) = self.pending_runs.get_mut(run) {
                    p.status = status.name();
                    p.due = None;
                    p.updated = *time;
                    p.holds = false;
                }
                true
            }
            _ => false,
        }
    }

    /// Attempt `attempt` of `run` runs as process group `pgid`.
    pub fn attempt_group(&mut self, run: u64, attempt: u32, pgid: i32) -> Result<(), StoreError> {
        if let Some(a) = self.pending_attempts.get_mut(&(run, attempt)) {
            a.group = Some(pgid);
            return Ok(());
        }
        self.begin()?;
        exec(
            &self.conn,
            "UPDATE attempts SET process_group = ?5
             WHERE run_id = ?1 AND step_run = ?2 AND recovery = ?3 AND attempt = ?4",
            params![self.run_id, id(run), self.recovery, attempt, pgid],
        )
        .map_err(|e| self.err(e))?;
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
        if self.apply_pending(r) {
            return Ok(());
        }
        let run_id = self.run_id.clone();
        let recovery = self.recovery;
        let c = &self.conn;
        let res = match r {
            Record::Requeued { run, time, due, .. } => exec(
                c,
                "UPDATE step_runs SET status = 'ready', attempt = 0, due_ms = ?3, updated_ms = ?4
                 WHERE run_id = ?1 AND id = ?2",
                params![run_id, id(*run), due, time],
            )
            .and_then(|_| {
                exec(
                    c,
                    "DELETE FROM holdings WHERE run_id = ?1 AND step_run = ?2",
                    params![run_id, id(*run)],
                )
            }),
            Record::Skipped { run, time, .. } => exec(
                c,
                "UPDATE step_runs SET status = 'skipped', due_ms = NULL, updated_ms = ?3
                 WHERE run_id = ?1 AND id = ?2",
                params![run_id, id(*run), time],
            )
            .and_then(|_| {
                exec(
                    c,
                    "DELETE FROM holdings WHERE run_id = ?1 AND step_run = ?2",
                    params![run_id, id(*run)],
                )
            }),
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
            // Written when the transaction commits (see `apply_pending`).
            Record::Created { .. } => Ok(0),
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
            // The attempt's row is written when the transaction commits.
            Record::Attempt { run, attempt, time } => exec(
                c,
                "UPDATE step_runs SET attempt = ?3, due_ms = NULL, updated_ms = ?4
                 WHERE run_id = ?1 AND id = ?2",
                params![run_id, id(*run), attempt, time],
            ),
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
                     WHERE run_id = ?1 AND step_run = ?2 AND attempt = ?3 AND recovery = ?10",
                    params![
                        run_id,
                        id(*run),
                        attempt,
                        time,
                        word,
                        exit,
                        http,
                        detail,
                        timed_out,
                        recovery
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

/// An event of type `ty` from its fields as the store wrote them (a JSON
/// array in slot order, durations and times in milliseconds).
fn event_of(p: &Program, ty: u32, fields: &str) -> Option<Event> {
    let schema = p.events.get(ty as usize)?;
    let values: Vec<serde_json::Value> = serde_json::from_str(fields).ok()?;
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .zip(
            values
                .iter()
                .chain(std::iter::repeat(&serde_json::Value::Null)),
        )
        .map(|(f, v)| match (f.ty, v) {
            (_, serde_json::Value::Null) => Value::Null,
            (cep_ir::Type::Int, v) => v.as_i64().map_or(Value::Null, Value::Int),
            (cep_ir::Type::Float, v) => v.as_f64().map_or(Value::Null, Value::Float),
            (cep_ir::Type::Str, v) => v
                .as_str()
                .map_or(Value::Null, |s| Value::Str(std::sync::Arc::from(s))),
            (cep_ir::Type::Bool, v) => v.as_bool().map_or(Value::Null, Value::Bool),
            (cep_ir::Type::Duration, v) => v.as_i64().map_or(Value::Null, Value::Duration),
            (cep_ir::Type::Time, v) => v.as_i64().map_or(Value::Null, Value::Time),
        })
        .collect();
    let time = schema
        .time_field
        .and_then(|s| match fields.get(usize::from(s)) {
            Some(Value::Time(t)) => Some(*t),
            _ => None,
        })
        .unwrap_or(0);
    Some(Event::new(ty, time, 0, fields))
}
