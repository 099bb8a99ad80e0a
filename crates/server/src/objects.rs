//! The object store media bytes live in (issue 14): a folder of the data directory by default,
//! any S3-compatible store for several replicas (the `object_store` crate). Objects are keyed
//! by tenant and SHA-256 (`media/<tenant>/<sha256>`), so the same file is kept once per tenant
//! however often it comes. Writes and reads are streamed: an upload goes to a staging object
//! in parts while its hash is taken, then moves to its key; nothing holds a whole file.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

/// Bytes kept from the start of an upload, to check its type by its content.
pub const HEAD_BYTES: usize = 8 * 1024;
/// Parts of an upload (S3's smallest part but the last is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload written at once.
const PARTS_IN_FLIGHT: usize = 2;

/// What went wrong with an object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The upload is larger than it may be.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// The upload's body could not be read (the caller went away).
    #[error("the upload could not be read: {0}")]
    Body(String),
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// The object store failed.
    #[error("the object store failed: {0}")]
    Store(object_store::Error),
}

impl From<object_store::Error> for ObjectError {
    fn from(e: object_store::Error) -> ObjectError {
        match e {
            object_store::Error::NotFound { .. } => ObjectError::NotFound,
            e => ObjectError::Store(e),
        }
    }
}

/// An upload, stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its SHA-256, lower-case hex: with the tenant, its key.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Its first [`HEAD_BYTES`] bytes.
    pub head: Vec<u8>,
}

/// How long an upload's leftovers (staging objects, resumable parts) are kept: past a
/// resumable session's day, and far past any upload's time.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::hours(25);

/// The object store.
#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
}

