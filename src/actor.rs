//! What every stage task shares: a command queue with one-shot replies,
//! a liveness probe answered by the task's loop, and the supervision of
//! the tasks themselves.
//!
//! A stage creates its queue with [`channel`], keeps the [`Commands`] side
//! in its handle and reads the [`Inbox`] in its loop; [`Commands::spawn`]
//! starts that loop as a [`Task`]. A task that takes no commands (it
//! follows its inputs) gets a probe alone with [`probe`], and answers its
//! [`Probes`] in its loop. The daemon holds every task in a
//! [`Supervisor`]: a task that ends while the daemon runs is a failure, and
//! the watchdog is fed only while every task answers its probe. A handle
//! whose task is gone answers [`Stopped`], never an empty value.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};

/// The answer to a command, sent once by the task.
pub type Reply<T> = oneshot::Sender<T>;

type Ping = oneshot::Sender<()>;

/// A stage's task has stopped: nothing will answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {stage} task has stopped")]
pub struct Stopped {
    pub stage: &'static str,
}

/// A command queue for the task of `stage`, holding at most `capacity`
/// commands (a full queue makes senders wait).
pub fn channel<C>(stage: &'static str, capacity: usize) -> (Commands<C>, Inbox<C>) {
    let (commands, commands_rx) = mpsc::channel(capacity);
    let (probe, probes) = probe(stage);
    let sending = Commands { commands, probe };
    let receiving = Inbox {
        commands: commands_rx,
        probes,
    };
    (sending, receiving)
}

/// A liveness probe alone, for the task of `stage` that takes no commands
/// (it follows its inputs): its loop awaits [`Probes::answer`] in its
/// `select!`, and [`Probe::spawn`] starts it.
pub fn probe(stage: &'static str) -> (Probe, Probes) {
    // One probe at a time per stage (the main loop's tick); room for a few.
    let (pings, pings_rx) = mpsc::channel(4);
    (Probe { stage, pings }, Probes { pings: Some(pings_rx) })
}

/// The sending side of a stage's command queue; cheap to clone.
pub struct Commands<C> {
    commands: mpsc::Sender<C>,
    probe: Probe,
}

impl<C> Clone for Commands<C> {
    fn clone(&self) -> Self {
        Commands {
            commands: self.commands.clone(),
            probe: self.probe.clone(),
        }
    }
}

impl<C> fmt::Debug for Commands<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands").field("stage", &self.probe.stage).finish()
    }
}

impl<C: Send + 'static> Commands<C> {
    /// Send the command `ask` builds around a reply, and wait for the
    /// reply: `ask(Command::Snapshot)`.
    pub async fn ask<T>(&self, ask: impl FnOnce(Reply<T>) -> C) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tell(ask(reply)).await?;
        // The task dropped the reply unanswered: it stopped meanwhile.
        answer.await.map_err(|_| self.stopped())
    }

    /// Send a command that has no answer.
    pub async fn tell(&self, command: C) -> Result<(), Stopped> {
        self.commands.send(command).await.map_err(|_| self.stopped())
    }

    /// Start the stage's task, whose loop reads this queue's [`Inbox`]:
    /// held by a [`Supervisor`], it is probed through this queue.
    pub fn spawn<F>(&self, task: F) -> Task
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput,
    {
        self.probe.spawn(task)
    }

    fn stopped(&self) -> Stopped {
        Stopped {
            stage: self.probe.stage,
        }
    }
}

/// The task's side of its command queue. Reading it also answers the
/// liveness probes: a loop that reads its inbox is alive.
pub struct Inbox<C> {
    commands: mpsc::Receiver<C>,
    probes: Probes,
}

impl<C> Inbox<C> {
    /// The next command; None once every [`Commands`] is dropped. Cancel
    /// safe, like `mpsc::Receiver::recv`: a `select!` arm.
    pub async fn recv(&mut self) -> Option<C> {
        tokio::select! {
            biased;
            never = self.probes.answer() => match never {},
            command = self.commands.recv() => command,
        }
    }

