//! The object store media bytes live in (issue 14): a folder of the data directory by default,
//! any S3-compatible store for several replicas (the `object_store` crate). Objects are keyed
//! by tenant and SHA-256 (`media/<tenant>/<sha256>`), so the same file is kept once per tenant
//! however often it comes. Writes and reads are streamed: an upload goes to a staging object
//! in parts while its hash is taken, then moves to its key; nothing holds a whole file.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
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

    /// Stores a tenant's upload from `body`, streamed, refusing it past `max` bytes (nothing
    /// is kept of a refused or broken upload). The same bytes stored again are kept once.
    pub async fn put(
        &self,
        tenant_id: &str,
        mut body: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
        max: u64,
    ) -> Result<Stored, ObjectError> {
        let staging = Path::from(format!("staging/{}", openbsp_domain::ids::new_id("stg")));
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hasher = Sha256::new();
        let (mut size, mut head) = (0u64, Vec::with_capacity(HEAD_BYTES));
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
            hasher.update(&chunk);
            if head.len() < HEAD_BYTES {
                let take = (HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(e.into());
            }
            writer.put(chunk);
        }
        writer.finish().await?;
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
}
