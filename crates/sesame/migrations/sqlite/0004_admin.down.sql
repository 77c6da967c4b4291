DROP INDEX login_throttle_locked_idx;
