-- Delta Sharing (`crate::compat::delta_sharing`, `crate::sharing::recipients`): the shares of a
-- namespace (a user or an organisation), each naming tables of its datasets under a schema, and
-- the recipients that read them with a bearer token, kept as its sha256. Share, schema and table
-- names are kept in lower case: the protocol compares them so.
CREATE TABLE delta_shares (
    id BIGSERIAL PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE delta_share_tables (
    id BIGSERIAL PRIMARY KEY,
    share_id BIGINT NOT NULL REFERENCES delta_shares(id) ON DELETE CASCADE,
    schema_name TEXT NOT NULL,
    name TEXT NOT NULL,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    -- A branch or a tag; NULL: the default branch.
    at_ref TEXT,
    -- JSON: the columns shared (NULL: every column the policies leave), the share's row filters.
    columns TEXT,
    filters TEXT,
    -- The first version recipients may read.
    start_version BIGINT NOT NULL DEFAULT 0,
    -- The table's id in the protocol's metadata.
    uuid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (share_id, schema_name, name)
);
CREATE INDEX delta_share_tables_repo ON delta_share_tables (repo_id);

CREATE TABLE delta_recipients (
    id BIGSERIAL PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    -- What policies see of an outside party (`subject.organizations`, `context.intent`).
    organization TEXT NOT NULL DEFAULT '',
    purpose TEXT NOT NULL DEFAULT '',
    -- A strata user or team the recipient stands for (policies see their groups too).
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    team_id BIGINT REFERENCES teams(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    -- JSON: the addresses and CIDR blocks calls may come from; NULL: any.
    ip_allow TEXT,
    expires_at BIGINT,
    revoked_at BIGINT,
    queries BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    UNIQUE (namespace, name)
);

CREATE TABLE delta_recipient_shares (
    recipient_id BIGINT NOT NULL REFERENCES delta_recipients(id) ON DELETE CASCADE,
    share_id BIGINT NOT NULL REFERENCES delta_shares(id) ON DELETE CASCADE,
    PRIMARY KEY (recipient_id, share_id)
);
CREATE INDEX delta_recipient_shares_share ON delta_recipient_shares (share_id);
