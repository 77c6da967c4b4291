-- Admin listing: find paused accounts without scanning users.
CREATE INDEX login_throttle_locked_idx ON login_throttle (locked_until);
