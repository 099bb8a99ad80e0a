//! `openbsp campaign create|upload|start|pause|resume|cancel|show|watch`: campaigns through
//! a running gateway's native API (its URL and an API key from flags or the environment), so
//! the command works against any replica and needs no access to the database. `upload`
//! streams the file with a progress bar over its bytes; `watch` draws the campaign's progress
//! until it ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::admin::print;

/// Where the gateway is, and who asks.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "OPENBSP_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// A tenant's API key.
    #[arg(long, env = "OPENBSP_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    #[command(subcommand)]
    pub command: CampaignCmd,
}

#[derive(Debug, Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign (in draft).
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The channel: phone number id or channel id.
        #[arg(long)]
        channel: String,
        /// The template's name.
        #[arg(long)]
        template: String,
        /// The template's language.
        #[arg(long)]
        language: String,
        /// A body variable, in order: text with `{{column}}` placeholders (repeat the flag).
        #[arg(long = "variable")]
        variables: Vec<String>,
        /// The template's components as Cloud API JSON, placeholders in their text values
        /// (instead of --variable).
        #[arg(long, conflicts_with = "variables")]
        components: Option<String>,
        /// When it starts (RFC 3339), if not when started.
        #[arg(long)]
        start_at: Option<String>,
        /// Its own rate (msg/s), under the channel's.
        #[arg(long)]
        rate_limit: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Add recipients from a file: CSV (a header; phone, wa_id or user_id, and the variables)
    /// or JSON lines.
    Upload {
        /// The campaign (`cmp_…`).
        id: String,
        /// The file.
        file: PathBuf,
        /// `csv` or `ndjson` [default: from the file's extension].
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Start it (now, or at its start time).
    Start {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause it.
    Pause {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Resume it.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel it.
    Cancel {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Show it, with its counts.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Follow its progress until it ends.
    Watch {
        id: String,
        /// How often to look (ms).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
}

/// The gateway's API, as the commands call it.
struct Api {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Api {
    fn new(args: &CampaignArgs) -> Result<Api> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = args
            .api_key
            .clone()
            .ok_or_else(|| anyhow!("an API key is needed: --api-key or OPENBSP_API_KEY"))?;
        Ok(Api {
            http: reqwest::Client::new(),
            url: args.url.trim_end_matches('/').to_string(),
            key,
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let r = req
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.url))?;
        let status = r.status();
        let text = r.text().await.context("reading the gateway's answer")?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let code = v
                .pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("");
            bail!("the gateway answered {status}: {message} ({code})");
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.url)).json(body))
            .await
    }
}

/// Runs a campaign command.
pub async fn run(args: CampaignArgs) -> Result<()> {
    let api = Api::new(&args)?;
    match args.command {
        CampaignCmd::Create {
            name,
            channel,
            template,
            language,
            variables,
            components,
            start_at,
            rate_limit,
            json,
        } => {
            let mut t = json!({"name": template, "language": language});
            if let Some(c) = components {
                t["components"] = serde_json::from_str(&c).context("--components is not JSON")?;
            } else if !variables.is_empty() {
                t["variables"] = json!(variables);
            }
            let mut body = json!({"name": name, "channel": channel, "template": t});
            if let Some(s) = start_at {
                body["start_at"] = json!(s);
            }
            if let Some(r) = rate_limit {
                body["rate_limit"] = json!(r);
            }
            let c = api.post("/v1/campaigns", &body).await?;
            print(json, &c, || {
                format!(
                    "campaign {} created (draft); its files need the columns: {}",
                    c["id"].as_str().unwrap_or(""),
                    columns(&c)
                )
            });
        }
        CampaignCmd::Upload {
            id,
            file,
            format,
            json,
        } => {
            let report = upload(&api, &id, &file, format.as_deref()).await?;
            print(json, &report, || upload_summary(&report));
        }
        CampaignCmd::Start { id, json } => act(&api, &id, "start", json).await?,
        CampaignCmd::Pause { id, json } => act(&api, &id, "pause", json).await?,
        CampaignCmd::Resume { id, json } => act(&api, &id, "resume", json).await?,
        CampaignCmd::Cancel { id, json } => act(&api, &id, "cancel", json).await?,
        CampaignCmd::Show { id, json } => {
            let c = api.get(&format!("/v1/campaigns/{id}")).await?;
            print(json, &c, || show(&c));
        }
        CampaignCmd::Watch { id, interval_ms } => {
            watch(&api, &id, Duration::from_millis(interval_ms.max(100))).await?
        }
    }
    Ok(())
}

async fn act(api: &Api, id: &str, verb: &str, json: bool) -> Result<()> {
    let c = api
        .post(&format!("/v1/campaigns/{id}/{verb}"), &json!({}))
        .await?;
    print(json, &c, || show(&c));
    Ok(())
}

fn columns(c: &Value) -> String {
    let cols: Vec<&str> = c["template"]["columns"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if cols.is_empty() {
        "phone (or wa_id, or user_id)".to_string()
    } else {
        format!("phone (or wa_id, or user_id), {}", cols.join(", "))
    }
}

/// One campaign, for a person.
fn show(c: &Value) -> String {
    let n = |k: &str| c["counts"][k].as_u64().unwrap_or(0);
    let mut s = format!(
        "{} \"{}\": {}{}\n  template {} ({}), channel {}\n  total {}  pending {} (waiting for the messaging limit {})  sent {}  delivered {}  read {}  replied {}  failed {}  skipped {}",
        c["id"].as_str().unwrap_or(""),
        c["name"].as_str().unwrap_or(""),
        c["status"].as_str().unwrap_or(""),
        c["pause_reason"]
            .as_object()
            .map(|r| format!(" ({})", Value::Object(r.clone())))
            .unwrap_or_default(),
        c["template"]["name"].as_str().unwrap_or(""),
        c["template"]["language"].as_str().unwrap_or(""),
        c["channel_id"].as_str().unwrap_or(""),
        n("total"),
        n("pending"),
        n("waiting"),
        n("sent"),
        n("delivered"),
        n("read"),
        n("replied"),
        n("failed"),
        n("skipped"),
    );
    if let Some(f) = c["failures"].as_array().filter(|f| !f.is_empty()) {
        let list: Vec<String> = f
            .iter()
            .map(|x| format!("{} × {}", x["code"].as_str().unwrap_or("?"), x["count"]))
            .collect();
        s.push_str(&format!("\n  failures: {}", list.join(", ")));
    }
    if n("held") > 0 {
        s.push_str(&format!(
            "\n  {} sent held by Meta for the template's quality assessment (template pacing)",
            n("held")
        ));
    }
    if let (Some(rate), Some(eta)) = (c["rate"].as_u64(), c["eta_seconds"].as_u64()) {
        s.push_str(&format!("\n  {rate} msg/s, about {eta} s to go"));
    }
    s
}

fn upload_summary(r: &Value) -> String {
    let mut s = format!(
        "{} accepted, {} duplicates, {} rejected",
        r["accepted"], r["duplicates"], r["rejected"]
    );
    if r["skipped"].as_u64().unwrap_or(0) > 0 {
        s.push_str(&format!(
            " ({} of the accepted skipped: opted out of marketing)",
            r["skipped"]
        ));
    }
    for e in r["errors"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "\n  line {}: {}",
            e["line"],
            e["reason"].as_str().unwrap_or("")
        ));
    }
    s
}

