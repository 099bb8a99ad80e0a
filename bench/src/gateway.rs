//! Driving the `openbsp` binary: provisioning through its CLI, running `openbsp serve`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tokio::process::{Child, Command};

/// The master key every command of one run shares, so that the CLI and the server agree on
/// how secrets are encrypted at rest. Fixed: a benchmark's database is thrown away.
pub const BENCH_MASTER_KEY: &str =
    "0b5e7b3a9c4d2e1f00112233445566778899aabbccddeeff0123456789abcdef";

/// The phone number id of the benchmark's channel.
pub const PHONE_NUMBER_ID: &str = "100200300";

/// How the benchmark reaches one installation: binary, database and data directory.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The `openbsp` binary.
    pub binary: PathBuf,
    /// `--database-url`.
    pub database_url: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
}

/// What provisioning created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// `ten_…`
    pub tenant_id: String,
    /// The API key's secret (`obsp_…`).
    pub api_key: String,
    /// `app_…`
    pub app_id: String,
    /// `chn_…`
    pub channel_id: String,
}

/// The token the bench's gateways require on `GET /metrics`.
pub const BENCH_METRICS_TOKEN: &str = "bench-metrics-token";

impl Gateway {
    /// A command for `openbsp ARGS… --database-url … --data-dir …`, with an environment that
    /// holds no `OPENBSP_*` variable of the caller's except the fixed master key.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .arg("--database-url")
            .arg(&self.database_url)
            .arg("--data-dir")
            .arg(&self.data_dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OPENBSP_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("OPENBSP_MASTER_KEY", BENCH_MASTER_KEY)
            .env("OPENBSP_METRICS_TOKEN", BENCH_METRICS_TOKEN)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs one CLI command that prints JSON and returns that JSON.
    pub async fn run_json(&self, args: &[&str]) -> Result<Value> {
        let shown = format!("openbsp {}", args.join(" "));
        let out = self
            .command(args)
            .output()
            .await
            .with_context(|| format!("running {}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!(
                "`{shown}` failed ({}):\n{}{}",
                out.status,
                stderr.trim_end(),
                if stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nstdout: {}", stdout.trim_end())
                }
            );
        }
        parse_json_output(&stdout).with_context(|| {
            format!("`{shown}` did not print a JSON object; stdout: {stdout:?}; stderr: {stderr:?}")
        })
    }

    /// Creates the benchmark's tenant, API key, app and channel. The channel's Graph base URL
    /// points nowhere on purpose: the `accept` scenario measures accepting, not sending.
    pub async fn provision(&self) -> Result<Provisioned> {
        self.provision_for("http://127.0.0.1:9", 80).await
    }

    /// [`Gateway::provision`] with the channel sending to `graph_base_url` at `throughput_mps`.
    pub async fn provision_for(
        &self,
        graph_base_url: &str,
        throughput_mps: u32,
    ) -> Result<Provisioned> {
        let tenant = self
            .run_json(&["tenant", "create", "--name", "bench", "--json"])
            .await?;
        let tenant_id = string_field(&tenant, "id", "tenant create")?;
        let key = self
            .run_json(&[
                "apikey", "create", "--tenant", &tenant_id, "--name", "bench", "--json",
            ])
            .await?;
        let api_key = string_field(&key, "key", "apikey create")?;
        let app = self
            .run_json(&[
                "app",
                "add",
                "--tenant",
                &tenant_id,
                "--name",
                "bench",
                "--app-secret",
                APP_SECRET,
                "--verify-token",
                "vt",
                "--json",
            ])
            .await?;
        let app_id = string_field(&app, "id", "app add")?;
        let channel_id = self
            .add_channel(
                &tenant_id,
                &app_id,
                PHONE_NUMBER_ID,
                "15550001111",
                graph_base_url,
                throughput_mps,
            )
            .await?;
        Ok(Provisioned {
            tenant_id,
            api_key,
            app_id,
            channel_id,
        })
    }

    /// Adds one more channel (`channel add`, WABA 900) to the tenant and app
    /// [`Gateway::provision_for`] made, sending to `graph_base_url` at `throughput_mps`;
    /// returns its id (`chn_…`).
    pub async fn add_channel(
        &self,
        tenant_id: &str,
        app_id: &str,
        phone_number_id: &str,
        display_phone_number: &str,
        graph_base_url: &str,
        throughput_mps: u32,
    ) -> Result<String> {
        let mps = throughput_mps.to_string();
        let channel = self
            .run_json(&[
                "channel",
                "add",
                "--tenant",
                tenant_id,
                "--app",
                app_id,
                "--phone-number-id",
                phone_number_id,
                "--waba-id",
                "900",
                "--display-phone-number",
                display_phone_number,
                "--access-token",
                "tok",
                "--graph-base-url",
                graph_base_url,
                "--throughput-mps",
                &mps,
                "--json",
            ])
            .await?;
        string_field(&channel, "id", "channel add")
    }

