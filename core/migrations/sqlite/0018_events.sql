-- Events: what happened to a dataset, written in the same transaction as the change (the
-- outbox), then fanned out by one dispatcher to the matching webhooks' deliveries.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- e.g. branch.updated, tag.created, merge_request.merged
    kind TEXT NOT NULL,
    -- the dataset (namespace/name) it happened to
    dataset TEXT NOT NULL,
    actor TEXT,
    -- the event's own fields (JSON), completed by the dispatcher
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- 0 until fanned out; then the order events were fanned out in (the event stream's ids)
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_pending ON events (id) WHERE seq = 0;
CREATE INDEX events_seq ON events (seq);
-- one event per place in the stream, whichever dispatcher fanned it out
CREATE UNIQUE INDEX events_seq_unique ON events (seq) WHERE seq > 0;

-- Webhooks: where events are delivered, signed with the secret. A webhook is a dataset's
-- (repo_id) or a namespace's: every dataset of a user or an organisation (namespace).
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER REFERENCES repos(id) ON DELETE CASCADE,
    namespace TEXT,
    -- deliveries carry only what this account may read
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- JSON lists: event kinds, and branch, tag and path globs ([]: all)
    kinds TEXT NOT NULL,
    branches TEXT NOT NULL,
    tags TEXT NOT NULL,
    paths TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- the secret before the last rotation, still signing until old_secret_until
    old_secret TEXT,
    old_secret_until INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    -- deliveries failed in a row; past a bound the webhook is paused
    failures INTEGER NOT NULL DEFAULT 0,
    paused_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_repo ON webhooks (repo_id);
CREATE INDEX webhooks_namespace ON webhooks (lower(namespace));

-- Each event's delivery to each webhook, retried until delivered or 24 hours old.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    -- the webhook-id header: the same on every attempt
    message_id TEXT NOT NULL,
    -- pending, delivered or failed
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    -- the last attempt: the answer's status, its time, or what went wrong
    status INTEGER,
    millis INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