impl Objects {
    /// Objects in the folder `dir` (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Objects, ObjectError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            ObjectError::Store(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })
        })?;
        Ok(Objects {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
        })
    }

    /// Objects in a bucket of an S3-compatible store.
    pub fn s3(c: &crate::config::S3Config) -> Result<Objects, ObjectError> {
        // The workspace's reqwest brings no TLS provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&c.bucket)
            .with_region(&c.region)
            .with_virtual_hosted_style_request(!c.path_style);
        if let Some(endpoint) = &c.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &c.access_key_id {
            b = b.with_access_key_id(id);
        }
        if let Some(secret) = &c.secret_access_key {
            b = b.with_secret_access_key(secret);
        }
        Ok(Objects {
            store: Arc::new(b.build()?),
        })
    }

    /// Objects in memory (gone with the process).
    pub fn memory() -> Objects {
        Objects {
            store: Arc::new(InMemory::new()),
        }
    }

    /// Objects in any store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Objects {
        Objects { store }
    }

    fn key(tenant_id: &str, sha256: &str) -> Path {
        Path::from(format!("media/{tenant_id}/{sha256}"))
    }

    /// Writes `body` to `key` in parts, streamed, handing each chunk to `each` first; past
    /// `max` bytes, or when the body breaks, nothing is kept. Its size.
    async fn write(
        &self,
        key: &Path,
        body: &mut (impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin),
        max: u64,
        mut each: impl FnMut(&Bytes),
    ) -> Result<u64, ObjectError> {
        let upload = self.store.put_multipart(key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(ObjectError::Body(e.to_string()));
                }
            };
            size += chunk.len() as u64;
            if size > max {
                let _ = writer.abort().await;
                return Err(ObjectError::TooLarge(max));
            }
            each(&chunk);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(e.into());
            }
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(size)
    }

    /// Stores a tenant's upload from `body`, streamed, refusing it past `max` bytes (nothing
    /// is kept of a refused or broken upload). The same bytes stored again are kept once.
    pub async fn put(
        &self,
        tenant_id: &str,
        mut body: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
        max: u64,
    ) -> Result<Stored, ObjectError> {
        let staging = Path::from(format!("staging/{}", openbsp_domain::ids::new_id("stg")));
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let size = self
            .write(&staging, &mut body, max, |chunk| {
                hasher.update(chunk);
                if head.len() < HEAD_BYTES {
                    let take = (HEAD_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
            })
            .await?;
        let sha256 = hex::encode(hasher.finalize());
        // The same bytes under the same key: moving onto an object already there changes
        // nothing.
        if let Err(e) = self
            .store
            .rename(&staging, &Self::key(tenant_id, &sha256))
            .await
        {
            let _ = self.store.delete(&staging).await;
            return Err(e.into());
        }
        Ok(Stored { sha256, size, head })
    }

    /// A tenant's object, or the `range` of its bytes, streamed.
    pub async fn get(
        &self,
        tenant_id: &str,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<GetResult, ObjectError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        Ok(self
            .store
            .get_opts(&Self::key(tenant_id, sha256), options)
            .await?)
    }

    fn parts_prefix(tenant_id: &str, session: &str) -> Path {
        Path::from(format!("uploads/{tenant_id}/{session}"))
    }

    /// Stores the part of a tenant's resumable upload `session` that starts at `offset`,
    /// streamed, refusing it past `max` bytes (nothing kept then): its size.
    pub async fn put_part(
        &self,
        tenant_id: &str,
        session: &str,
        offset: u64,
        mut body: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
        max: u64,
    ) -> Result<u64, ObjectError> {
        let key = Path::from(format!(
            "{}/{offset:020}",
            Self::parts_prefix(tenant_id, session)
        ));
        self.write(&key, &mut body, max, |_| {}).await
    }

    /// The parts a resumable upload has, in order: each one's offset and size.
    pub async fn parts(
        &self,
        tenant_id: &str,
        session: &str,
    ) -> Result<Vec<(u64, u64)>, ObjectError> {
        let prefix = Self::parts_prefix(tenant_id, session);
        let mut listed = self.store.list(Some(&prefix));
        let mut parts = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            if let Some(offset) = meta.location.filename().and_then(|f| f.parse::<u64>().ok()) {
                parts.push((offset, meta.size));
            }
        }
        parts.sort_unstable();
        Ok(parts)
    }

    /// The bytes of a resumable upload's parts, one after the other, streamed.
    pub fn read_parts(
        &self,
        tenant_id: &str,
        session: &str,
        parts: &[(u64, u64)],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
        let prefix = Self::parts_prefix(tenant_id, session);
        let keys: Vec<Path> = parts
            .iter()
            .map(|(offset, _)| Path::from(format!("{prefix}/{offset:020}")))
            .collect();
        let store = self.store.clone();
        Box::pin(
            futures::stream::iter(keys)
                .then(move |key| {
                    let store = store.clone();
                    async move {
                        store
                            .get(&key)
                            .await
                            .map(|r| r.into_stream().map_err(std::io::Error::other))
                            .map_err(std::io::Error::other)
                    }
                })
                .try_flatten(),
        )
    }

    /// Deletes a resumable upload's parts.
    pub async fn delete_parts(&self, tenant_id: &str, session: &str) -> Result<(), ObjectError> {
        for (offset, _) in self.parts(tenant_id, session).await? {
            let key = Path::from(format!(
                "{}/{offset:020}",
                Self::parts_prefix(tenant_id, session)
            ));
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Deletes what uploads left behind that was last written before `before`: staging
    /// objects of uploads cut off by a crash, parts of resumable uploads never finished. How
    /// many went.
    pub async fn sweep(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, ObjectError> {
        let mut swept = 0;
        for prefix in ["staging", "uploads"] {
            let mut listed = self.store.list(Some(&Path::from(prefix)));
            let mut old = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta?;
                if meta.last_modified < before {
                    old.push(meta.location);
                }
            }
            for key in old {
                match self.store.delete(&key).await {
                    Ok(()) => swept += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(swept)
    }

    /// Deletes a tenant's object (gone already: done).
    pub async fn delete(&self, tenant_id: &str, sha256: &str) -> Result<(), ObjectError> {
        match self.store.delete(&Self::key(tenant_id, sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
    }

    async fn read_all(r: GetResult) -> Vec<u8> {
        r.bytes().await.unwrap().to_vec()
    }

    fn staged(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("staging"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Objects in a fresh bucket of the test S3-compatible server.
    async fn s3_objects() -> Objects {
        Objects::s3(&crate::config::S3Config {
            bucket: openbsp_testkit::s3_bucket().await,
            endpoint: Some(openbsp_testkit::s3_url()),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            path_style: true,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn an_upload_is_streamed_hashed_and_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        round_trip(&Objects::local(dir.path()).unwrap()).await;
        assert_eq!(staged(dir.path()), 0);
    }

    #[tokio::test]
    async fn an_upload_is_streamed_hashed_and_kept_once_on_s3() {
        let objects = s3_objects().await;
        round_trip(&objects).await;
        let left: Vec<_> = objects.store.list(None).collect::<Vec<_>>().await;
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn a_refused_upload_leaves_nothing_on_s3() {
        let objects = s3_objects().await;
        let big = vec![vec![7u8; 600_000]; 10];
        assert!(matches!(
            objects.put("ten_1", chunks(big), 5 << 20).await,
            Err(ObjectError::TooLarge(_))
        ));
        let left: Vec<_> = objects.store.list(None).collect::<Vec<_>>().await;
        assert!(left.is_empty(), "{left:?}");
    }

    /// Stores 12 MiB in uneven chunks, reads it whole and by range, stores it again (one
    /// object), then deletes it: nothing left.
    async fn round_trip(objects: &Objects) {
        // 12 MiB in uneven chunks: several parts.
        let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let parts: Vec<Vec<u8>> = data.chunks(700_001).map(<[u8]>::to_vec).collect();
        let stored = objects
            .put("ten_1", chunks(parts.clone()), 100 << 20)
            .await
            .unwrap();
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(stored.size, data.len() as u64);
        assert_eq!(stored.head, data[..HEAD_BYTES]);
        let all = objects.get("ten_1", &stored.sha256, None).await.unwrap();
        assert_eq!(read_all(all).await, data);
        let part = objects
            .get("ten_1", &stored.sha256, Some(5_000_000..5_000_010))
            .await
            .unwrap();
        assert_eq!(read_all(part).await, data[5_000_000..5_000_010]);
        // Again: the same object.
        let again = objects
            .put("ten_1", chunks(parts), 100 << 20)
            .await
            .unwrap();
        assert_eq!(again.sha256, stored.sha256);
        // Another tenant's key is its own.
        assert!(matches!(
            objects.get("ten_2", &stored.sha256, None).await,
            Err(ObjectError::NotFound)
        ));
        objects.delete("ten_1", &stored.sha256).await.unwrap();
        objects.delete("ten_1", &stored.sha256).await.unwrap();
        assert!(matches!(
            objects.get("ten_1", &stored.sha256, None).await,
            Err(ObjectError::NotFound)
        ));
    }

    #[tokio::test]
    async fn a_refused_or_broken_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::local(dir.path()).unwrap();
        let big = vec![vec![7u8; 600_000]; 10];
        assert!(matches!(
            objects.put("ten_1", chunks(big), 5 << 20).await,
            Err(ObjectError::TooLarge(_))
        ));
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from(vec![1u8; 1000])),
            Err(std::io::Error::other("the client went away")),
        ]);
        assert!(matches!(
            objects.put("ten_1", broken, 5 << 20).await,
            Err(ObjectError::Body(_))
        ));
        assert_eq!(staged(dir.path()), 0);
        let media = dir.path().join("media");
        assert!(!media.exists() || std::fs::read_dir(media).unwrap().count() == 0);
        // In memory too.
        let memory = Objects::memory();
        let stored = memory
            .put("ten_1", chunks(vec![b"hello".to_vec()]), 10)
            .await
            .unwrap();
        assert_eq!(
            read_all(memory.get("ten_1", &stored.sha256, None).await.unwrap()).await,
            b"hello"
        );
    }

    /// A resumable upload's parts: kept by offset, listed in order, read back as one stream,
    /// deleted; a part past its room keeps nothing.
    async fn parts_round_trip(objects: &Objects) {
        let a = vec![1u8; 6 << 20];
        let b = b"tail".to_vec();
        assert_eq!(
            objects
                .put_part("ten_1", "s1", 0, chunks(vec![a.clone()]), 10 << 20)
                .await
                .unwrap(),
            a.len() as u64
        );
        assert!(matches!(
            objects
                .put_part("ten_1", "s1", a.len() as u64, chunks(vec![vec![0; 10]]), 4)
                .await,
            Err(ObjectError::TooLarge(4))
        ));
        objects
            .put_part("ten_1", "s1", a.len() as u64, chunks(vec![b.clone()]), 4)
            .await
            .unwrap();
        let parts = objects.parts("ten_1", "s1").await.unwrap();
        assert_eq!(parts, vec![(0, a.len() as u64), (a.len() as u64, 4)]);
        assert!(objects.parts("ten_2", "s1").await.unwrap().is_empty());
        let whole: Vec<u8> = objects
            .read_parts("ten_1", "s1", &parts)
            .try_fold(Vec::new(), |mut all, b| async move {
                all.extend_from_slice(&b);
                Ok(all)
            })
            .await
            .unwrap();
        assert_eq!(whole.len(), a.len() + 4);
        assert_eq!(&whole[a.len()..], b"tail");
        objects.delete_parts("ten_1", "s1").await.unwrap();
        assert!(objects.parts("ten_1", "s1").await.unwrap().is_empty());
    }

    /// The sweep removes staging objects and parts written before its time, never a media's
    /// object, and nothing newer.
    async fn sweep_round_trip(objects: &Objects) {
        let kept = objects
            .put("ten_1", chunks(vec![b"kept".to_vec()]), 10)
            .await
            .unwrap();
        objects
            .put_part("ten_1", "s2", 0, chunks(vec![b"part".to_vec()]), 10)
            .await
            .unwrap();
        objects
            .store
            .put(&Path::from("staging/stg_left"), b"cut off".to_vec().into())
            .await
            .unwrap();
        let hour = chrono::Duration::hours(1);
        assert_eq!(objects.sweep(chrono::Utc::now() - hour).await.unwrap(), 0);
        assert_eq!(objects.sweep(chrono::Utc::now() + hour).await.unwrap(), 2);
        assert!(objects.parts("ten_1", "s2").await.unwrap().is_empty());
        assert!(objects.get("ten_1", &kept.sha256, None).await.is_ok());
    }

    #[tokio::test]
    async fn resumable_parts_and_the_sweep_on_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::local(dir.path()).unwrap();
        parts_round_trip(&objects).await;
        sweep_round_trip(&objects).await;
    }

    #[tokio::test]
    async fn resumable_parts_and_the_sweep_on_s3() {
        let objects = s3_objects().await;
        parts_round_trip(&objects).await;
        sweep_round_trip(&objects).await;
    }
}
