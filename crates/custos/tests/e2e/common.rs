//! A real data directory and the real `custos` binary, for every test module.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A temporary directory holding an archive at `data` and the tests' files.
pub struct Archive {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
}

impl Archive {
    /// A directory with no archive in it yet.
    pub fn new() -> Archive {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        Archive { tmp, data }
    }

    /// A directory with a freshly `init`ed archive.
    pub fn initialised() -> Archive {
        let a = Archive::new();
        a.ok(&["init"]);
        a
    }

    /// Runs `custos --data DATA ARGS` as the actor `tester`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_custos"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("CUSTOS_ACTOR", "tester")
            .env_remove("CUSTOS_KEK")
            .env_remove("CUSTOS_DATA")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custos {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; its standard output and error.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "custos {args:?} should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Writes a file beside the archive; its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Every entry, as `custos log --json` prints it.
    pub fn log(&self) -> Vec<Value> {
        self.ok(&["log", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The message entries of the log.
    pub fn messages(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|e| e["kind"] == "message")
            .collect()
    }

    /// How many entries `custos verify` checked.
    pub fn entries(&self) -> u64 {
        let report: Value = serde_json::from_str(&self.ok(&["verify", "--json"])).unwrap();
        report["entries"].as_u64().unwrap()
    }
}
