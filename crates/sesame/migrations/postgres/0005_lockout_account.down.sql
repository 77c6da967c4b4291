DROP INDEX login_throttle_account_idx;
ALTER TABLE login_throttle DROP COLUMN account_id;
