-- Encryption at rest: each dataset's data keys, wrapped (AES-256-GCM) by the master key. A
-- sealed object's header names its key by id and version. Destroying a dataset's keys
-- (crypto-shredding) clears `wrapped`: its objects can never be read again. No foreign key: the
-- row outlives the dataset to answer 410 for its objects.
CREATE TABLE data_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    wrapped TEXT,
    master_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER,
    UNIQUE (repo_id, version)
);
