//! Database faults injected during the load: mongod killed with SIGKILL and started again by
//! `scripts/mongo.sh` (same port and data directory), and mongod frozen with SIGSTOP. Each
//! fault opens a window in which 503 answers are the expected outcome.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Plan {
    pub mongo_port: String,
    pub mongo_dbpath: PathBuf,
    /// SIGKILL this long after the start, and start mongod again `down_for` later.
    pub kill_at: Option<Duration>,
    pub down_for: Duration,
    /// SIGSTOP this long after the start, SIGCONT `pause_for` later.
    pub pause_at: Option<Duration>,
    pub pause_for: Duration,
    /// How long after mongod is back 503s are still expected: the driver notices a returned
    /// server on its next check, and in-flight requests finish their timeout.
    pub grace: Duration,
}

pub struct Window {
    pub what: &'static str,
    pub from: Instant,
    /// When mongod was back (started again, or resumed).
    pub back: Instant,
    pub until: Instant,
}

impl Window {
    pub fn overlaps(&self, started: Instant, ended: Instant) -> bool {
        started < self.until && ended > self.from
    }
}

/// Runs the plan from `start`; returns the windows it opened.
pub async fn run(plan: Plan, start: Instant) -> Vec<Window> {
    let mut steps: Vec<(Duration, &'static str)> = Vec::new();
    steps.extend(plan.kill_at.map(|at| (at, "kill")));
    steps.extend(plan.pause_at.map(|at| (at, "pause")));
    steps.sort();
    let mut windows = Vec::new();
    for (at, what) in steps {
        tokio::time::sleep_until((start + at).into()).await;
        let pid = mongod_pid(&plan);
        let from = Instant::now();
        let back = if what == "kill" {
            signal("KILL", &pid);
            eprintln!("loadtest: mongod (pid {pid}) killed with SIGKILL");
            tokio::time::sleep(plan.down_for).await;
            let (port, dbpath) = (plan.mongo_port.clone(), plan.mongo_dbpath.clone());
            tokio::task::spawn_blocking(move || restart(&port, &dbpath))
                .await
                .expect("restart");
            eprintln!(
                "loadtest: mongod serving again {:.1} s after the kill",
                from.elapsed().as_secs_f64()
            );
            Instant::now()
        } else {
            signal("STOP", &pid);
            eprintln!("loadtest: mongod (pid {pid}) paused with SIGSTOP");
            tokio::time::sleep(plan.pause_for).await;
            signal("CONT", &pid);
            eprintln!("loadtest: mongod resumed");
            Instant::now()
        };
        windows.push(Window {
            what: if what == "kill" {
                "SIGKILL + restart"
            } else {
                "SIGSTOP"
            },
            from,
            back,
            until: back + plan.grace,
        });
    }
    windows
}

fn mongod_pid(plan: &Plan) -> String {
    let file = plan.mongo_dbpath.join("mongod.pid");
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .to_owned()
}

fn signal(name: &str, pid: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

fn restart(port: &str, dbpath: &PathBuf) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh");
    let status = Command::new(script)
        .arg("start")
        .env("MONGO_PORT", port)
        .env("MONGO_DBPATH", dbpath)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("scripts/mongo.sh");
    assert!(status.success(), "scripts/mongo.sh start");
}
