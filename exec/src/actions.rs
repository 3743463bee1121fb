//! Running step attempts: programs (tokio::process) and HTTP POSTs
//! (reqwest), on a tokio runtime of their own thread.
//!
//! The core decides what starts and when an attempt has taken too long;
//! this module only does it: [`Executor::start`] runs the resolved action
//! and reports how it ended through the callback given to
//! [`Executor::new`]; [`Executor::kill`] ends an attempt (for a program,
//! its whole process group, so nothing it started is left behind).

use cep_runtime::{Outcome, Resolved};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// How much of an attempt's standard output and error is kept: the last
/// 4 KiB of each.
pub const TAIL_BYTES: usize = 4096;

/// How long a shutdown waits for a killed attempt's program to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// Connect time-out of a POST.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole-request time-out of a POST whose step has no `timeout`.
const DEFAULT_POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who an attempt is, as its program sees it (`CEP_*` variables).
#[derive(Clone, Debug)]
pub struct Identity {
    pub step: String,
    pub sequence: String,
    pub attempt: u32,
    /// The store's run id: the same across recoveries of one run.
    pub run_id: String,
    /// How many times the run was recovered (0 in its first life).
    pub recovery: u32,
    /// The directory of the rule file that declares the step.
    pub rules_dir: PathBuf,
    /// The step's `timeout`, for a POST's whole-request time-out.
    pub timeout_ms: Option<u64>,
}

/// How an attempt ended, with what it wrote (the tails, lossy UTF-8).
#[derive(Clone, Debug)]
pub struct Finished {
    pub run: u64,
    pub attempt: u32,
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

enum Cmd {
    Start {
        run: u64,
        attempt: u32,
        action: Resolved,
        who: Identity,
    },
    Kill {
        run: u64,
        attempt: u32,
    },
    KillAll,
    /// Kill what is left and end the runtime.
    Shutdown,
}

/// Attempts in flight: for a program its process group, for a POST the
/// task that makes it.
#[derive(Default)]
struct Live {
    groups: HashMap<(u64, u32), i32>,
    tasks: HashMap<(u64, u32), tokio::task::AbortHandle>,
}

/// Runs attempts on a tokio runtime in a thread of its own.
pub struct Executor {
    tx: mpsc::UnboundedSender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Executor {
    /// Starts the runtime; `done` is called (from its thread) when an
    /// attempt ends, never for a killed one.
    pub fn new(
        done: impl Fn(Finished) + Send + Sync + 'static,
        started: impl Fn(u64, u32, i32) + Send + Sync + 'static,
    ) -> std::io::Result<Executor> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let done = Arc::new(done);
        let started = Arc::new(started);
        let thread = std::thread::Builder::new()
            .name("cep-exec".into())
            .spawn(move || {
                rt.block_on(async move {
                    let live = Arc::new(Mutex::new(Live::default()));
                    let client = reqwest::Client::builder()
                        .connect_timeout(CONNECT_TIMEOUT)
                        .build()
                        .ok();
                    // Every attempt's task, so that a shutdown can wait for
                    // the killed ones to be reaped (no zombie is left).
                    let mut handles: Vec<tokio::task::JoinHandle<()>> = Vec::new();
                    while let Some(cmd) = rx.recv().await {
                        match cmd {
                            Cmd::Start {
                                run,
                                attempt,
                                action,
                                who,
                            } => {
                                let done = done.clone();
                                let started = started.clone();
                                let live2 = live.clone();
                                let client = client.clone();
                                let task = tokio::spawn(async move {
                                    let f = attempt_once(
                                        run, attempt, action, who, client, &live2, &*started,
                                    )
                                    .await;
                                    if let Some(mut l) = lock(&live2) {
                                        l.tasks.remove(&(run, attempt));
                                        l.groups.remove(&(run, attempt));
                                    }
                                    if let Some(f) = f {
                                        done(f);
                                    }
                                });
                                if let Some(mut l) = lock(&live) {
                                    l.tasks.insert((run, attempt), task.abort_handle());
                                }
                                handles.retain(|h| !h.is_finished());
                                handles.push(task);
                            }
                            Cmd::Kill { run, attempt } => kill(&live, run, attempt),
                            Cmd::KillAll => kill_all(&live),
                            Cmd::Shutdown => {
                                kill_all(&live);
                                for h in handles.drain(..) {
                                    let _ = tokio::time::timeout(REAP_WAIT, h).await;
                                }
                                break;
                            }
                        }
                    }
                });
            })?;
        Ok(Executor {
            tx,
            thread: Some(thread),
        })
    }

