//! Termination signals for the processes that supervise others (`umbra launch`, `umbra
//! party`): SIGINT, SIGTERM and SIGHUP are caught instead of killing the supervisor at once,
//! so it can stop its children and remove what it wrote (the launcher's key directory)
//! before it exits, and forward the signal to its program.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{Error, Result};

/// The termination signals caught, by number.
pub const SIGINT: i32 = 2;
/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGHUP.
pub const SIGHUP: i32 = 1;

/// Termination signals caught for the whole process from [`Signals::catch`] on.
#[derive(Debug, Clone)]
pub struct Signals {
    last: Arc<AtomicI32>,
}

impl Signals {
    /// Catches SIGINT, SIGTERM and SIGHUP from now on (even if the parent ignored them, as
    /// a non-interactive shell does for background jobs). A thread records each arrival.
    ///
    /// # Errors
    /// The handlers could not be installed.
    pub fn catch() -> Result<Signals> {
        let last = Arc::new(AtomicI32::new(0));
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| Error::Setup(format!("signal handling: {e}")))?;
            let err = |e: std::io::Error| Error::Setup(format!("installing signal handlers: {e}"));
            let _guard = rt.enter();
            let mut int = signal(SignalKind::interrupt()).map_err(err)?;
            let mut term = signal(SignalKind::terminate()).map_err(err)?;
            let mut hup = signal(SignalKind::hangup()).map_err(err)?;
            drop(_guard);
            let seen = last.clone();
            std::thread::Builder::new()
                .name("umbra-signals".into())
                .spawn(move || {
                    rt.block_on(async move {
                        loop {
                            let sig = tokio::select! {
                                _ = int.recv() => SIGINT,
                                _ = term.recv() => SIGTERM,
                                _ = hup.recv() => SIGHUP,
                            };
                            seen.store(sig, Ordering::SeqCst);
                        }
                    })
                })
                .map_err(|e| Error::Setup(format!("signal thread: {e}")))?;
        }
        Ok(Signals { last })
    }

    /// The last termination signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.last.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

/// Sends signal `sig` (one of the constants above) to `child`. A child that has already
/// exited is not an error.
///
/// # Errors
/// The signal could not be sent.
pub fn forward(child: &std::process::Child, sig: i32) -> Result<()> {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process};
        let signal = match sig {
            SIGINT => Signal::INT,
            SIGHUP => Signal::HUP,
            _ => Signal::TERM,
        };
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| Error::Launch(format!("child pid {} out of range", child.id())))?;
        match kill_process(pid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(Error::Launch(format!(
                "forwarding signal {sig} to {}: {e}",
                child.id()
            ))),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (child, sig);
        Ok(())
    }
}

/// The variable through which a supervisor (`umbra launch`, `umbra party`) asks the processes
/// it starts to die with it: it holds the supervisor's pid.
pub const SUPERVISOR_ENV: &str = "UMBRA_SUPERVISOR_PID";

/// For a process started by a supervisor (see [`SUPERVISOR_ENV`]): asks the kernel to kill
/// this process when the supervisor dies, even by SIGKILL, which it cannot catch (Linux
/// `PR_SET_PDEATHSIG`); exits at once if the supervisor is already gone. Does nothing
/// elsewhere, or when the variable is unset or names another process.
pub fn die_with_supervisor() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Signal, getppid, set_parent_process_death_signal};
        let Some(supervisor) = std::env::var(SUPERVISOR_ENV)
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
        else {
            return;
        };
        let parent = getppid().map_or(0, |p| p.as_raw_nonzero().get());
        if parent != supervisor {
            // A grandchild that inherited the variable: not ours to act on.
            return;
        }
        let _ = set_parent_process_death_signal(Some(Signal::KILL));
        // The supervisor may have died between getppid and prctl.
        if getppid().map_or(0, |p| p.as_raw_nonzero().get()) != supervisor {
            std::process::exit(128 + 9);
        }
    }
}
