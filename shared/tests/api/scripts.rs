//! The local tools on a machine that is not empty: `scripts/mongo.sh start` on a port that
//! another process holds says so in one line and prints no URI, so the scripts that call it
//! (`MONGODB_URI=$(scripts/mongo.sh start)` under `set -e`) stop there.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn mongo_sh_start_refuses_a_port_held_by_another_process() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dbpath = std::env::temp_dir().join(format!("chat-backend-busy-port-{port}"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("bash")
        .arg(repo.join("scripts/mongo.sh"))
        .arg("start")
        .env("MONGO_PORT", port.to_string())
        .env("MONGO_DBPATH", &dbpath)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dbpath);
    let _ = std::fs::remove_file(dbpath.with_extension("lock"));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "printed a URI");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A first run may also say that it installs mongod; nothing else.
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.contains("installing"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "mongo.sh: port {port} is taken by another process; choose another with MONGO_PORT=<port>"
        )]
    );
}
