//! Interruption: SIGINT and SIGTERM while omk runs agents or gates.
//!
//! [`listen`] installs the handler once per process. The first signal turns the [`Interrupt`]
//! on: every supervision watching it stops its process group (TERM, a grace period, KILL) and
//! the operation records what was interrupted, so the goal stays resumable. A second signal
//! kills every supervised process group at once and exits with 130. Commands that never call
//! `listen` keep the default behaviour. Must not touch the log: recording is the operation's.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// The exit code of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Whether the user asked the command to stop; cheap to clone.
#[derive(Clone, Debug)]
pub struct Interrupt {
    receiver: watch::Receiver<bool>,
}

impl Interrupt {
    /// Returns an interrupt that never fires (for library callers and tests without signals).
    pub fn never() -> Interrupt {
        // With the sender gone, the value stays `false` and `wait_for` waits forever.
        let (_, receiver) = watch::channel(false);
        Interrupt { receiver }
    }

    /// Returns whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Returns a receiver that turns `true` when a stop is asked for.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.receiver.clone()
    }

    /// Waits until a stop is asked for.
    pub async fn wait(&mut self) {
        wait_for(&mut self.receiver).await;
    }
}

/// Waits until `receiver` holds `true`; never returns if its sender is gone without that.
pub async fn wait_for(receiver: &mut watch::Receiver<bool>) {
    while !*receiver.borrow_and_update() {
        if receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts listening for SIGINT and SIGTERM (once per process) and returns the interrupt.
pub fn listen() -> Interrupt {
    static LISTENING: OnceLock<Interrupt> = OnceLock::new();
    LISTENING.get_or_init(start_listener).clone()
}

fn start_listener() -> Interrupt {
    let (sender, receiver) = watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("omk-signals".to_owned())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            runtime.block_on(async move {
                let streams = signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
                // The handlers are installed (or could not be): the caller may go on.
                let _ = ready_tx.send(());
                let Ok((mut int, mut term)) = streams else {
                    return;
                };
                let mut received = 0u32;
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    received += 1;
                    if received == 1 {
                        let _ = sender.send(true);
                        say("omk: interrupted: stopping agents and gates (press Ctrl-C again to kill them at once)");
                    } else {
                        kill_every_group();
                        say("omk: killed every agent and gate at once; the goal resumes from its log on the next command");
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
    Interrupt { receiver }
}

/// Writes one line to stderr; a closed stderr (`omk … 2>&1 | tee`, with tee gone) is no error.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Supervisions under way: by serial, the process group and the tag entry of each.
type LiveGroups = Mutex<BTreeMap<u64, (i32, String)>>;

/// The process groups under supervision now.
fn live_groups() -> &'static LiveGroups {
    static LIVE: OnceLock<LiveGroups> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Records that supervision `serial` runs process group `group`, tagged `tag`.
pub(crate) fn register(serial: u64, group: i32, tag: String) {
    if let Ok(mut live) = live_groups().lock() {
        live.insert(serial, (group, tag));
    }
}

/// Records that supervision `serial` has ended.
pub(crate) fn unregister(serial: u64) {
    if let Ok(mut live) = live_groups().lock() {
        live.remove(&serial);
    }
}

/// Sends SIGKILL to every supervised group and every process carrying a live tag.
fn kill_every_group() {
    let live = live_groups()
        .lock()
        .map(|live| live.values().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for (group, tag) in live {
        crate::shell::process::kill_now(group, &tag);
    }
}
