-- Encryption at rest: each dataset's data keys, wrapped (AES-256-GCM) by the master key. A
-- sealed object's header names its key by id and version. Destroying a dataset's keys
-- (crypto-shredding) clears `wrapped`: its objects can never be read again. No foreign key: the
-- row outlives the dataset to answer 410 for its objects.
CREATE TABLE data_keys (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    wrapped TEXT,
    master_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT,
    UNIQUE (repo_id, version)
);
