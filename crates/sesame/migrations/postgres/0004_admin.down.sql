DROP INDEX login_throttle_locked_idx;
DROP INDEX users_username_prefix_idx;
DROP INDEX users_email_prefix_idx;