/// The format of an upload: given, or from the file's extension.
fn content_type(file: &Path, format: Option<&str>) -> Result<&'static str> {
    let f = match format {
        Some(f) => f.to_ascii_lowercase(),
        None => file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase(),
    };
    match f.as_str() {
        "csv" => Ok("text/csv"),
        "ndjson" | "jsonl" => Ok("application/x-ndjson"),
        other => bail!(
            "cannot tell the format of {} ({other:?}): give --format csv or --format ndjson",
            file.display()
        ),
    }
}

/// Streams the file to the gateway with a progress bar over its bytes.
async fn upload(api: &Api, id: &str, file: &Path, format: Option<&str>) -> Result<Value> {
    let ct = content_type(file, format)?;
    let f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let size = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} uploading [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .map_err(|e| anyhow!("{e}"))?
        .progress_chars("=> "),
    );
    let counted = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024)
        .inspect_ok(move |chunk: &bytes::Bytes| counted.inc(chunk.len() as u64));
    let req = api
        .http
        .post(format!("{}/v1/campaigns/{id}/recipients", api.url))
        .header("content-type", ct)
        .body(reqwest::Body::wrap_stream(stream));
    let result = api.call(req).await;
    bar.finish_and_clear();
    result
}

/// Draws the campaign's progress until it completes or is cancelled.
async fn watch(api: &Api, id: &str, every: Duration) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg}")
            .map_err(|e| anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let mut last: Option<(Instant, u64)> = None;
    loop {
        let c = api.get(&format!("/v1/campaigns/{id}")).await?;
        let n = |k: &str| c["counts"][k].as_u64().unwrap_or(0);
        let total = n("total");
        let done = total.saturating_sub(n("pending"));
        let now = Instant::now();
        let rate = last
            .map(|(t, d)| done.saturating_sub(d) as f64 / now.duration_since(t).as_secs_f64())
            .unwrap_or(0.0);
        last = Some((now, done));
        let status = c["status"].as_str().unwrap_or("").to_string();
        let eta = if rate > 0.0 {
            format!("ETA {:.0} s", n("pending") as f64 / rate)
        } else {
            "ETA -".to_string()
        };
        bar.set_length(total);
        bar.set_position(done);
        bar.set_prefix(status.clone());
        bar.set_message(format!(
            "sent {} delivered {} read {} failed {} skipped {} | {rate:.0} msg/s | {eta}",
            n("sent"),
            n("delivered"),
            n("read"),
            n("failed"),
            n("skipped"),
        ));
        if status == "completed" || status == "cancelled" {
            bar.finish();
            println!("{}", show(&c));
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}
