-- Gated datasets (`crate::sharing::access`): a public or internal dataset whose files only those
-- whose access request was accepted may read. `repos.gated` says how requests are answered
-- ('' not gated, 'manual', 'auto'); `access_gates` holds the form and the rules; a user's one
-- request per dataset is a row of `access_requests`, and an accepted one is their grant (until
-- `grant_expires_at`, if set).
ALTER TABLE repos ADD COLUMN gated TEXT NOT NULL DEFAULT '';

CREATE TABLE access_gates (
    repo_id BIGINT PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    -- What the form says to visitors, and its questions (JSON: [{name, label, required}]).
    message TEXT NOT NULL DEFAULT '',
    questions TEXT NOT NULL,
    -- JSON: the organisations whose members' requests are accepted at once.
    auto_orgs TEXT NOT NULL DEFAULT '[]',
    -- How long an accepted request grants access (NULL: until revoked), when a pending one is
    -- reminded to the dataset's admins, and when it expires unanswered.
    grant_days BIGINT,
    remind_days BIGINT NOT NULL,
    expire_days BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE access_requests (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- pending, accepted, rejected or expired.
    status TEXT NOT NULL,
    -- JSON: the answers to the gate's questions.
    fields TEXT NOT NULL,
    reason TEXT,
    decided_by TEXT,
    grant_expires_at BIGINT,
    reminded_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (repo_id, user_id)
);
CREATE INDEX access_requests_status ON access_requests (status, updated_at);
CREATE INDEX access_requests_user ON access_requests (user_id, updated_at);
