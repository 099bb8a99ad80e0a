//! `media`: media through the gateway, against the real binary: one large file (a 100 MB
//! document by default) uploaded to `POST /v1/media` and downloaded from
//! `GET /v1/media/{id}/content`, streamed both ways, beside a plain copy of the same bytes on
//! the same disk; the gateway's resident memory sampled during the large transfer (flat when
//! streamed); then many small images (1,000 of 50 KB by default), 16 at a time; then users'
//! images (500 by default) sent to the number through the simulator, each fetched from it by
//! the gateway's media fetcher (URL, download, sha256 check, store): inbound media stored per
//! second. `--s3-url` keeps the bytes in a fresh bucket of an S3-compatible server instead of
//! the data directory's folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;

use crate::campaign::rss_kib;
use crate::database::{BenchDb, DbKind};
use crate::machine::Machine;
use crate::scene::{register_number, simulator_limit, start};

/// `openbsp-bench media`.
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// The large file's size, MB.
    #[arg(long, default_value_t = 100)]
    pub large_mb: u64,
    /// Small images.
    #[arg(long, default_value_t = 1_000)]
    pub small: u32,
    /// Each small image's size, KB.
    #[arg(long, default_value_t = 50)]
    pub small_kb: u64,
    /// Users' images fetched from Meta (the simulator) by the gateway.
    #[arg(long, default_value_t = 500)]
    pub inbound: u32,
    /// An S3-compatible server (e.g. `python3 -m moto.server`) to keep the bytes in, in a
    /// fresh bucket, instead of the data directory's folder.
    #[arg(long)]
    pub s3_url: Option<String>,
    /// The gateway binary (`cargo build --release -p openbsp`).
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One transfer measured.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    bytes: u64,
    seconds: f64,
}

impl Transfer {
    fn mb_s(self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct MediaReport {
    database: DbKind,
    copy: Transfer,
    upload: Transfer,
    download: Transfer,
    rss_before_kib: u64,
    rss_peak_kib: u64,
    small: u32,
    small_upload: Transfer,
    small_download: Transfer,
    inbound: u32,
    inbound_stored: Transfer,
    store: &'static str,
    intact: bool,
    machine: Machine,
}

impl MediaReport {
    /// Whether every byte came back as it went.
    pub fn ok(&self) -> bool {
        self.intact
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        format!(
            "media ({}, bytes in {}): one file of {:.1} MB\n  plain copy on the same disk: {:.0} MB/s\n  upload (POST /v1/media): {:.2} s, {:.0} MB/s\n  download (GET …/content): {:.2} s, {:.0} MB/s\n  gateway RSS: {:.1} MB before, {:.1} MB at its peak during the transfers\n  {} small images of {:.0} KB, 16 at a time: upload {:.0} MB/s ({:.0} files/s), download {:.0} MB/s ({:.0} files/s)\n  {} users' images fetched from Meta and stored: {:.2} s, {:.0} files/s, {:.1} MB/s\n  bytes intact: {}\n  machine: {}\n",
            self.database.name(),
            self.store,
            self.upload.bytes as f64 / 1e6,
            self.copy.mb_s(),
            self.upload.seconds,
            self.upload.mb_s(),
            self.download.seconds,
            self.download.mb_s(),
            self.rss_before_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
            self.small,
            self.small_upload.bytes as f64 / 1e3 / f64::from(self.small.max(1)),
            self.small_upload.mb_s(),
            f64::from(self.small) / self.small_upload.seconds.max(1e-9),
            self.small_download.mb_s(),
            f64::from(self.small) / self.small_download.seconds.max(1e-9),
            self.inbound,
            self.inbound_stored.seconds,
            f64::from(self.inbound) / self.inbound_stored.seconds.max(1e-9),
            self.inbound_stored.mb_s(),
            self.intact,
            self.machine.summary(),
        )
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": "media", "database": self.database.name(),
            "large_bytes": self.upload.bytes,
            "copy_mb_s": self.copy.mb_s(),
            "upload_seconds": self.upload.seconds, "upload_mb_s": self.upload.mb_s(),
            "download_seconds": self.download.seconds, "download_mb_s": self.download.mb_s(),
            "rss_before_kib": self.rss_before_kib, "rss_peak_kib": self.rss_peak_kib,
            "small": self.small,
            "small_upload_mb_s": self.small_upload.mb_s(),
            "small_download_mb_s": self.small_download.mb_s(),
            "inbound": self.inbound, "inbound_seconds": self.inbound_stored.seconds,
            "inbound_per_s": f64::from(self.inbound) / self.inbound_stored.seconds.max(1e-9),
            "store": self.store,
            "intact": self.intact,
            "machine": self.machine.to_json(), "ok": self.ok(),
        })
    }
}