    /// Answer the probes waiting, without waiting for any: for a task in
    /// the middle of long work that goes on.
    pub fn answer_probes(&mut self) {
        self.probes.answer_waiting();
    }
}

/// Asks a task whether its loop still turns.
#[derive(Debug, Clone)]
pub struct Probe {
    stage: &'static str,
    pings: mpsc::Sender<Ping>,
}

impl Probe {
    /// Start the stage's task, whose loop answers this probe's [`Probes`]:
    /// held by a [`Supervisor`], it is probed.
    pub fn spawn<F>(&self, task: F) -> Task
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput,
    {
        let mut task = spawn(self.stage, task);
        task.probe = Some(self.clone());
        task
    }

    /// True if the task answered within `deadline`.
    async fn answers_within(&self, deadline: Duration) -> bool {
        let ask = async {
            let (ping, pong) = oneshot::channel();
            self.pings.send(ping).await.is_ok() && pong.await.is_ok()
        };
        tokio::time::timeout(deadline, ask).await.unwrap_or(false)
    }
}

/// The task's side of its liveness probe: a loop that awaits it is alive.
#[derive(Debug)]
pub struct Probes {
    /// None once every prober is gone.
    pings: Option<mpsc::Receiver<Ping>>,
}

impl Probes {
    /// Answer the probes as they come; never completes. Cancel safe: a
    /// `select!` arm (`never = probes.answer() => match never {}`) of a
    /// loop that takes no commands.
    pub async fn answer(&mut self) -> Infallible {
        loop {
            let Some(pings) = &mut self.pings else {
                return std::future::pending().await;
            };
            match pings.recv().await {
                Some(ping) => {
                    let _ = ping.send(());
                }
                None => self.pings = None,
            }
        }
    }

    /// Answer the probes waiting, without waiting for any.
    pub fn answer_waiting(&mut self) {
        if let Some(pings) = &mut self.pings {
            while let Ok(ping) = pings.try_recv() {
                let _ = ping.send(());
            }
        }
    }
}

/// How a task ended.
#[derive(Debug)]
pub enum Ended {
    /// Its future completed.
    Returned,
    /// Its future completed with an error.
    Failed(anyhow::Error),
    Panicked(String),
    /// Aborted, or dropped with the runtime.
    Cancelled,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Returned => write!(f, "ended"),
            Ended::Failed(e) => write!(f, "failed: {e:#}"),
            Ended::Panicked(message) => write!(f, "panicked: {message}"),
            Ended::Cancelled => write!(f, "was cancelled"),
        }
    }
}

impl Ended {
    fn joined(joined: Result<Ended, JoinError>) -> Ended {
        match joined {
            Ok(ended) => ended,
            Err(e) if e.is_panic() => Ended::Panicked(panic_message(e.into_panic())),
            Err(_) => Ended::Cancelled,
        }
    }
}

/// What a panic said, from its payload (`JoinError::into_panic`).
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "(no message)".to_string(),
        },
    }
}

/// What a task's future may return: nothing, or a result.
pub trait TaskOutput: Send + 'static {
    fn ended(self) -> Ended;
}

impl TaskOutput for () {
    fn ended(self) -> Ended {
        Ended::Returned
    }
}

impl TaskOutput for anyhow::Result<()> {
    fn ended(self) -> Ended {
        match self {
            Ok(()) => Ended::Returned,
            Err(e) => Ended::Failed(e),
        }
    }
}

/// A running task with its name. Dropping it leaves the task running.
#[derive(Debug)]
pub struct Task {
    name: &'static str,
    join: JoinHandle<Ended>,
    /// Set for a stage whose loop answers probes.
    probe: Option<Probe>,
}

