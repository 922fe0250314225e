-- Users, repositories, tokens, LFS objects and their links to repositories, and locks.
-- Times are unix seconds.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE repos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    created_at INTEGER NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE objects (
    oid TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE repo_objects (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL REFERENCES objects(oid),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, oid)
);

CREATE TABLE locks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    ref_name TEXT,
    owner_key TEXT NOT NULL,
    owner_name TEXT NOT NULL,
    locked_at INTEGER NOT NULL,
    UNIQUE (repo_id, path)
);
