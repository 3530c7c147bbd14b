-- In-app notifications (issue 21): the bell of the top bar. One row per recipient user, written
-- in the transaction of the event that also queues its email (mail::notify), with the same
-- preferences. `text` is the email's subject rendered in the recipient's language; the record
-- is (entity_type, entity_id), re-checked for visibility when the user opens it.

CREATE TABLE notifications (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
-- The list, newest first (keyset on id), and "mark all read".
CREATE INDEX notifications_user ON notifications (user_id, id);
-- The bell: the unread count of a user, a range of this small index.
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;
-- The daily purge of old read notifications.
CREATE INDEX notifications_read_at ON notifications (read_at) WHERE read_at IS NOT NULL;
