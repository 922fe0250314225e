-- A person's marks on files, folders and datasets (path '' is the whole dataset): those they
-- starred, and those they opened lately (the newest few per person are kept).
CREATE TABLE starred (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, repo_id, path)
);
CREATE TABLE recent (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, repo_id, path)
);
CREATE INDEX recent_by_user ON recent (user_id, seen_at);
