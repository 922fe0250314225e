-- The default branch of a dataset is protected (no force-push, no deletion) unless its admin
-- turns that off.
ALTER TABLE repos ADD COLUMN protect_default_branch INTEGER NOT NULL DEFAULT 1;
-- Users and organisations share one namespace, compared case-insensitively, and so do the
-- datasets inside it.
CREATE UNIQUE INDEX repos_path_nocase ON repos (lower(namespace), lower(name));
CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
CREATE UNIQUE INDEX orgs_name_nocase ON orgs (lower(name));
-- A user's live tokens have distinct names.
CREATE UNIQUE INDEX access_tokens_live_name ON access_tokens (user_id, name) WHERE revoked_at IS NULL;