/// Runs the scenario.
pub async fn run(args: &MediaArgs) -> Result<MediaReport> {
    crate::scene::in_scratch(
        &args.openbsp,
        args.database,
        "media",
        async |binary, db, data_dir, scratch| measure(args, binary, db, data_dir, scratch).await,
    )
    .await
}

/// `n` pseudo-random bytes after `head` (xorshift: incompressible, distinct per `seed`).
fn file_bytes(head: &[u8], n: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + n);
    out.extend_from_slice(head);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < head.len() + n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(head.len() + n);
    out
}

const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
];

async fn upload_file(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    path: &Path,
    mime: &str,
) -> Result<String> {
    let file = tokio::fs::File::open(path).await?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let r = http
        .post(format!("{base}/v1/media"))
        .bearer_auth(key)
        .header("content-type", mime)
        .body(body)
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::CREATED {
        bail!("the upload: {} {}", r.status(), r.text().await?);
    }
    let v: Value = r.json().await?;
    v["id"].as_str().map(str::to_string).context("no media id")
}

/// Downloads a media, streamed, hashing it; its SHA-256 and size.
async fn fetch(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Result<(String, u64)> {
    let r = http
        .get(format!("{base}/v1/media/{id}/content"))
        .bearer_auth(key)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the download: {} {}", r.status(), r.text().await?);
    }
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

async fn measure(
    args: &MediaArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<MediaReport> {
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    register_number(&http, &meta, &listen, 0, simulator_limit(80)).await?;
    let p = gateway.provision_for(&meta.url, 80).await?;
    let s3 = match &args.s3_url {
        Some(url) => Some((url.clone(), s3_bucket(&http, url).await?)),
        None => None,
    };
    let env: Vec<(&str, &str)> = match &s3 {
        Some((url, bucket)) => vec![
            ("OPENBSP_MEDIA_S3_BUCKET", bucket.as_str()),
            ("OPENBSP_MEDIA_S3_ENDPOINT", url.as_str()),
            ("OPENBSP_MEDIA_S3_REGION", "us-east-1"),
            ("OPENBSP_MEDIA_S3_ACCESS_KEY_ID", "bench"),
            ("OPENBSP_MEDIA_S3_SECRET_ACCESS_KEY", "bench"),
            ("OPENBSP_MEDIA_S3_PATH_STYLE", "true"),
        ],
        None => Vec::new(),
    };
    let server = gateway
        .serve_with_env(&listen, &scratch.join("serve.log"), &env)
        .await?;
    let pid = server.pid().context("the gateway has no pid")?;
    let (base, key) = (server.base_url.clone(), p.api_key.clone());

    let large = file_bytes(PDF, (args.large_mb * 1_000_000) as usize, 1);
    let want = hex::encode(sha2::Sha256::digest(&large));
    let path = scratch.join("large.pdf");
    std::fs::write(&path, &large)?;
    drop(large);
    eprintln!(
        "bench: a plain copy, then the upload and download of {} MB",
        args.large_mb
    );
    // The plain copy: the same bytes read and written on the same disk, synced.
    let started = Instant::now();
    std::fs::copy(&path, scratch.join("large.copy"))?;
    std::fs::File::open(scratch.join("large.copy"))?.sync_all()?;
    let copy = Transfer {
        bytes: args.large_mb * 1_000_000 + PDF.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
    };
    std::fs::remove_file(scratch.join("large.copy"))?;

    let rss_before_kib = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(rss_before_kib));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let id = upload_file(&http, &base, &key, &path, "application/pdf").await?;
    let upload = Transfer {
        bytes: copy.bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    let started = Instant::now();
    let (got, size) = fetch(&http, &base, &key, &id).await?;
    let download = Transfer {
        bytes: size,
        seconds: started.elapsed().as_secs_f64(),
    };
    sampling.abort();
    let mut intact = got == want && size == copy.bytes;

    // Small images, 16 at a time.
    eprintln!("bench: {} small images", args.small);
    let dir = scratch.join("small");
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    for i in 0..args.small {
        let bytes = file_bytes(PNG, (args.small_kb * 1000) as usize, u64::from(i) + 2);
        let path = dir.join(format!("{i}.png"));
        std::fs::write(&path, &bytes)?;
        paths.push((path, hex::encode(sha2::Sha256::digest(&bytes))));
    }
    let small_bytes = u64::from(args.small) * (args.small_kb * 1000 + PNG.len() as u64);
    let started = Instant::now();
    let ids: Vec<Result<String>> = futures::stream::iter(paths.iter())
        .map(|(p, _)| upload_file(&http, &base, &key, p, "image/png"))
        .buffered(16)
        .collect()
        .await;
    let small_upload = Transfer {
        bytes: small_bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    let ids = ids.into_iter().collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let got: Vec<Result<(String, u64)>> = futures::stream::iter(ids.iter())
        .map(|id| fetch(&http, &base, &key, id))
        .buffered(16)
        .collect()
        .await;
    let small_download = Transfer {
        bytes: small_bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    for (r, (_, want)) in got.into_iter().zip(&paths) {
        intact &= r.map(|(sha, _)| &sha == want).unwrap_or(false);
    }
    let (inbound_stored, inbound_intact) =
        inbound(&http, &meta.url, &base, &key, args.inbound, args.small_kb).await?;
    intact &= inbound_intact;
    server.stop(Duration::from_secs(10)).await?;
    Ok(MediaReport {
        database: args.database,
        copy,
        upload,
        download,
        rss_before_kib,
        rss_peak_kib: peak.load(Ordering::Relaxed),
        small: args.small,
        small_upload,
        small_download,
        inbound: args.inbound,
        inbound_stored,
        store: if s3.is_some() { "s3" } else { "folder" },
        intact,
        machine: Machine::detect(),
    })
}

/// A fresh bucket on the S3-compatible server at `url` (path style, created unsigned, as
/// moto's server takes it).
async fn s3_bucket(http: &reqwest::Client, url: &str) -> Result<String> {
    let bucket = format!(
        "openbsp-bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let r = http
        .put(format!("{}/{bucket}", url.trim_end_matches('/')))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the S3 server refused bucket {bucket}: {}", r.status());
    }
    Ok(bucket)
}

/// `n` users each send the number an image of `kb` KB (through the simulator's control API,
/// 16 at a time); the time until the gateway stored every one (its fetcher: Meta's URL, the
/// download, the sha256 check, the store), and whether each stored media is the user's bytes.
async fn inbound(
    http: &reqwest::Client,
    meta: &str,
    base: &str,
    key: &str,
    n: u32,
    kb: u64,
) -> Result<(Transfer, bool)> {
    use base64::Engine;
    eprintln!("bench: {n} users' images fetched from Meta");
    let images: Vec<(String, String)> = (0..n)
        .map(|i| {
            let bytes = file_bytes(PNG, (kb * 1000) as usize, u64::from(i) + 10_000);
            (
                base64::engine::general_purpose::STANDARD.encode(&bytes),
                hex::encode(sha2::Sha256::digest(&bytes)),
            )
        })
        .collect();
    let started = Instant::now();
    let sent: Vec<Result<(String, String)>> = futures::stream::iter(images.iter().enumerate())
        .map(|(i, (b64, sha))| async move {
            let r = http
                .post(format!("{meta}/_simulator/inbound"))
                .json(&json!({"phone_number_id": crate::scene::phone_number_id(0),
                    "from": format!("1555{:07}", 3_000_000 + i), "name": "Bench",
                    "message": {"type": "image", "image": {"file": {
                        "data_base64": b64, "mime_type": "image/png"}}}}))
                .send()
                .await?;
            let v: Value = r.json().await?;
            let wamid = v["wamid"]
                .as_str()
                .with_context(|| format!("the simulator took no image: {v}"))?;
            Ok((wamid.to_string(), sha.clone()))
        })
        .buffered(16)
        .collect()
        .await;
    let sent = sent.into_iter().collect::<Result<Vec<_>>>()?;
    let mut intact = true;
    let deadline = Instant::now() + Duration::from_secs(600);
    for (wamid, sha) in &sent {
        let media = loop {
            let m: Value = http
                .get(format!("{base}/v1/messages/{wamid}"))
                .bearer_auth(key)
                .send()
                .await?
                .json()
                .await?;
            if let Some(id) = m["content"]["image"]["media_id"].as_str() {
                let r = http
                    .get(format!("{base}/v1/media/{id}"))
                    .bearer_auth(key)
                    .send()
                    .await?;
                if r.status().is_success() {
                    break r.json::<Value>().await?;
                }
            }
            // Not stored yet (404), or stored without its media yet.
            if m["object"] == "message" && !m["error"].is_null() {
                bail!("the gateway could not fetch {wamid}: {}", m["error"]);
            }
            if Instant::now() > deadline {
                bail!("{wamid}'s media was not stored within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        intact &= media["sha256"] == sha.as_str();
    }
    let stored = Transfer {
        bytes: u64::from(n) * (kb * 1000 + PNG.len() as u64),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((stored, intact))
}