    /// Carries out every command sent so far (a kill among them), kills
    /// what is still running, and ends the runtime's thread.
    pub fn shutdown(&mut self) {
        let _ = self.tx.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Starts attempt `attempt` of `run`.
    pub fn start(&self, run: u64, attempt: u32, action: Resolved, who: Identity) {
        let _ = self.tx.send(Cmd::Start {
            run,
            attempt,
            action,
            who,
        });
    }

    /// Ends the attempt: its process group gets SIGKILL, or its request is
    /// dropped. No report follows.
    pub fn kill(&self, run: u64, attempt: u32) {
        let _ = self.tx.send(Cmd::Kill { run, attempt });
    }

    /// Ends every attempt in flight.
    pub fn kill_all(&self) {
        let _ = self.tx.send(Cmd::KillAll);
    }
}

impl Drop for Executor {
    /// Nothing an attempt started outlives the executor.
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn kill_all(live: &Mutex<Live>) {
    let all: Vec<(u64, u32)> = lock(live)
        .map(|l| l.tasks.keys().copied().collect())
        .unwrap_or_default();
    for (r, a) in all {
        kill(live, r, a);
    }
}

fn lock(live: &Mutex<Live>) -> Option<std::sync::MutexGuard<'_, Live>> {
    live.lock().ok()
}

fn kill(live: &Mutex<Live>, run: u64, attempt: u32) {
    let Some(mut l) = lock(live) else {
        return;
    };
    match l.groups.remove(&(run, attempt)) {
        Some(pgid) => {
            // The whole group: the program and everything it started. Its
            // task goes on until the program has exited (and is reaped),
            // then, seeing it was killed, reports nothing.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
            l.tasks.remove(&(run, attempt));
        }
        None => {
            // A POST (or a program not started yet): drop the task.
            if let Some(t) = l.tasks.remove(&(run, attempt)) {
                t.abort();
            }
        }
    }
}

/// Runs one attempt; `None` when it was killed.
async fn attempt_once(
    run: u64,
    attempt: u32,
    action: Resolved,
    who: Identity,
    client: Option<reqwest::Client>,
    live: &Mutex<Live>,
    started: &(dyn Fn(u64, u32, i32) + Send + Sync),
) -> Option<Finished> {
    let (outcome, stdout, stderr) = match action {
        Resolved::Run { program, args, env } => {
            match run_program(run, attempt, &program, &args, &env, &who, live, started).await {
                Some(r) => r,
                None => return None,
            }
        }
        Resolved::Post { url, body } => (
            post(&url, &body, &who, client).await,
            String::new(),
            String::new(),
        ),
    };
    Some(Finished {
        run,
        attempt,
        outcome,
        stdout,
        stderr,
    })
}

/// Where a program is: a name without a slash is looked up on `PATH` (by
/// the operating system, as a shell would); a relative path with a slash
/// is taken from the directory of the rule file that declares the step;
/// an absolute path as it is.
pub fn resolve_program(program: &str, rules_dir: &Path) -> PathBuf {
    let p = Path::new(program);
    if p.is_absolute() || !program.contains('/') {
        p.to_path_buf()
    } else {
        rules_dir.join(p)
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_program(
    run: u64,
    attempt: u32,
    program: &str,
    args: &[String],
    env: &[(String, String)],
    who: &Identity,
    live: &Mutex<Live>,
    started: &(dyn Fn(u64, u32, i32) + Send + Sync),
) -> Option<(Outcome, String, String)> {
    let path = resolve_program(program, &who.rules_dir);
    let mut cmd = tokio::process::Command::new(&path);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CEP_STEP", &who.step)
        .env("CEP_SEQUENCE", &who.sequence)
        .env("CEP_ATTEMPT", who.attempt.to_string())
        .env("CEP_RUN_ID", &who.run_id)
        .env("CEP_RECOVERY", who.recovery.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so that a kill reaches all it started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let detail = format!("cannot start `{}`: {e}", path.display());
            return Some((
                Outcome::Failure {
                    exit: None,
                    http: None,
                    detail,
                },
                String::new(),
                String::new(),
            ));
        }
    };
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        if let Some(mut l) = lock(live) {
            l.groups.insert((run, attempt), pid);
        }
        // The process group, so that a recovery can end what a killed
        // `cep` left running.
        started(run, attempt, pid);
    }
    let out = child.stdout.take();
    let err = child.stderr.take();
    let (status, stdout, stderr) = tokio::join!(child.wait(), tail(out), tail(err));
    // Killed meanwhile: no report.
    let killed = lock(live).is_some_and(|l| !l.groups.contains_key(&(run, attempt)));
    if killed {
        return None;
    }
    let outcome = match status {
        Ok(s) if s.success() => Outcome::Success,
        Ok(s) => Outcome::Failure {
            exit: s.code(),
            http: None,
            detail: match s.code() {
                Some(c) => format!("exit status {c}"),
                None => "ended by a signal".to_string(),
            },
        },
        Err(e) => Outcome::Failure {
            exit: None,
            http: None,
            detail: format!("cannot wait for `{}`: {e}", path.display()),
        },
    };
    Some((outcome, stdout, stderr))
}

/// Reads a pipe to its end, keeping the last [`TAIL_BYTES`].
async fn tail<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> String {
    let Some(mut r) = r else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                if kept.len() > TAIL_BYTES {
                    let cut = kept.len() - TAIL_BYTES;
                    kept.drain(..cut);
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The body of a POST: a JSON object with its members in the order the
/// rule wrote them.
pub fn body_text(body: &[(String, serde_json::Value)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in body.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(k.as_str()).to_string());
        s.push(':');
        s.push_str(&v.to_string());
    }
    s.push('}');
    s
}

async fn post(
    url: &str,
    body: &[(String, serde_json::Value)],
    who: &Identity,
    client: Option<reqwest::Client>,
) -> Outcome {
    let failure = |http: Option<u16>, detail: String| Outcome::Failure {
        exit: None,
        http,
        detail,
    };
    let Some(client) = client else {
        return failure(None, "no HTTP client could be made".into());
    };
    let timeout = who
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_POST_TIMEOUT);
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body_text(body))
        .timeout(timeout);
    match request.send().await {
        Ok(r) if r.status().is_success() => Outcome::Success,
        Ok(r) => failure(
            Some(r.status().as_u16()),
            format!("HTTP status {}", r.status()),
        ),
        Err(e) => failure(None, format!("POST {url}: {e}")),
    }
}

/// Ends what an earlier `cep` of run `run_id`, killed, left running: every
/// process whose environment has this run's `CEP_RUN_ID` (read from
/// `/proc/<pid>/environ`; an attempt's program and all it started inherit
/// it) is killed with its process group, and this waits up to two seconds
/// for them to be gone, so that a recovery never runs an attempt beside
/// the one it replaces. Call before the recovery starts anything. `hint`
/// are the process groups the store recorded, ended too if still ours.
pub fn end_orphans(run_id: &str, hint: &[i32]) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let mark = format!("CEP_RUN_ID={run_id}");
    let ours = |pid: i32| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|&b| b == 0).any(|v| v == mark.as_bytes()))
            .unwrap_or(false)
    };
    let mut groups: Vec<i32> = hint.iter().copied().filter(|&g| ours(g)).collect();
    for (pid, _, pgrp) in processes() {
        if ours(pid) && !groups.contains(&pgrp) {
            groups.push(pgrp);
        }
    }
    for &g in &groups {
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    for _ in 0..200 {
        if !groups.iter().any(|&g| group_alive(g)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The processes there are: (pid, state, process group), from
/// `/proc/*/stat` (the fields after the command's closing parenthesis are
/// state, ppid, pgrp).
fn processes() -> Vec<(i32, String, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = stat.get(stat.rfind(')')? + 1..)?;
            let mut f = rest.split_whitespace();
            let state = f.next()?.to_string();
            let _ppid = f.next()?;
            let pgrp = f.next()?.parse().ok()?;
            Some((pid, state, pgrp))
        })
        .collect()
}

/// Some process of group `g` is alive (not a zombie).
fn group_alive(g: i32) -> bool {
    processes()
        .iter()
        .any(|(_, state, pgrp)| *pgrp == g && state != "Z")
}
