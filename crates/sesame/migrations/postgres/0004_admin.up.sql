-- Admin listing: byte-order indexes so that a prefix search is an index range scan whatever the
-- database's collation, and a way to find paused accounts without scanning users.
CREATE INDEX users_email_prefix_idx ON users (email_normalized COLLATE "C");
CREATE INDEX users_username_prefix_idx ON users (username_normalized COLLATE "C") WHERE username_normalized IS NOT NULL;
CREATE INDEX login_throttle_locked_idx ON login_throttle (locked_until);
