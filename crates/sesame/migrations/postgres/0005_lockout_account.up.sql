-- The account of an account's shared sign-in key (`user:<id>`), as an id of its own, so the
-- admin listing's `locked` filter reads a column instead of parsing the key's text.
ALTER TABLE login_throttle ADD COLUMN account_id UUID;
-- The one place the text is read back: rows written before this column existed.
UPDATE login_throttle SET account_id = CAST(substr(throttle_key, 6) AS uuid)
WHERE throttle_key LIKE 'user:%';
CREATE INDEX login_throttle_account_idx ON login_throttle (account_id, locked_until)
WHERE account_id IS NOT NULL;