    /// Starts `openbsp serve` on `listen` (logging to `log_path`) and waits until `/readyz`
    /// answers 200.
    pub async fn serve(&self, listen: &str, log_path: &Path) -> Result<Server> {
        self.serve_with_env(listen, log_path, &[]).await
    }

    /// [`Gateway::serve`] with extra environment variables (e.g. `OPENBSP_…` settings).
    pub async fn serve_with_env(
        &self,
        listen: &str,
        log_path: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = self.command(&["serve", "--listen", listen]);
        cmd.env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} serve", self.binary.display()))?;
        let mut server = Server {
            child,
            base_url: format!("http://{listen}"),
            log_path: log_path.to_path_buf(),
        };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }
}

/// The bench app's secret (it signs the inbound webhooks that open the windows).
pub const APP_SECRET: &str = "s3cret";

/// A running `openbsp serve`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
}

impl Server {
    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/readyz", self.base_url);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "openbsp serve exited ({status}) before it was ready; its log ends with:\n{}",
                    self.log_tail(40)
                );
            }
            let last = match client.get(&url).send().await {
                Ok(resp) if resp.status() == reqwest::StatusCode::OK => return Ok(()),
                Ok(resp) => format!("GET /readyz answered {}", resp.status()),
                Err(e) => format!("GET /readyz: {e}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "openbsp serve was not ready after {timeout:?} ({last}); its log ends with:\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id (`None` once it has been waited for).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The server's exit status, if it has exited.
    pub fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        if all.is_empty() {
            "(empty)".to_string()
        } else {
            all[start..].join("\n")
        }
    }

    /// Asks the server to shut down (SIGTERM) and waits up to `grace`, then kills it.
    pub async fn stop(mut self, grace: Duration) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                eprintln!("openbsp serve did not stop within {grace:?} of SIGTERM; killing it");
                self.child.kill().await?;
                Ok(())
            }
        }
    }
}

/// The JSON object a `--json` command printed: the whole of stdout, or else its last line
/// that parses as an object.
pub fn parse_json_output(stdout: &str) -> Result<Value> {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(stdout.trim()) {
        return Ok(v);
    }
    stdout
        .lines()
        .rev()
        .find_map(|line| match serde_json::from_str::<Value>(line.trim()) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => None,
        })
        .ok_or_else(|| anyhow!("no JSON object in the output"))
}

/// A non-empty string field of a command's JSON output.
pub fn string_field(value: &Value, field: &str, command: &str) -> Result<String> {
    match value.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => bail!("`openbsp {command} --json` printed no {field:?} string: {value}"),
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_pretty_and_line_json() {
        let pretty = "{\n  \"id\": \"ten_01\",\n  \"name\": \"bench\"\n}\n";
        assert_eq!(parse_json_output(pretty).unwrap()["id"], "ten_01");
        let noisy = "created tenant\n{\"id\": \"ten_02\"}\n";
        assert_eq!(parse_json_output(noisy).unwrap()["id"], "ten_02");
        assert!(parse_json_output("nothing here\n").is_err());
        assert!(parse_json_output("[1, 2]").is_err());
    }

    #[test]
    fn string_fields() {
        let v = json!({"id": "key_1", "key": "obsp_abc", "n": 3, "empty": ""});
        assert_eq!(
            string_field(&v, "key", "apikey create").unwrap(),
            "obsp_abc"
        );
        assert!(string_field(&v, "n", "x").is_err());
        assert!(string_field(&v, "empty", "x").is_err());
        let err = string_field(&v, "missing", "tenant create").unwrap_err();
        assert!(err.to_string().contains("tenant create"));
    }

    #[test]
    fn master_key_is_64_hex_digits() {
        assert_eq!(BENCH_MASTER_KEY.len(), 64);
        assert!(BENCH_MASTER_KEY.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn commands_carry_database_and_data_dir() {
        let g = Gateway {
            binary: PathBuf::from("/bin/openbsp"),
            database_url: "sqlite:///tmp/x/openbsp.db".into(),
            data_dir: PathBuf::from("/tmp/x"),
        };
        let cmd = g.command(&["tenant", "create"]);
        let args: Vec<String> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "tenant",
                "create",
                "--database-url",
                "sqlite:///tmp/x/openbsp.db",
                "--data-dir",
                "/tmp/x"
            ]
        );
        let key = cmd
            .as_std()
            .get_envs()
            .find(|(k, _)| *k == "OPENBSP_MASTER_KEY")
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned());
        assert_eq!(key.as_deref(), Some(BENCH_MASTER_KEY));
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
