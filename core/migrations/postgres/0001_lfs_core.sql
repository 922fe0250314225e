-- Users, repositories, tokens, LFS objects and their links to repositories, and locks.
-- Times are unix seconds.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE repos (
    id BIGSERIAL PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    created_at BIGINT NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE access_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE objects (
    oid TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repo_objects (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL REFERENCES objects(oid),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);

CREATE TABLE locks (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    ref_name TEXT,
    owner_key TEXT NOT NULL,
    owner_name TEXT NOT NULL,
    locked_at BIGINT NOT NULL,
    UNIQUE (repo_id, path)
);
