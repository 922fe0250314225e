-- Notifications: what a user is told in the web interface (something shared with them, a merge
-- request waiting for them, a failed contract on their dataset, a webhook of theirs paused).
-- Written by the event dispatcher in the transaction that fans the event out.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the event kind, or webhook.paused
    kind TEXT NOT NULL,
    dataset TEXT NOT NULL,
    actor TEXT,
    -- the event's fields (JSON), as the user may read them
    data TEXT NOT NULL,
    -- the event told of (none for a paused webhook)
    event_id BIGINT,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    UNIQUE (user_id, event_id)
);
CREATE INDEX notifications_unread ON notifications (user_id, read_at);
