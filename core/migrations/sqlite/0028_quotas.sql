-- Storage quotas a site admin set per namespace (a user's or an organisation's), in stored bytes;
-- namespaces without one have the server's default (`--quota-bytes`).
CREATE TABLE quotas (
    namespace TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    set_by TEXT,
    updated_at BIGINT NOT NULL
);
