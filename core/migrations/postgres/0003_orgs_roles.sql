-- Platform roles, organisations with members and teams, per-dataset collaborators, and the
-- `internal` visibility (readable by every signed-in user), kept as a flag beside `visibility` as
-- in the SQLite schema, so that the queries stay the same for both engines.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'scientist'
    CHECK (role IN ('admin', 'engineer', 'scientist', 'analyst', 'viewer'));
UPDATE users SET role = 'admin' WHERE is_admin <> 0;

ALTER TABLE repos ADD COLUMN internal BIGINT NOT NULL DEFAULT 0;

CREATE TABLE orgs (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE org_members (
    org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE teams (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE collaborators (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    team_id BIGINT REFERENCES teams(id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    CHECK ((user_id IS NULL) <> (team_id IS NULL)),
    UNIQUE (repo_id, user_id),
    UNIQUE (repo_id, team_id)
);
