-- Workloads registered over REST (as a FybrikApplication declares one): a user's tool with its
-- intent, the datasets it reads and its protocol. Tokens minted for it carry its id as their
-- family, so policies see the workload, and deleting it ends them.
CREATE TABLE workloads (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    intent TEXT,
    -- ns/name, one per line
    datasets TEXT NOT NULL,
    protocol TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
