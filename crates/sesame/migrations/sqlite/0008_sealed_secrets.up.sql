-- Secrets at rest (issue 13): a signing key's private half is sealed under the application
-- encryption key; `key_id` names the key that sealed it. NULL marks a row written before
-- sealing existed (plaintext PKCS#8), which startup seals in place.
ALTER TABLE signing_keys ADD COLUMN key_id TEXT;