impl Task {
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Start `task` under `name`, unprobed: the supervisor could tell when it
/// ends, not when it hangs. Private so that every task the daemon holds
/// answers probes ([`Commands::spawn`], [`Probe::spawn`]).
fn spawn<F>(name: &'static str, task: F) -> Task
where
    F: Future + Send + 'static,
    F::Output: TaskOutput,
{
    Task {
        name,
        join: tokio::spawn(async move { task.await.ended() }),
        probe: None,
    }
}

/// Holds the daemon's long-lived tasks: reports the first that ends, and
/// probes those that answer probes.
#[derive(Debug, Default)]
pub struct Supervisor {
    tasks: Vec<Task>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    pub fn hold(&mut self, task: Task) {
        self.tasks.push(task);
    }

    /// The first held task to end (return, fail or panic), no longer
    /// held; pending while every task runs. Cancel safe.
    pub async fn ended(&mut self) -> (&'static str, Ended) {
        std::future::poll_fn(|cx| {
            for i in 0..self.tasks.len() {
                if let Poll::Ready(joined) = Pin::new(&mut self.tasks[i].join).poll(cx) {
                    let task = self.tasks.remove(i);
                    return Poll::Ready((task.name, Ended::joined(joined)));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// The held tasks that have already ended, no longer held, in the order
    /// they were held; does not wait. After the first reported by
    /// [`Supervisor::ended`]: those that ended with it (their inputs
    /// closed), one of which may say what went wrong.
    pub fn finished(&mut self) -> Vec<(&'static str, Ended)> {
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.tasks.len() {
            match futures::FutureExt::now_or_never(&mut self.tasks[i].join) {
                Some(joined) => {
                    let task = self.tasks.remove(i);
                    finished.push((task.name, Ended::joined(joined)));
                }
                None => i += 1,
            }
        }
        finished
    }

    /// The held stages that did not answer a probe within `deadline`
    /// (probed all at once), in the order they were held. A stage whose
    /// task has stopped does not answer.
    pub async fn silent(&self, deadline: Duration) -> Vec<&'static str> {
        let probes = self.tasks.iter().filter_map(|t| t.probe.as_ref());
        let answers = futures::future::join_all(probes.map(|p| async move {
            let answered = p.answers_within(deadline).await;
            (p.stage, answered)
        }))
        .await;
        answers
            .into_iter()
            .filter(|(_, answered)| !answered)
            .map(|(stage, _)| stage)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Command {
        Double(u32, Reply<u32>),
        Note(u32),
        /// Stops reading the inbox (a wedged loop), once it has answered.
        Wedge(Reply<()>),
    }

    /// A stage that doubles numbers and counts notes, until wedged.
    async fn doubler(mut inbox: Inbox<Command>, notes: mpsc::UnboundedSender<u32>) {
        while let Some(command) = inbox.recv().await {
            match command {
                Command::Double(n, reply) => {
                    let _ = reply.send(2 * n);
                }
                Command::Note(n) => {
                    let _ = notes.send(n);
                }
                Command::Wedge(reply) => {
                    let _ = reply.send(());
                    std::future::pending::<()>().await
                }
            }
        }
    }

    fn start(stage: &'static str) -> (Commands<Command>, Task, mpsc::UnboundedReceiver<u32>) {
        let (commands, inbox) = channel(stage, 4);
        let (notes_tx, notes) = mpsc::unbounded_channel();
        let task = commands.spawn(doubler(inbox, notes_tx));
        (commands, task, notes)
    }

    #[tokio::test]
    async fn a_running_task_answers() {
        let (commands, task, mut notes) = start("doubler");
        assert_eq!(task.name(), "doubler");
        assert_eq!(commands.ask(|reply| Command::Double(21, reply)).await, Ok(42));
        assert_eq!(commands.tell(Command::Note(7)).await, Ok(()));
        assert_eq!(notes.recv().await, Some(7));
    }

    #[tokio::test]
    async fn a_stopped_task_is_an_error_naming_its_stage() {
        let (commands, inbox) = channel::<Command>("routes", 4);
        drop(inbox);
        let stopped = Stopped { stage: "routes" };
        assert_eq!(commands.ask(|reply| Command::Double(1, reply)).await, Err(stopped));
        assert_eq!(commands.tell(Command::Note(1)).await, Err(stopped));
        assert_eq!(stopped.to_string(), "the routes task has stopped");
    }

    #[tokio::test]
    async fn a_task_that_stops_before_replying_is_an_error() {
        let (commands, mut inbox) = channel::<Command>("peer table", 4);
        let task = tokio::spawn(async move {
            // Takes the command, then ends without answering.
            let command = inbox.recv().await;
            drop(command);
        });
        let asked = commands.ask(|reply| Command::Double(1, reply)).await;
        assert_eq!(asked, Err(Stopped { stage: "peer table" }));
        task.await.expect("task");
    }

    #[tokio::test(start_paused = true)]
    async fn probes_name_the_stages_that_do_not_answer() {
        let mut supervisor = Supervisor::new();
        let (alive, task, _notes) = start("alive");
        supervisor.hold(task);
        let (wedged, task, _notes2) = start("wedged");
        supervisor.hold(task);
        let (gone, inbox) = channel::<Command>("gone", 4);
        supervisor.hold(gone.spawn(async move { drop(inbox) }));
        // An unprobed task is held, not probed.
        supervisor.hold(spawn("watcher", std::future::pending::<()>()));

        wedged.ask(Command::Wedge).await.expect("wedge");
        let deadline = Duration::from_secs(1);
        let start = tokio::time::Instant::now();
        assert_eq!(supervisor.silent(deadline).await, vec!["wedged", "gone"]);
        // Probed at once: one deadline, not one per stage.
        assert_eq!(start.elapsed(), deadline);
        // The live stage still works, and its queue was not disturbed.
        assert_eq!(alive.ask(|reply| Command::Double(2, reply)).await, Ok(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_without_commands_is_silent_once_its_loop_stops() {
        let mut supervisor = Supervisor::new();
        let (probe, mut probes) = probe("follower");
        let (input, mut inputs) = mpsc::channel::<u32>(1);
        let (wedge, mut wedged) = mpsc::channel::<Reply<()>>(1);
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        supervisor.hold(probe.spawn(async move {
            // Follows its input, answering probes between items.
            loop {
                tokio::select! {
                    never = probes.answer() => match never {},
                    item = inputs.recv() => match item {
                        Some(item) => {
                            let _ = seen_tx.send(item);
                        }
                        None => return,
                    },
                    Some(reply) = wedged.recv() => {
                        let _ = reply.send(());
                        std::future::pending::<()>().await
                    }
                }
            }
        }));
        let deadline = Duration::from_secs(1);
        assert!(supervisor.silent(deadline).await.is_empty());
        input.send(7).await.expect("input");
        assert_eq!(seen.recv().await, Some(7));
        assert!(supervisor.silent(deadline).await.is_empty());

        let (reply, answer) = oneshot::channel();
        wedge.send(reply).await.expect("wedge");
        answer.await.expect("wedged");
        assert_eq!(supervisor.silent(deadline).await, vec!["follower"]);
    }

    #[tokio::test]
    async fn a_busy_task_answers_probes_between_its_work() {
        let (commands, mut inbox) = channel::<Command>("fib", 4);
        let mut supervisor = Supervisor::new();
        let (go_on, mut until) = mpsc::channel::<()>(1);
        supervisor.hold(commands.spawn(async move {
            // Long work that never returns to the inbox, but answers probes.
            loop {
                inbox.answer_probes();
                if until.recv().await.is_none() {
                    return;
                }
            }
        }));
        let probing = supervisor.silent(Duration::from_secs(5));
        let stepping = async {
            go_on.send(()).await.expect("step");
            go_on.send(()).await.expect("step");
        };
        let (silent, ()) = tokio::join!(probing, stepping);
        assert!(silent.is_empty(), "{silent:?}");
    }

    #[tokio::test]
    async fn the_supervisor_reports_a_task_that_ends_with_its_name() {
        let mut supervisor = Supervisor::new();
        supervisor.hold(spawn("forever", std::future::pending::<()>()));
        supervisor.hold(spawn("returns", async {}));
        let (name, ended) = supervisor.ended().await;
        assert_eq!(name, "returns");
        assert!(matches!(ended, Ended::Returned), "{ended:?}");
        assert_eq!(format!("the {name} task {ended}"), "the returns task ended");

        supervisor.hold(spawn("fails", async {
            anyhow::Result::<()>::Err(anyhow::anyhow!("socket closed"))
        }));
        let (name, ended) = supervisor.ended().await;
        assert_eq!(
            (name, ended.to_string()),
            ("fails", "failed: socket closed".to_string())
        );
    }

    #[tokio::test]
    async fn after_the_first_the_supervisor_lists_the_others_that_ended() {
        let mut supervisor = Supervisor::new();
        supervisor.hold(spawn("forever", std::future::pending::<()>()));
        let (input, closed) = oneshot::channel::<()>();
        supervisor.hold(spawn("follower", async move {
            let _ = closed.await;
        }));
        supervisor.hold(spawn("watcher", async {
            anyhow::Result::<()>::Err(anyhow::anyhow!("socket failed"))
        }));
        supervisor.hold(spawn("panics", async {
            let input: Vec<u8> = Vec::new();
            assert!(!input.is_empty(), "bad input");
        }));
        let (name, _) = supervisor.ended().await;
        assert!(matches!(name, "watcher" | "panics"), "{name}");
        // The follower's input closes with the first: it ends right after.
        drop(input);
        let mut others = Vec::new();
        let listed = tokio::time::timeout(Duration::from_secs(5), async {
            while others.len() < 2 {
                others.extend(
                    supervisor
                        .finished()
                        .into_iter()
                        .map(|(name, ended)| format!("{name} {ended}")),
                );
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(listed.is_ok(), "listed only {others:?}");
        others.sort();
        let expected = [
            "follower ended",
            "panics panicked: bad input",
            "watcher failed: socket failed",
        ];
        let expected: Vec<String> = expected
            .iter()
            .filter(|e| !e.starts_with(name))
            .map(|e| e.to_string())
            .collect();
        assert_eq!(others, expected);
        // Listed once, and the running task is still held, not listed.
        assert!(supervisor.finished().is_empty());
        assert_eq!(supervisor.tasks.len(), 1);
        assert!(futures::FutureExt::now_or_never(supervisor.ended()).is_none());
    }

    #[tokio::test]
    async fn the_supervisor_reports_a_panic_with_its_message() {
        let mut supervisor = Supervisor::new();
        supervisor.hold(spawn("forever", std::future::pending::<()>()));
        let (commands, inbox) = channel::<Command>("BGP manager", 4);
        supervisor.hold(commands.spawn(async move {
            let _inbox = inbox;
            let peers: Vec<u32> = Vec::new();
            if peers.is_empty() {
                panic!("no peer {}", peers.len());
            }
        }));
        let (name, ended) = supervisor.ended().await;
        assert_eq!(name, "BGP manager");
        assert!(matches!(&ended, Ended::Panicked(m) if m == "no peer 0"), "{ended:?}");
        // Its handles now answer an error, not an empty value.
        let asked = commands.ask(|reply| Command::Double(1, reply)).await;
        assert_eq!(asked, Err(Stopped { stage: "BGP manager" }));
        // The task still running is still held, and not reported.
        assert!(futures::FutureExt::now_or_never(supervisor.ended()).is_none());
    }
}
