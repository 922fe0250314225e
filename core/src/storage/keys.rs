//! Keys for encryption at rest (`--encryption on`): one master key, and a data key per dataset
//! (a user's drive is a dataset, so it has its own), wrapped by the master key with AES-256-GCM
//! and kept in `data_keys`.
//!
//! - The master key comes from `STRATA_MASTER_KEY` (64 hex digits), `--master-key-file`, or is
//!   generated into `<data-dir>/keys/master.key` (mode 0600) on first start. Its id (a hash of
//!   it) is stored beside every key it wraps, so a server started with another master key says
//!   so instead of failing to decrypt.
//! - A sealed object's header names the data key by id; a key is only ever used for the
//!   dataset it belongs to.
//! - Destroying a dataset's keys (crypto-shredding) makes its objects unreadable at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;
use strata_lfs::storage::sealed_io::DataKey;

use crate::db::Db;
use crate::error::{Error, Kind, Result};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Where the master key comes from.
pub enum MasterSource<'a> {
    Hex(&'a str),
    File(&'a Path),
}

/// The master key and the dataset keys it unwraps.
pub struct KeyRing {
    master: LessSafeKey,
    master_id: String,
    db: Db,
    unwrapped: Mutex<HashMap<i64, DataKey>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing(master {})", self.master_id)
    }
}

fn parse_hex(text: &str) -> std::result::Result<[u8; 32], String> {
    let wrong = || "a master key is 32 bytes written as 64 hex digits".to_owned();
    let bytes = hex::decode(text.trim()).map_err(|_| wrong())?;
    bytes.try_into().map_err(|_| wrong())
}

impl KeyRing {
    /// Loads the master key (generating it into a missing file).
    pub fn load(source: MasterSource<'_>, db: Db) -> std::result::Result<KeyRing, String> {
        let key = match source {
            MasterSource::Hex(hex) => {
                parse_hex(hex).map_err(|e| format!("STRATA_MASTER_KEY: {e}"))?
            }
            MasterSource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => parse_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut key = [0u8; 32];
                    SystemRandom::new()
                        .fill(&mut key)
                        .map_err(|_| "no randomness".to_owned())?;
                    crate::auth::keys::write_secret(path, hex::encode(key).as_bytes())
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    tracing::info!(path = %path.display(), "generated a new master key: back it up, the sealed objects are unreadable without it");
                    key
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            },
        };
        let id = sha2::Sha256::new()
            .chain_update(b"strata master key id\0")
            .chain_update(key)
            .finalize();
        Ok(KeyRing {
            master: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).map_err(|_| "bad key")?),
            master_id: hex::encode(&id[..8]),
            db,
            unwrapped: Mutex::new(HashMap::new()),
        })
    }

    fn aad(repo_id: i64, version: i64) -> String {
        format!("strata data key {repo_id} {version}")
    }

    fn wrap(&self, repo_id: i64, version: i64, key: &[u8; 32]) -> String {
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).expect("randomness");
        let mut sealed = key.to_vec();
        self.master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(repo_id, version)),
                &mut sealed,
            )
            .expect("AES-GCM seals 32 bytes");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    fn unwrap(&self, row: &crate::db::KeyRow) -> Result<DataKey> {
        let Some(wrapped) = &row.wrapped else {
            return Err(Error::new(
                Kind::Gone,
                "this dataset's data key was destroyed: its objects are gone",
            ));
        };
        if row.master_id != self.master_id {
            return Err(Error::internal(format!(
                "data key {} is wrapped by master key {}, this server has {}: start it with that master key",
                row.id, row.master_id, self.master_id
            )));
        }
        let mut bytes = B64.decode(wrapped).map_err(Error::internal)?;
        if bytes.len() != 12 + 32 + 16 {
            return Err(Error::internal(format!("data key {} is malformed", row.id)));
        }
        let nonce: [u8; 12] = bytes[..12].try_into().expect("12 bytes");
        let key = self
            .master
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(row.repo_id, row.version)),
                &mut bytes[12..],
            )
            .map_err(|_| Error::internal(format!("data key {} does not unwrap", row.id)))?;
        Ok(DataKey {
            id: row.id as u64,
            version: row.version as u32,
            key: key.try_into().expect("32 bytes"),
        })
    }

    fn remember(&self, key: &DataKey) {
        let mut cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(key.id as i64, key.clone());
    }

    /// The key new objects of a dataset are sealed with (made on first use). A dataset whose
    /// keys were destroyed gets none: 410.
    pub async fn current(&self, repo_id: i64) -> Result<DataKey> {
        loop {
            if let Some(row) = self.db.newest_data_key(repo_id).await? {
                if let Some(key) = self.cached(row.id) {
                    return Ok(key);
                }
                let key = self.unwrap(&row)?;
                self.remember(&key);
                return Ok(key);
            }
            if let Some(key) = self.make(repo_id, 1).await? {
                return Ok(key);
            }
            // Another request made the first key at the same time: use that one.
        }
    }

    /// A new key version `version` for a dataset; `None` when another one took it first.
    async fn make(&self, repo_id: i64, version: i64) -> Result<Option<DataKey>> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| Error::internal("no randomness"))?;
        let wrapped = self.wrap(repo_id, version, &key);
        let Some(row) = self
            .db
            .insert_data_key(repo_id, version, &wrapped, &self.master_id)
            .await?
        else {
            return Ok(None);
        };
        let key = DataKey {
            id: row.id as u64,
            version: version as u32,
            key,
        };
        self.remember(&key);
        Ok(Some(key))
    }

    /// Data-key rotation: a new version of a dataset's key, which new objects are sealed with
    /// (the old versions keep opening the objects sealed before).
    pub async fn rotate(&self, repo_id: i64) -> Result<DataKey> {
        loop {
            let next = match self.db.newest_data_key(repo_id).await? {
                Some(row) if row.wrapped.is_none() => {
                    return Err(Error::new(Kind::Gone, "this dataset's keys were destroyed"))
                }
                Some(row) => row.version + 1,
                None => 1,
            };
            if let Some(key) = self.make(repo_id, next).await? {
                return Ok(key);
            }
        }
    }

    /// Master-key rotation: every live data key is wrapped again under `new`'s master key, one
    /// row at a time (a run that stops half-way can run again: rows already under `new` are
    /// skipped). No object is touched. Returns how many keys were rewrapped.
    pub async fn rewrap_all(&self, new: &KeyRing) -> Result<u64> {
        let mut done = 0;
        for row in self.db.live_data_keys().await? {
            if row.master_id == new.master_id {
                continue;
            }
            let key = self.unwrap(&row)?;
            let wrapped = new.wrap(row.repo_id, row.version, &key.key);
            if self
                .db
                .rewrap_data_key(row.id, &wrapped, &new.master_id)
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// The master key's id, as stored beside the keys it wraps.
    pub fn master_id(&self) -> &str {
        &self.master_id
    }

    fn cached(&self, id: i64) -> Option<DataKey> {
        let cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&id).cloned()
    }

    /// The key a sealed object's header names, if it is one of `repo_id`'s.
    pub async fn by_id(&self, repo_id: i64, id: u64) -> Result<DataKey> {
        let id = i64::try_from(id).map_err(|_| Error::internal("a sealed header names no key"))?;
        let row = self
            .db
            .data_key(id)
            .await?
            .filter(|r| r.repo_id == repo_id)
            .ok_or_else(|| Error::internal("a sealed object names a key of another dataset"))?;
        if row.wrapped.is_some() {
            if let Some(key) = self.cached(id) {
                return Ok(key);
            }
        }
        let key = self.unwrap(&row)?;
        self.remember(&key);
        Ok(key)
    }

    /// Destroys a dataset's keys: its sealed objects are unreadable from now on.
    pub async fn shred(&self, repo_id: i64) -> Result<()> {
        self.db.destroy_data_keys(repo_id).await?;
        let mut cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        cache.clear();
        Ok(())
    }

    /// Destroys a dataset's key versions before `version` (erasure); the versions destroyed.
    pub async fn destroy_before(&self, repo_id: i64, version: u32) -> Result<Vec<u32>> {
        let gone = self
            .db
            .destroy_data_keys_before(repo_id, i64::from(version))
            .await?;
        let mut cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        cache.clear();
        Ok(gone.into_iter().map(|v| v as u32).collect())
    }

    /// Whether a dataset's keys were destroyed.
    pub async fn shredded(&self, repo_id: i64) -> Result<bool> {
        Ok(self
            .db
            .newest_data_key(repo_id)
            .await?
            .is_some_and(|r| r.wrapped.is_none()))
    }
}
